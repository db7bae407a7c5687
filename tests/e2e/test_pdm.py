"""pdm installs from an Artifact Registry source with credentials from keyrings.gar."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from keyrings_gar.command.installer_settings import settings_text
from tests.e2e.installers import Installers, pipx_app
from tests.e2e.runs import (
    apply_doctors_pin,
    doctor_installer,
    doctors_pin,
    run_installer,
    secrets_written,
)
from tests.loopback.stack import JSON_KEY_BASE64, SERVICE_ACCOUNT_KEY, USER_ADC, LoopbackStack

pytestmark = pytest.mark.e2e


def pdm_project(home: Path, index_url: str) -> Path:
    """A project whose source is what `keyrings-gar settings pdm` prints: no credential in it."""
    project = home / "consumer"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        "[project]\n"
        'name = "consumer"\n'
        'version = "0.1.0"\n'
        'requires-python = ">=3.9"\n'
        'dependencies = ["acme-private"]\n\n'
        "[tool.pdm]\n"
        "distribution = false\n\n"
        f"{settings_text('pdm', index_url)}\n")
    return project


def pdm_install(installers: Installers, pdm: Path, stack: LoopbackStack, home: Path, *, path: list[Path],
                credential_environ: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`pdm install -v` in a fresh project under `home`: its result and the project."""
    project = pdm_project(home, stack.index_url())
    # The project's own venv, made beforehand and named in PDM_PYTHON: given any other interpreter
    # pdm installs into that interpreter's environment.
    venv = project / ".venv"
    run_installer([installers.uv, "venv", "--quiet", "--python", sys.executable, venv], {}, home)
    # PyPI stays one of pdm's sources unless PDM_PYPI_URL moves it: onto the repository, so that
    # nothing but the loopback registry is asked. No update check (it would ask PyPI).
    env = {**stack.environ(home, path), **credential_environ, "PDM_PYTHON": str(venv / "bin" / "python"),
           "PDM_CHECK_UPDATE": "false", "PDM_PYPI_URL": stack.index_url()}
    return run_installer([pdm, "install", "-v"], env, project), project


def run_pdm_install(installers: Installers, pdm: Path, stack: LoopbackStack, home: Path, *, path: list[Path],
                    credential_environ: dict[str, str]) -> None:
    result, project = pdm_install(installers, pdm, stack, home, path=path, credential_environ=credential_environ)
    output = result.stdout + result.stderr
    assert stack.leaked(output) == []
    assert result.returncode == 0, output[-4000:] + "\n".join(stack.registry.log)
    installed = sorted(p.name for p in (project / ".venv").glob("lib/python*/site-packages/acme_*.dist-info"))
    assert installed == ["acme_private-1.0.0.dist-info", "acme_util-1.2.0.dist-info"]
    lock = (project / "pdm.lock").read_text()
    assert "acme-private" in lock
    assert secrets_written(stack, home) == []


@pytest.mark.parametrize("kind", [SERVICE_ACCOUNT_KEY, JSON_KEY_BASE64])
def test_pdm_with_keyring_in_its_own_environment(
    pdm_with_plugin: Path, installers: Installers, stack: LoopbackStack, home: Path, kind: str
) -> None:
    """pdm (through unearth) asks `get_credential(source_url, None)` after the first 401."""
    credential = stack.credential(kind, home)
    run_pdm_install(installers, pdm_with_plugin, stack, home, path=[], credential_environ=credential.environ)
    assert stack.registry.anonymous >= 1, "pdm asks keyring only after a 401"
    assert set(stack.registry.logins) == {credential.username}
    assert set(stack.registry.identities) == {credential.identity}


@pytest.mark.parametrize("kind", [SERVICE_ACCOUNT_KEY, USER_ADC])
def test_pdm_with_only_the_keyring_command_on_path(
    pdm_alone: Path, installers: Installers, stack: LoopbackStack, home: Path, kind: str
) -> None:
    """Without keyring in its venv pdm runs `keyring --mode=creds get URL ""`: an empty username,
    which keyrings.gar must read as "none given" and answer with its own."""
    credential = stack.credential(kind, home)
    run_pdm_install(installers, pdm_alone, stack, home, path=[installers.keyring_bin],
                    credential_environ=credential.environ)
    assert set(stack.registry.logins) == {credential.username}
    assert set(stack.registry.identities) == {credential.identity}


def test_pdm_as_pipx_installs_it_crashes_until_doctors_pin_then_installs(
    installers: Installers, stack: LoopbackStack, home: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`pipx install pdm` resolves hishel 2, which pdm 2.26.3 to 2.29 crash on before asking keyring
    (`pipx inject pdm 'hishel<2'` is a no-op then). doctor must say so with the pin that works; after
    it, pdm installs. Should a pdm or hishel release end the crash, doctor must stay silent about it."""
    app = pipx_app(installers, tmp_path_factory.mktemp("pdm-as-users-get-it"), "pdm", "keyring", installers.plugin)
    hishel = subprocess.run([app.python, "-c", "import importlib.metadata as m; print(m.version('hishel'))"],
                            capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    installers.versions["hishel (as pdm gets it)"] = hishel
    credential = stack.credential(SERVICE_ACCOUNT_KEY, home / "first")
    crashed, _ = pdm_install(installers, app.command, stack, home / "first", path=[],
                             credential_environ=credential.environ)
    before = doctor_installer("pdm", app)
    if "SyncSqliteStorage" in crashed.stdout + crashed.stderr:
        assert crashed.returncode != 0
        assert f"hishel {hishel} in pdm's environment" in before, before
        assert doctors_pin(before) == ["pipx", "inject", "--force", "pdm", "hishel<2"], before
        apply_doctors_pin(app, before)
    else:
        assert crashed.returncode == 0, crashed.stdout + crashed.stderr
        assert "pdm crashes" not in before, before
    after = doctor_installer("pdm", app)
    assert "pdm crashes" not in after, after
    assert f"pdm {installers.versions['pdm']} loads keyring" in after, after
    credential = stack.credential(SERVICE_ACCOUNT_KEY, home / "second")
    run_pdm_install(installers, app.command, stack, home / "second", path=[], credential_environ=credential.environ)
