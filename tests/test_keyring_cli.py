"""The `keyring` command in a subprocess, as uv and pip's subprocess provider run it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import AR_HOST, AR_URL, Identities, console_script

KEYRING = console_script("keyring")


def _keyring(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KEYRING, *args], capture_output=True, text=True, timeout=60, env=dict(os.environ),
                          stdin=subprocess.DEVNULL, check=False)


def test_list_backends_shows_the_plugin(isolated: Path) -> None:
    result = _keyring("--list-backends")
    assert "keyrings_gar.backend.GarKeyring (priority: 9.5)" in result.stdout


@pytest.mark.parametrize("service", [AR_URL, "https://us-central1-python.pkg.dev"])
@pytest.mark.parametrize("username", ["oauth2accesstoken", "_token"])
def test_keyring_get_prints_a_live_token(
    google: Identities, monkeypatch: pytest.MonkeyPatch, service: str, username: str
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    result = _keyring("get", service, username)
    assert result.returncode == 0, result.stderr
    assert google.google.identity_of(result.stdout.strip()) == google.sa_key.email
    assert result.stderr == ""


@pytest.mark.parametrize("service", [AR_HOST, f"{AR_HOST}:443", f"http://{AR_HOST}/acme-prod/team-repo/simple/"])
@pytest.mark.parametrize("username", ["oauth2accesstoken", "_json_key_base64"])
def test_keyring_get_answers_nothing_that_could_travel_without_tls(
    google: Identities, monkeypatch: pytest.MonkeyPatch, service: str, username: str
) -> None:
    """pip and uv ask the bare host right after a refused http:// URL, and send its answer over
    that plain http: neither gets anything but an empty password (which stops keyring's chain
    before Google's plugin could answer), and nothing is minted."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", google.sa_key.base64)
    result = _keyring("get", service, username)
    assert (result.returncode, result.stdout) == (0, "\n")
    assert google.google.grants == []


def test_creds_mode_without_username_prints_username_and_token(
    google: Identities, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    result = _keyring("--mode", "creds", "get", "https://us-central1-python.pkg.dev")
    assert result.returncode == 0, result.stderr
    username, token = result.stdout.splitlines()
    assert username == "oauth2accesstoken"
    assert google.google.identity_of(token) == google.sa_key.email


def test_creds_mode_json_output_with_the_secret(google: Identities, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", google.sa_key.base64)
    result = _keyring("--mode=creds", "--output=json", "get", AR_URL)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"username": "_json_key_base64", "password": google.sa_key.base64}


def test_keyring_get_json_key_base64_prints_the_exact_secret(
    google: Identities, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", google.sa_key.base64.rstrip("=").replace("+", "-"))
    result = _keyring("get", AR_URL, "_json_key_base64")
    assert result.stdout.strip() == google.sa_key.base64


def test_other_hosts_get_nothing(google: Identities, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    result = _keyring("get", "https://pypi.org/simple/", "oauth2accesstoken")
    assert (result.returncode, result.stdout, result.stderr) == (1, "", "")
    assert google.google.grants == []


def test_no_credentials_exits_1_with_one_line_and_no_traceback(isolated: Path) -> None:
    result = _keyring("get", AR_URL, "oauth2accesstoken")
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("keyrings.gar: no Google credentials found")
    assert "Traceback" not in result.stderr


def test_the_bare_host_after_an_explained_url_failure_stays_quiet(isolated: Path) -> None:
    """Seen: on every credential failure pip and uv printed a second, 450-character line about the bare
    host, --find-links and `name @ https://…`. pip's subprocess provider asks the URL, then the bare
    host, each in a new `keyring` process: the second one must not explain what the user never asked."""
    url = _keyring("--mode=creds", "--output=json", "get", AR_URL)
    assert url.returncode == 1
    assert "no Google credentials found" in url.stderr
    bare = _keyring("--mode=creds", "--output=json", "get", AR_HOST)
    assert json.loads(bare.stdout) == {"username": "", "password": ""}  # still refused, chain still stopped
    assert bare.stderr == ""


def test_the_bare_host_asked_alone_is_explained(isolated: Path) -> None:
    """`--find-links` or `name @ https://…`: the bare host is what the user asked about."""
    bare = _keyring("--mode=creds", "--output=json", "get", AR_HOST)
    assert json.loads(bare.stdout) == {"username": "", "password": ""}
    assert "a bare host name carries no scheme" in bare.stderr
    assert "--extra-index-url" in bare.stderr


def test_a_broken_setting_still_fails_quietly_with_one_line(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYRINGS_GAR_TIMEOUT", "not-a-number")
    url = _keyring("--mode=creds", "--output=json", "get", AR_URL)
    assert url.returncode == 1
    assert "Traceback" not in url.stderr
    assert "KEYRINGS_GAR_TIMEOUT" in url.stderr
