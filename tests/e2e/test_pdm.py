"""pdm installs from an Artifact Registry source with credentials from keyrings.gar."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from keyrings_gar.command.installer_settings import settings_text
from tests.e2e.installers import Installers
from tests.e2e.runs import run_installer, secrets_written
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


def run_pdm_install(installers: Installers, pdm: Path, stack: LoopbackStack, home: Path, *, path: list[Path],
                    credential_environ: dict[str, str]) -> None:
    project = pdm_project(home, stack.index_url())
    # The project's own venv, made beforehand and named in PDM_PYTHON: given any other interpreter
    # pdm installs into that interpreter's environment.
    venv = project / ".venv"
    run_installer([installers.uv, "venv", "--quiet", "--python", sys.executable, venv], {}, home)
    # PyPI stays one of pdm's sources unless PDM_PYPI_URL moves it: onto the repository, so that
    # nothing but the loopback registry is asked. No update check (it would ask PyPI).
    env = {**stack.environ(home, path), **credential_environ, "PDM_PYTHON": str(venv / "bin" / "python"),
           "PDM_CHECK_UPDATE": "false", "PDM_PYPI_URL": stack.index_url()}
    result = run_installer([pdm, "install", "-v"], env, project)
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
