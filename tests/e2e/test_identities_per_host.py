"""Two repositories on one host with different identities, as docs/configuration.md and `doctor` describe them:
what real pip (both keyring providers) and uv send to each. `team-repo` is readable only by the
default identity (a service-account key), `legacy-repo` only by the identity its configuration entry
names (a user's ADC file); the registry answers 403 to anyone else's valid credential, as Artifact
Registry does. What these tests assert is what the installers were seen to do."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.e2e.installers import Installers
from tests.e2e.runs import run_installer
from tests.e2e.test_pip import pip_environ
from tests.loopback.stack import AR_HOST, GOOGLE_TOKEN_URI, PROJECT, SERVICE_ACCOUNT_KEY, LoopbackStack

pytestmark = pytest.mark.e2e

LEGACY = "legacy-repo"


def _two_identities(stack: LoopbackStack, home: Path) -> dict[str, str]:
    """The environment: the default identity from a key, legacy-repo's from the config's key_file."""
    credential = stack.credential(SERVICE_ACCOUNT_KEY, home)
    stack.registry.restrict([stack.sa_key.email])
    stack.registry.add_repository(LEGACY, readers=[stack.user.account])
    user_adc = home / "keys" / "legacy-user.json"
    user_adc.write_text(stack.user.adc_json(GOOGLE_TOKEN_URI))
    config = home / "keyrings-gar.cfg"
    config.write_text(f"[{AR_HOST}/{PROJECT}/{LEGACY}]\nkey_file = {user_adc}\n")
    return {**credential.environ, "KEYRINGS_GAR_CONFIG": str(config)}


def _identities_by_repository(stack: LoopbackStack) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for prefix, identity, _status in stack.registry.seen:
        seen.setdefault(prefix.rsplit("/", 1)[-1], set()).add(identity)
    return seen


def _legacy_url(username: str | None = None) -> str:
    return LoopbackStack.index_url(username).replace("/team-repo/", f"/{LEGACY}/")


@pytest.mark.parametrize("provider", ["import", "subprocess"])
def test_pip_sends_the_first_identity_it_got_for_the_host_to_the_other_repository(
    installers: Installers, stack: LoopbackStack, home: Path, provider: str
) -> None:
    """pip keeps the credential keyring gave for the first repository's URL per host, and sends it
    to the second repository without asking keyring for that one: legacy-repo sees the default
    identity (and answers 403), never its own."""
    environ = _two_identities(stack, home)
    python, path = ((installers.pip_with_plugin, []) if provider == "import"
                    else (installers.pip_alone, [installers.pip_alone_bin, installers.keyring_bin]))
    command: list[str | Path] = [python, "-m", "pip", "install", "--verbose", "--no-input", "--keyring-provider",
                                 provider, "--target", home / "target", "--index-url", stack.index_url(),
                                 "--extra-index-url", _legacy_url(), "acme-private"]
    result = run_installer(command, pip_environ(stack, home, path, environ), home)
    output = result.stdout + result.stderr
    assert stack.leaked(output) == []
    seen = _identities_by_repository(stack)
    assert seen.get(LEGACY) == {stack.sa_key.email}, (seen, output[-3000:])
    assert (stack.registry.prefix.rsplit("/", 1)[0] + f"/{LEGACY}", stack.sa_key.email, 403) in stack.registry.seen
    assert f"Getting credentials from keyring for {_legacy_url()}" not in result.stdout


def test_uv_asks_per_index_but_downloads_with_the_other_identity(
    installers: Installers, stack: LoopbackStack, home: Path
) -> None:
    """uv asks keyring per index URL, and each index page gets its own identity; a file download
    from legacy-repo may then go out with the default identity's token (403): uv keeps one
    credential per host, and which one a download gets depends on timing (uv 0.13.9 was seen
    sending acme-util's with the default identity in one run and legacy-repo's in the next)."""
    environ = _two_identities(stack, home)
    command: list[str | Path] = [installers.uv, "pip", "install", "--verbose", "--no-cache", "--python",
                                 sys.executable, "--target", home / "target", "--keyring-provider", "subprocess",
                                 "--index-url", stack.index_url("oauth2accesstoken"),
                                 "--extra-index-url", _legacy_url("oauth2accesstoken"),
                                 # Both indexes are read, as with any package found in both.
                                 "--index-strategy", "unsafe-best-match", "acme-private"]
    env = {**stack.environ(home, [installers.keyring_bin]), **environ, "UV_PYTHON_DOWNLOADS": "never"}
    result = run_installer(command, env, home)
    output = result.stdout + result.stderr
    assert stack.leaked(output) == []
    legacy = stack.registry.prefix.rsplit("/", 1)[0] + f"/{LEGACY}"
    assert f"GET {legacy}/simple/acme-private/ -> 200 oauth2accesstoken ({stack.user.account})" in stack.registry.log
    shown = "\n".join(f"{r.method} {r.path[:110]} -> {r.status} {r.identity}" for r in stack.registry.requests)
    files = [r for r in stack.registry.requests if r.path.startswith(f"{legacy}/acme-") and r.identity is not None]
    assert files, shown
    assert {r.identity for r in files} <= {stack.user.account, stack.sa_key.email}, shown
    # The default identity's token reaches legacy-repo's files only to be refused.
    assert all(r.status == 403 for r in files if r.identity == stack.sa_key.email), shown
