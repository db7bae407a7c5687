"""A file download follows Artifact Registry's 307 with the identity of its repository.

Artifact Registry answers a credentialed file GET with a 307 to a relative
`/artifacts-downloads/namespaces/P/repositories/R/downloads/OPAQUE` on the same host (uv#13037).
Here the default identity (a service-account key) cannot read `legacy-repo`, and a configuration
entry gives `legacy-repo` a user's identity: real pip (both keyring providers) and uv install from
it, and every request the stand-in sees, the redirected downloads included, must carry that user's
identity. Whether the redirected request needs the credential again is not known, so each test runs
under both answers (`VARIANTS`). What the tests record of each installer (does it ask keyring about
the redirected URL?) is what the installers were seen to do.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.installers import Installers
from tests.e2e.runs import run_installer
from tests.e2e.test_identities_per_host import LEGACY, _legacy_url, _two_identities
from tests.e2e.test_pip import pip_environ
from tests.loopback.registry import VARIANTS, Served
from tests.loopback.stack import PROJECT, LoopbackStack

pytestmark = pytest.mark.e2e

DOWNLOADS = f"/artifacts-downloads/namespaces/{PROJECT}/repositories/{LEGACY}/downloads/"
# The line in which pip (-vv) says its import provider asks keyring about a URL.
_ASKED = re.compile(r"Getting credentials from keyring for (\S+)")


def _logging_keyring(installers: Installers, home: Path) -> Path:
    """A folder with a `keyring` that writes its arguments (service and username, never a secret)
    to home/keyring-calls and runs the real one: what a subprocess provider asks, as it asks it."""
    folder = home / "logging-keyring"
    folder.mkdir()
    script = folder / "keyring"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {shlex.quote(str(home / "keyring-calls"))}\n'
                      f'exec {shlex.quote(str(installers.keyring_bin / "keyring"))} "$@"\n')
    script.chmod(0o755)
    return folder


def _lookups(home: Path, output: str) -> list[str]:
    """Every service keyring was asked about: the subprocess calls, or pip's import-provider lines."""
    calls = home / "keyring-calls"
    if calls.exists():
        return [word for line in calls.read_text().splitlines() for word in line.split() if "://" in word]
    return _ASKED.findall(output)


def _command(installers: Installers, stack: LoopbackStack, home: Path, installer: str,
             environ: dict[str, str]) -> tuple[list[str | Path], dict[str, str]]:
    target = home / "target"
    if installer == "uv":
        command: list[str | Path] = [installers.uv, "pip", "install", "--verbose", "--no-cache", "--python",
                                     sys.executable, "--target", target, "--keyring-provider", "subprocess",
                                     "--index-url", _legacy_url("oauth2accesstoken"), "acme-private"]
        return command, {**stack.environ(home, [_logging_keyring(installers, home)]), **environ,
                         "UV_PYTHON_DOWNLOADS": "never"}
    provider = installer.removeprefix("pip-")
    python, path = ((installers.pip_with_plugin, []) if provider == "import"
                    else (installers.pip_alone, [installers.pip_alone_bin, _logging_keyring(installers, home)]))
    command = [python, "-m", "pip", "install", "-vv", "--no-input", "--keyring-provider", provider,
               "--target", target, "--index-url", _legacy_url(), "acme-private"]
    return command, pip_environ(stack, home, path, environ)


@pytest.mark.parametrize("stack", sorted(VARIANTS), indirect=True)
@pytest.mark.parametrize("installer", ["pip-import", "pip-subprocess", "uv"])
def test_the_redirected_download_carries_its_repository_s_identity(
    installers: Installers, stack: LoopbackStack, home: Path, installer: str
) -> None:
    environ = _two_identities(stack, home)
    command, env = _command(installers, stack, home, installer, environ)
    result = run_installer(command, env, home)
    output = result.stdout + result.stderr
    assert stack.leaked(output) == []
    requests: list[Served] = list(stack.registry.requests)
    shown = "\n".join(f"{r.method} {r.path[:120]} -> {r.status} {r.identity}" for r in requests)
    assert result.returncode == 0, f"{output[-4000:]}\nregistry:\n{shown}"
    imported = subprocess.run([sys.executable, "-c", "import acme_private; print(acme_private.MESSAGE)"],
                              env={"PYTHONPATH": str(home / "target")}, capture_output=True, text=True, timeout=60,
                              check=False)
    assert imported.stdout.strip() == "hello from a private package", imported.stderr
    # Two files (acme-private and acme-util), each a 307 and then its download.
    redirects = [r for r in requests if r.status == 307]
    downloads = [r for r in requests if r.path.startswith(DOWNLOADS) and r.status == 200]
    assert len(redirects) >= 2, shown
    assert len(downloads) >= 2, shown
    # Every credential the registry saw, the downloads' included, was legacy-repo's own identity.
    assert {r.identity for r in requests if r.identity is not None} == {stack.user.account}, shown
    if stack.registry.unknowns.download_needs_credential:
        assert all(r.identity == stack.user.account for r in downloads), shown
    # What each installer was seen to do with the redirected URL (pip 26.3, uv 0.13.9): none asks
    # keyring about it. pip sends the credential it already had (requests keeps the Authorization
    # header over a same-host redirect); uv sends the redirected request without one first and,
    # when refused, again with the credential it holds for the host.
    anonymous = [r for r in requests if r.path.startswith(DOWNLOADS) and r.identity is None]
    if installer == "uv":
        assert len(anonymous) >= 2, shown
    else:
        assert anonymous == [], shown
    lookups = _lookups(home, output)
    assert any(f"/{LEGACY}/simple/" in url for url in lookups), output[-3000:]  # the index URL was asked
    asked = [url[:120] for url in lookups if "artifacts-downloads" in url]
    assert asked == [], asked[:3]
