"""What a lookup costs before it answers: which modules it imports, and what it asks only once.

Installers start a `keyring` process per index, realm and retry, and pip's import provider asks
again for every request: a lookup that is not ours, or one answered from the token cache, must
not pay for google-auth, requests or their dependencies. These are properties (which modules are
loaded, how often a check runs), never timings.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from keyrings_gar import backend
from tests.conftest import AR_URL, Identities, console_script

# Never loaded by a lookup we answer from the cache, nor by one for another host: google-auth
# and requests, and what they bring (urllib3 and charset_normalizer come with requests; rsa,
# pyasn1 and cachetools with google-auth).
NEVER_LOADED = ("google.auth", "google.oauth2", "requests", "urllib3", "charset_normalizer", "rsa", "pyasn1",
                "cachetools")
# keyring's own SecretService backend loads cryptography (through secretstorage) while looking
# for backends; the lookup itself must not.
NOT_LOADED_BY_THE_LOOKUP = (*NEVER_LOADED, "cryptography", "jwt")
TOKEN_MACHINERY = ("keyrings_gar.cache", "keyrings_gar.mint", "keyrings_gar.sources", "keyrings_gar.adcfile",
                   "keyrings_gar.search", "keyrings_gar.secret", "keyrings_gar.config_entries",
                   "keyrings_gar.lookup")
# The layout's promise: what runs inside every installer sits at the top of the package, and what
# only serves the `keyrings-gar` command sits in its own subpackage that no lookup reaches.
COMMAND_ONLY = ("keyrings_gar.command",)
# And what runs only after a cache miss (minting: google-auth, STS, IAM, subject tokens, gcloud's
# run) sits in a subpackage of its own that a lookup answered without minting never reaches.
MINTING = ("keyrings_gar.mint",)

# keyring as an installer runs it: every plugin loaded, then one lookup.
_PROBE = """
import json, sys
import keyring.backend
keyring.backend.get_all_keyring()
loaded_with_plugins = set(sys.modules)
answer = keyring.get_password(sys.argv[1], sys.argv[2])
print(json.dumps({"answer": answer, "after_plugins": sorted(loaded_with_plugins), "after_lookup": sorted(sys.modules)}))
"""


def _lookup_in_a_fresh_process(service: str, username: str) -> tuple[str | None, set[str], set[str]]:
    result = subprocess.run([sys.executable, "-c", _PROBE, service, username], capture_output=True, text=True,
                            timeout=60, env=dict(os.environ), stdin=subprocess.DEVNULL, check=False)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    plugins = set(found["after_plugins"])
    assert "keyrings_gar.backend" in plugins
    return found["answer"], plugins, set(found["after_lookup"])


def _loaded(packages: tuple[str, ...], modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in packages))


def test_lookup_for_another_host_imports_nothing_heavy(google: Identities, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    answer, with_plugins, after = _lookup_in_a_fresh_process("https://pypi.org/simple/", "oauth2accesstoken")
    assert answer is None
    assert _loaded(NEVER_LOADED, after) == []
    assert _loaded(NOT_LOADED_BY_THE_LOOKUP, after - with_plugins) == []
    # None of the token machinery either, at import or in the lookup: only what decides "not ours".
    assert _loaded(TOKEN_MACHINERY, after) == []


@pytest.mark.parametrize("credentials", ["key file", "json key secret"])
def test_warm_lookup_answers_from_the_cache_without_importing_google_auth(
    google: Identities, monkeypatch: pytest.MonkeyPatch, credentials: str
) -> None:
    if credentials == "key file":
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    else:
        monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", google.sa_key.base64)
    cold = subprocess.run([console_script("keyring"), "get", AR_URL, "oauth2accesstoken"],
                          capture_output=True, text=True, timeout=60, env=dict(os.environ),
                          stdin=subprocess.DEVNULL, check=False)
    assert google.google.identity_of(cold.stdout.strip()) == google.sa_key.email, cold.stderr
    assert len(google.google.grants) == 1

    answer, with_plugins, after = _lookup_in_a_fresh_process(AR_URL, "oauth2accesstoken")
    assert answer == cold.stdout.strip()
    assert len(google.google.grants) == 1
    assert _loaded(NEVER_LOADED, after) == []
    assert _loaded(NOT_LOADED_BY_THE_LOOKUP, after - with_plugins) == []
    assert _loaded(MINTING, after) == []


def test_a_pre_minted_token_imports_nothing_of_minting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYRINGS_GAR_ACCESS_TOKEN", "ya29.pre-minted-token")
    answer, _, after = _lookup_in_a_fresh_process(AR_URL, "oauth2accesstoken")
    assert answer == "ya29.pre-minted-token"
    assert _loaded((*MINTING, *NEVER_LOADED, "keyrings_gar.cache", "keyrings_gar.failures", "keyrings_gar.gcloud",
                    "keyrings_gar.programs"), after) == []


@pytest.mark.parametrize("lookup", ["another host", "no credentials", "minted"])
def test_a_lookup_never_imports_the_command(google: Identities, monkeypatch: pytest.MonkeyPatch, lookup: str) -> None:
    if lookup != "no credentials":
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    service = "https://pypi.org/simple/" if lookup == "another host" else AR_URL
    answer, _, after = _lookup_in_a_fresh_process(service, "oauth2accesstoken")
    assert (answer is not None) == (lookup == "minted")
    assert _loaded(COMMAND_ONLY, after) == []
    # The probe sees minting when a lookup mints: the assertions above can fail.
    assert bool(_loaded(MINTING, after)) == (lookup != "another host")


def test_viability_is_checked_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # keyring's chainer reads every backend's priority on every lookup; looking for google-auth
    # on sys.path each time would be repeated work in pip's import provider.
    calls: list[str] = []
    real_find_spec = importlib.util.find_spec

    def counting_find_spec(name: str, package: str | None = None) -> object:
        calls.append(name)
        return real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", counting_find_spec)
    backend.google_auth_installed.cache_clear()
    try:
        priorities = {backend.GarKeyring.priority for _ in range(5)}
        assert priorities == {9.5}
        assert calls == ["google.auth"]
    finally:
        backend.google_auth_installed.cache_clear()


def test_not_viable_without_google_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    def google_auth_missing(name: str, package: str | None = None) -> object:
        return None if name.startswith("google") else real_find_spec(name, package)

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", google_auth_missing)
    backend.google_auth_installed.cache_clear()
    try:
        assert not backend.GarKeyring.viable
    finally:
        backend.google_auth_installed.cache_clear()
