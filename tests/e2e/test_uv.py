"""uv installs from Artifact Registry through keyrings.gar (uv runs the `keyring` on PATH)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.e2e.installers import Installers
from tests.e2e.runs import assert_installed, run_installer
from tests.loopback.registry import DOWNLOADS_PREFIX
from tests.loopback.stack import CREDENTIAL_KINDS, LoopbackStack

pytestmark = pytest.mark.e2e


def uv_install(uv: Path, target: Path, *options: str) -> list[str | Path]:
    return [uv, "pip", "install", "--verbose", "--no-cache", "--python", sys.executable, "--target", target,
            *options, "acme-private"]


def uv_environ(stack: LoopbackStack, home: Path, installers: Installers, credential_environ: dict[str, str]
               ) -> dict[str, str]:
    return {**stack.environ(home, [installers.keyring_bin]), **credential_environ, "UV_PYTHON_DOWNLOADS": "never"}


@pytest.mark.parametrize("kind", CREDENTIAL_KINDS)
def test_uv_subprocess_provider_with_the_username_in_the_url(
    installers: Installers, stack: LoopbackStack, home: Path, kind: str
) -> None:
    credential = stack.credential(kind, home)
    command = uv_install(installers.uv, home / "target", "--keyring-provider", "subprocess",
                         "--index-url", stack.index_url(credential.username))
    result = run_installer(command, uv_environ(stack, home, installers, credential.environ), home)
    assert_installed(result, stack, home / "target", credential)


@pytest.mark.parametrize("kind", CREDENTIAL_KINDS)
def test_uv_authenticate_always_needs_no_username_anywhere(
    installers: Installers, stack: LoopbackStack, home: Path, kind: str
) -> None:
    """With `authenticate = "always"` uv asks `keyring get URL --mode creds` before its first
    request, and keyrings.gar names the username too."""
    credential = stack.credential(kind, home)
    project = home / "project"
    project.mkdir()
    (project / "uv.toml").write_text(
        'keyring-provider = "subprocess"\n\n'
        "[[index]]\n"
        'name = "team-repo"\n'
        f'url = "{stack.index_url()}"\n'
        'authenticate = "always"\n'
        "default = true\n")
    result = run_installer(uv_install(installers.uv, home / "target"),
                           uv_environ(stack, home, installers, credential.environ), project)
    assert_installed(result, stack, home / "target", credential)
    # uv asks keyring before its first request; only the download a file's 307 leads to goes out
    # without a credential first (it is outside the index URL), then with it after a 401.
    anonymous = [r.path for r in stack.registry.requests if r.identity is None]
    assert all(path.startswith(DOWNLOADS_PREFIX) for path in anonymous), "uv sent a request before asking keyring"
