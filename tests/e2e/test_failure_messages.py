"""What each installer really prints when keyrings.gar has no credential for it (401) or the identity
may not read or write the repository (403): the troubleshooting list is keyed by these messages,
so each is checked here against the real installer and the loopback registry."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.installers import Installers
from tests.e2e.runs import pdm_venv, run_installer
from tests.loopback.stack import SERVICE_ACCOUNT_KEY, LoopbackStack
from tests.loopback.wheels import build_wheel

pytestmark = pytest.mark.e2e

NO_CREDENTIALS, NO_ACCESS = "no credentials", "no access"
_BARE_HOST_LINE = "a bare host name carries no scheme"
RECORD = os.environ.get("KEYRINGS_GAR_RECORD_FAILURES")
"""A folder to write each installer's whole output to, for whoever updates the troubleshooting list."""


def _setup(stack: LoopbackStack, home: Path, failure: str) -> dict[str, str]:
    if failure == NO_ACCESS:
        stack.registry.grant("someone-else@example.com", "writer")
        return stack.credential(SERVICE_ACCOUNT_KEY, home).environ
    return {}


def _project(home: Path, tail: str) -> Path:
    project = home / "consumer"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "consumer"\nversion = "0.1.0"\nrequires-python = ">=3.9"\n'
        f'dependencies = ["acme-private"]\n\n{tail}')
    return project


NO_CREDENTIALS_LINE = "keyrings.gar: no Google credentials found: run `gcloud auth application-default login`"


def _output(name: str, failure: str, result: subprocess.CompletedProcess[str], stack: LoopbackStack) -> str:
    """The installer's whole output with colours removed and lines unwrapped (twine wraps to the
    terminal), after the checks every failure must pass: non-zero exit, no secret printed."""
    output = result.stdout + result.stderr
    assert stack.leaked(output) == []
    assert result.returncode != 0, output[-3000:]
    if RECORD:
        Path(RECORD).mkdir(parents=True, exist_ok=True)
        (Path(RECORD) / f"{name}-{failure.replace(' ', '-')}.txt").write_text(output)
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", output).split())


@pytest.mark.parametrize("failure", [NO_CREDENTIALS, NO_ACCESS])
@pytest.mark.parametrize("provider", ["subprocess", "import"])
def test_pip(installers: Installers, stack: LoopbackStack, home: Path, failure: str, provider: str) -> None:
    environ = _setup(stack, home, failure)
    env = {**stack.environ(home, [installers.keyring_bin]), **environ, "PIP_CONFIG_FILE": os.devnull,
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip = installers.pip_alone if provider == "subprocess" else installers.pip_with_plugin
    result = run_installer([pip, "-m", "pip", "install", "--no-input", "--keyring-provider", provider,
                            "--target", home / "target", "--index-url", stack.index_url(), "acme-private"], env, home)
    output = _output(f"pip-{provider}", failure, result, stack)
    assert _BARE_HOST_LINE not in output  # seen with each failure before: the bare host is not what was asked
    # 401 and 403 alike: nothing names the cause. Only the import provider shows keyrings.gar's line.
    assert "ERROR: Could not find a version that satisfies the requirement acme-private (from versions: none)" in (
        output)
    assert (NO_CREDENTIALS_LINE in output) == (provider == "import" and failure == NO_CREDENTIALS)


@pytest.mark.parametrize("failure", [NO_CREDENTIALS, NO_ACCESS])
def test_uv(installers: Installers, stack: LoopbackStack, home: Path, failure: str) -> None:
    environ = _setup(stack, home, failure)
    env = {**stack.environ(home, [installers.keyring_bin]), **environ, "UV_PYTHON_DOWNLOADS": "never"}
    result = run_installer([installers.uv, "pip", "install", "--no-cache", "--python", sys.executable, "--target",
                            home / "target", "--keyring-provider", "subprocess", "--index-url",
                            stack.index_url("oauth2accesstoken"), "acme-private"], env, home)
    output = _output("uv", failure, result, stack)
    assert _BARE_HOST_LINE not in output
    if failure == NO_CREDENTIALS:
        assert NO_CREDENTIALS_LINE in output
        assert (f"hint: An index URL ({stack.index_url()}) could not be queried due to a lack of valid "
                "authentication credentials (401 Unauthorized)") in output
    else:
        assert f"hint: An index ({stack.index_url()}) returned a 403 Forbidden error." in output


@pytest.mark.parametrize("failure", [NO_CREDENTIALS, NO_ACCESS])
def test_poetry(installers: Installers, stack: LoopbackStack, home: Path, failure: str) -> None:
    environ = _setup(stack, home, failure)
    project = _project(home, '[tool.poetry]\npackage-mode = false\n\n[[tool.poetry.source]]\nname = "team-repo"\n'
                             f'url = "{stack.index_url()}"\npriority = "primary"\n')
    env = {**stack.environ(home), **environ, "POETRY_VIRTUALENVS_IN_PROJECT": "true",
           "POETRY_VIRTUALENVS_USE_POETRY_PYTHON": "true"}
    result = run_installer([installers.poetry, "install", "--no-interaction"], env, project)
    output = _output("poetry", failure, result, stack)
    # 401 and 403 alike, and without keyrings.gar's line.
    assert f"Source (team-repo): Authorization error accessing {stack.index_url()}acme-private/" in output


@pytest.mark.parametrize("failure", [NO_CREDENTIALS, NO_ACCESS])
def test_pdm(installers: Installers, pdm_with_plugin: Path, stack: LoopbackStack, home: Path, failure: str) -> None:
    from keyrings_gar.command.installer_settings import settings_text

    environ = _setup(stack, home, failure)
    project = _project(home, f"[tool.pdm]\ndistribution = false\n\n{settings_text('pdm', stack.index_url())}\n")
    env = {**stack.environ(home), **environ, **pdm_venv(installers, project), "PDM_PYPI_URL": stack.index_url()}
    result = run_installer([pdm_with_plugin, "install"], env, project)
    output = _output("pdm", failure, result, stack)
    # 401 and 403 alike: no "Authorization error"; only the 401 shows keyrings.gar's line first.
    assert ("[CandidateNotFound]: Unable to find candidates for acme-private. There may exist some issues with "
            "the package name or network condition.") in output
    assert (NO_CREDENTIALS_LINE in output) == (failure == NO_CREDENTIALS)


@pytest.mark.parametrize("failure", [NO_CREDENTIALS, NO_ACCESS])
def test_twine(installers: Installers, stack: LoopbackStack, home: Path, failure: str) -> None:
    environ = _setup(stack, home, failure)
    if failure == NO_ACCESS:
        stack.registry.grant(stack.sa_key.email, "reader")  # may read, may not write
    wheel = build_wheel("acme-uploaded", "0.1.0", {"acme_uploaded/__init__.py": "VERSION = '0.1.0'\n"})
    dist = home / "dist" / wheel.filename
    dist.parent.mkdir()
    dist.write_bytes(wheel.content)
    result = run_installer([installers.twine, "upload", "--non-interactive", "--disable-progress-bar",
                            "--repository-url", stack.upload_url(), dist], {**stack.environ(home), **environ}, home)
    output = _output("twine", failure, result, stack)
    if failure == NO_CREDENTIALS:
        assert f"WARNING {NO_CREDENTIALS_LINE}" in output
        assert "ERROR NonInteractive: Credential not found for username." in output
    else:
        assert f"ERROR HTTPError: 403 Forbidden from {stack.upload_url()} Forbidden" in output
