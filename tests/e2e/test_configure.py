"""`keyrings-gar configure TOOL URL` then the plain command, with no extra flag: each real tool reads
what configure wrote (in a fresh HOME and project) and installs from, or uploads to, the loopback
registry. configure asks the loopback Artifact Registry API for the repository's mode: the installers
are configured for a virtual repository (the only index, so nothing is asked of PyPI), twine for the
standard one behind it. A second configure changes nothing; a config that was there keeps its entries
and comments.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.installers import Installers
from tests.e2e.runs import pdm_venv, run_installer, secrets_written
from tests.loopback.registry import VIRTUAL
from tests.loopback.stack import REPOSITORY, SERVICE_ACCOUNT_KEY, Credential, LoopbackStack
from tests.loopback.wheels import build_wheel

pytestmark = pytest.mark.e2e

PROJECT = ('[project]\nname = "consumer"\nversion = "0.1.0"\nrequires-python = ">=3.9"\ndependencies = []\n\n'
           "# the team's own settings\n")


PYPI_TOKEN = "pypi-AgEIcHlwaS5vcmcCJGE0ZjFkZmQ3LTk5NzQtNDdjNy1hYzFjLTk5ZjM2ZmI3ZDU2ZgACKlszLCJ"


VIRTUAL_NAME = "all-python"
VIRTUAL_URL = LoopbackStack.index_url().replace(f"/{REPOSITORY}/", f"/{VIRTUAL_NAME}/")


def virtual_repository(stack: LoopbackStack) -> str:
    """A virtual repository in front of the team's standard one, as the installers' index."""
    stack.registry.add_repository(VIRTUAL_NAME, mode=VIRTUAL, upstreams=[REPOSITORY])
    return VIRTUAL_URL


def configure(installers: Installers, env: dict[str, str], cwd: Path, tool: str, url: str
              ) -> subprocess.CompletedProcess[str]:
    """The `keyrings-gar` installed from the wheel beside keyring, as users get it with pipx."""
    command = installers.pip_with_plugin.with_name("keyrings-gar")
    result = run_installer([command, "configure", tool, url], env, cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def configure_twice(installers: Installers, env: dict[str, str], cwd: Path, tool: str, written: Path, *,
                    url: str = VIRTUAL_URL) -> None:
    """Configure, then again: the second run says so and leaves the file byte for byte. The kind
    comes from the API's answer for `url`, and is said."""
    first = configure(installers, env, cwd, tool, url)
    kind = "a virtual repository (the Artifact Registry API says so): the only index" if url == VIRTUAL_URL else \
        "a standard repository (the Artifact Registry API says so)"
    assert kind in first.stdout, first.stdout
    assert "changed" in first.stdout, first.stdout
    assert "warning" not in first.stdout, first.stdout  # the tool reaches the plugin
    content = written.read_bytes()
    second = configure(installers, env, cwd, tool, url)
    assert "nothing to change" in second.stdout, second.stdout
    assert "changed" not in second.stdout, second.stdout
    assert written.read_bytes() == content


def assert_only(stack: LoopbackStack, credential: Credential, output: str, returncode: int) -> None:
    assert stack.leaked(output) == []
    assert returncode == 0, output[-4000:] + "\nregistry:\n" + "\n".join(stack.registry.log)
    assert set(stack.registry.logins) == {credential.username}
    assert set(stack.registry.identities) == {credential.identity}


def installed(venv: Path) -> list[str]:
    return sorted(p.name for p in venv.glob("lib/python*/site-packages/acme_*.dist-info"))


def test_configure_pip_then_pip_install(installers: Installers, stack: LoopbackStack, home: Path) -> None:
    """pip reads the user's pip.conf (no PIP_CONFIG_FILE) and runs the `keyring` on PATH."""
    virtual_repository(stack)
    credential = stack.credential(SERVICE_ACCOUNT_KEY, home)
    env = {**stack.environ(home, [installers.keyring_bin]), **credential.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    other_index = home / "other-index"
    other_index.mkdir()
    pip_conf = home / ".config" / "pip" / "pip.conf"
    pip_conf.parent.mkdir(parents=True)
    existing = f"# my pip settings\n[global]\n; a local index of our own\nextra-index-url = {other_index.as_uri()}\n"
    pip_conf.write_text(existing)
    configure_twice(installers, env, home, "pip", pip_conf)
    assert pip_conf.read_text().startswith(existing.rstrip("\n"))

    result = run_installer([installers.pip_alone, "-m", "pip", "install", "--target", home / "target",
                            "acme-private"], env, home)
    assert_only(stack, credential, result.stdout + result.stderr, result.returncode)
    assert sorted(p.name for p in (home / "target").glob("acme_*.dist-info")) == [
        "acme_private-1.0.0.dist-info", "acme_util-1.2.0.dist-info"]
    assert secrets_written(stack, home) == []


def test_configure_uv_then_uv_add(installers: Installers, stack: LoopbackStack, home: Path) -> None:
    virtual_repository(stack)
    credential = stack.credential(SERVICE_ACCOUNT_KEY, home)
    env = {**stack.environ(home, [installers.keyring_bin]), **credential.environ, "UV_PYTHON": sys.executable,
           "UV_PYTHON_DOWNLOADS": "never"}
    project = home / "consumer"
    project.mkdir()
    existing = (PROJECT + "[[tool.uv.index]]\n# pinned packages only, never asked for acme-private\n"
                'name = "elsewhere"\nurl = "https://elsewhere.example/simple/"\nexplicit = true\n')
    (project / "pyproject.toml").write_text(existing)
    configure_twice(installers, env, project, "uv", project / "pyproject.toml")
    assert (project / "pyproject.toml").read_text().startswith(existing)

    result = run_installer([installers.uv, "add", "acme-private"], env, project)
    assert_only(stack, credential, result.stdout + result.stderr, result.returncode)
    assert installed(project / ".venv") == ["acme_private-1.0.0.dist-info", "acme_util-1.2.0.dist-info"]
    assert secrets_written(stack, home) == []


def test_configure_poetry_then_poetry_add(installers: Installers, stack: LoopbackStack, home: Path) -> None:
    """configure writes what `poetry source add` and `poetry config` would (poetry is never run), and
    real poetry reads both: the source from pyproject.toml, the upload URL from its config.toml."""
    virtual_repository(stack)
    credential = stack.credential(SERVICE_ACCOUNT_KEY, home)
    # The project's venv from the python poetry runs on, not whichever python3 is first on PATH.
    env = {**stack.environ(home, [installers.poetry.parent]), **credential.environ,
           "POETRY_VIRTUALENVS_IN_PROJECT": "true", "POETRY_VIRTUALENVS_USE_POETRY_PYTHON": "true"}
    project = home / "consumer"
    project.mkdir()
    existing = PROJECT + "[tool.poetry]\npackage-mode = false\n"
    (project / "pyproject.toml").write_text(existing)
    configure_twice(installers, env, project, "poetry", project / "pyproject.toml")
    # The virtual repository takes no uploads; the standard one behind it gets poetry's publish URL.
    configure_twice(installers, env, project, "poetry", project / "pyproject.toml", url=LoopbackStack.index_url())
    assert "# the team's own settings" in (project / "pyproject.toml").read_text()
    shown = run_installer([installers.poetry, "config", "repositories.team-repo.url"], env, project)
    assert shown.stdout.strip() == LoopbackStack.upload_url(), shown.stdout + shown.stderr

    result = run_installer([installers.poetry, "add", "--no-interaction", "acme-private"], env, project)
    assert_only(stack, credential, result.stdout + result.stderr, result.returncode)
    assert installed(project / ".venv") == ["acme_private-1.0.0.dist-info", "acme_util-1.2.0.dist-info"]
    assert secrets_written(stack, home) == []


def test_configure_pdm_then_pdm_add(pdm_with_plugin: Path, installers: Installers, stack: LoopbackStack,
                                    home: Path) -> None:
    """The virtual repository's source is named pypi, so no PDM_PYPI_URL is needed to keep PyPI out."""
    virtual_repository(stack)
    credential = stack.credential(SERVICE_ACCOUNT_KEY, home)
    project = home / "consumer"
    project.mkdir()
    existing = PROJECT + "[tool.pdm]\ndistribution = false\n"
    (project / "pyproject.toml").write_text(existing)
    env = {**stack.environ(home, [pdm_with_plugin.parent]), **credential.environ, **pdm_venv(installers, project)}
    configure_twice(installers, env, project, "pdm", project / "pyproject.toml")
    assert (project / "pyproject.toml").read_text().startswith(existing)

    result = run_installer([pdm_with_plugin, "add", "acme-private"], env, project)
    assert_only(stack, credential, result.stdout + result.stderr, result.returncode)
    assert installed(project / ".venv") == ["acme_private-1.0.0.dist-info", "acme_util-1.2.0.dist-info"]
    assert secrets_written(stack, home) == []


def test_configure_twine_then_twine_upload_by_name(installers: Installers, stack: LoopbackStack, home: Path) -> None:
    credential = stack.credential(SERVICE_ACCOUNT_KEY, home)
    env = {**stack.environ(home, [installers.twine.parent]), **credential.environ}
    pypirc = home / ".pypirc"
    existing = ("[distutils]\nindex-servers =\n    pypi\n\n"
                f"# PyPI with its token\n[pypi]\nusername = __token__\npassword = {PYPI_TOKEN}\n")
    pypirc.write_text(existing)
    # Merged into [pypi], `twine upload` sent the PyPI token to Artifact Registry (twine 7.0.0).
    command = installers.pip_with_plugin.with_name("keyrings-gar")
    refused = run_installer([command, "configure", "twine", LoopbackStack.index_url(), "--name", "pypi"], env, home)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "would take twine's own [pypi] section" in refused.stderr
    assert pypirc.read_text() == existing
    configure_twice(installers, env, home, "twine", pypirc, url=LoopbackStack.index_url())
    assert f"# PyPI with its token\n[pypi]\nusername = __token__\npassword = {PYPI_TOKEN}\n" in pypirc.read_text()

    wheel = build_wheel("acme-uploaded", "0.1.0", {"acme_uploaded/__init__.py": "VERSION = '0.1.0'\n"})
    dist = home / "dist" / wheel.filename
    dist.parent.mkdir()
    dist.write_bytes(wheel.content)
    result = run_installer([installers.twine, "upload", "--non-interactive", "-r", "team-repo", dist], env, home)
    assert_only(stack, credential, result.stdout + result.stderr, result.returncode)
    assert stack.registry.uploads == [(wheel.filename, credential.identity)]
    assert stack.registry.refused == []  # the PyPI token never reached the registry
    assert PYPI_TOKEN[-12:] not in result.stdout + result.stderr
    assert secrets_written(stack, home) == []
