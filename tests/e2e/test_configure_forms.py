"""`configure` merges into the forms users really write, and the real installer reads the result:
uv and pdm with an inline array of tables (`index = [{...}]`, `source = [{...}]`, what a user
reported configure broke), in a file with CRLF line endings."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.e2e.installers import Installers
from tests.e2e.runs import pdm_venv, run_installer, secrets_written
from tests.e2e.test_configure import PROJECT, assert_only, configure_twice, installed, virtual_repository
from tests.loopback.stack import SERVICE_ACCOUNT_KEY, LoopbackStack

pytestmark = pytest.mark.e2e


def _crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def test_configure_uv_into_an_inline_array_in_a_crlf_file_then_uv_add(installers: Installers, stack: LoopbackStack,
                                                                       home: Path) -> None:
    virtual_repository(stack)  # configure asks the API for its mode: the virtual one is the only index
    credential = stack.credential(SERVICE_ACCOUNT_KEY, home)
    env = {**stack.environ(home, [installers.keyring_bin]), **credential.environ, "UV_PYTHON": sys.executable,
           "UV_PYTHON_DOWNLOADS": "never"}
    project = home / "consumer"
    project.mkdir()
    existing = _crlf(PROJECT + '[tool.uv]\nindex = [{ name = "elsewhere", url = "https://elsewhere.example/simple/", '
                               "explicit = true }]\n")
    (project / "pyproject.toml").write_bytes(existing)
    configure_twice(installers, env, project, "uv", project / "pyproject.toml")
    written = (project / "pyproject.toml").read_bytes()
    assert b"\n" not in written.replace(b"\r\n", b"")
    assert b'index = [{ name = "elsewhere", url = "https://elsewhere.example/simple/", explicit = true }, {' in written

    result = run_installer([installers.uv, "add", "acme-private"], env, project)
    assert_only(stack, credential, result.stdout + result.stderr, result.returncode)
    assert installed(project / ".venv") == ["acme_private-1.0.0.dist-info", "acme_util-1.2.0.dist-info"]
    assert secrets_written(stack, home) == []


def test_configure_pdm_into_an_inline_array_then_pdm_add(pdm_with_plugin: Path, installers: Installers,
                                                         stack: LoopbackStack, home: Path) -> None:
    virtual_repository(stack)  # configure asks the API for its mode: the virtual one is the only index
    credential = stack.credential(SERVICE_ACCOUNT_KEY, home)
    project = home / "consumer"
    project.mkdir()
    existing = PROJECT + "[tool.pdm]\ndistribution = false\nsource = [\n]\n"
    (project / "pyproject.toml").write_text(existing)
    env = {**stack.environ(home, [pdm_with_plugin.parent]), **credential.environ, **pdm_venv(installers, project)}
    configure_twice(installers, env, project, "pdm", project / "pyproject.toml")
    assert "source = [\n" in (project / "pyproject.toml").read_text()

    result = run_installer([pdm_with_plugin, "add", "acme-private"], env, project)
    assert_only(stack, credential, result.stdout + result.stderr, result.returncode)
    assert installed(project / ".venv") == ["acme_private-1.0.0.dist-info", "acme_util-1.2.0.dist-info"]
    assert secrets_written(stack, home) == []
