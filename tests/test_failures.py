"""Failure memory: a source that just failed answers at once, the same way, for a short while."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from keyrings_gar import cache, errors, failures
from keyrings_gar.backend import GarKeyring
from keyrings_gar.command import cli
from keyrings_gar.config import cache_dir
from tests.conftest import AR_HOST, AR_URL, Identities, assert_no_secrets, console_script, use_metadata_server
from tests.loopback.gcloud import FakeGcloud

KEYRING = console_script("keyring")
# Another repository on the same host: the same default identity, so the same token source. (The
# bare host, pip's and uv's second question, is never ours and costs nothing.)
OTHER_REPO_URL = f"https://{AR_HOST}/acme-prod/other-repo/simple/"
NO_METADATA = "metadata request without Metadata-Flavor, or no metadata server"


@pytest.fixture
def backend() -> GarKeyring:
    return GarKeyring()


@pytest.fixture
def no_credentials(google: Identities, monkeypatch: pytest.MonkeyPatch) -> Identities:
    """Nothing configured, and a metadata server address that answers as off Google Cloud (404
    without Metadata-Flavor): every probe is counted in `google.google.rejections`."""
    use_metadata_server(monkeypatch, f"127.0.0.1:{google.google.port}")
    return google


def _probes(google: Identities) -> int:
    return google.google.rejections.count(NO_METADATA)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "keyrings_gar" and r.levelno >= logging.WARNING]


def _cache_folder() -> Path:
    folder = cache_dir()
    assert folder is not None  # the isolated environment has a per-user cache folder
    return folder


def _new_process() -> None:
    """What a fresh `keyring` process starts with: nothing in memory."""
    cache._memory.clear()
    failures._memory.clear()


def test_the_second_lookup_after_a_failure_makes_no_network_call_and_says_the_same(
    no_credentials: Identities, backend: GarKeyring, caplog: pytest.LogCaptureFixture
) -> None:
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    assert _probes(no_credentials) == 1
    assert backend.get_password(OTHER_REPO_URL, "oauth2accesstoken") is None  # pip's extra index
    _new_process()
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None  # a retry, in another process
    assert _probes(no_credentials) == 1
    first, *rest = _warnings(caplog)
    assert "no Google credentials found" in first
    assert rest == [first, first]


def test_a_failure_is_remembered_across_keyring_processes(no_credentials: Identities) -> None:
    environ = {**os.environ, "KEYRINGS_GAR_CACHE_DIR": str(_cache_folder())}
    outputs = [subprocess.run([KEYRING, "get", url, "oauth2accesstoken"], env=environ, capture_output=True,
                              text=True, timeout=60, check=False) for url in (AR_URL, OTHER_REPO_URL, AR_URL)]
    assert [o.returncode for o in outputs] == [1, 1, 1]
    assert _probes(no_credentials) == 1
    lines = [o.stderr.strip() for o in outputs]
    assert "no Google credentials found" in lines[0]
    assert lines == [lines[0]] * 3


def test_a_failing_gcloud_is_started_once(
    google: Identities, gcloud: FakeGcloud, backend: GarKeyring, caplog: pytest.LogCaptureFixture
) -> None:
    gcloud.login(google.user)
    gcloud.set_mode("fail")
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    _new_process()
    assert backend.get_password(OTHER_REPO_URL, "oauth2accesstoken") is None
    assert len(gcloud.calls()) == 1
    first, second = _warnings(caplog)
    assert first == second


def test_a_hanging_gcloud_costs_one_timeout(
    google: Identities, gcloud: FakeGcloud, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYRINGS_GAR_TIMEOUT", "1")
    gcloud.login(google.user)
    gcloud.set_mode("hang")
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    _new_process()
    started = time.monotonic()
    assert backend.get_password(OTHER_REPO_URL, "oauth2accesstoken") is None
    assert time.monotonic() - started < 0.5  # the second lookup does not wait for gcloud again
    assert len(gcloud.calls()) == 1


def test_the_memory_expires(
    no_credentials: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(failures, "FAILURE_TTL", 0.5)
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    assert _probes(no_credentials) == 1
    time.sleep(0.6)
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    assert _probes(no_credentials) == 2


def test_a_fixed_credential_is_another_source_and_is_tried_at_once(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Remembering is per source: a new key file (or other ADC content) is not held back."""
    broken = json.loads(google.sa_key.key_json)
    broken["client_email"] = "deleted@acme-prod.iam.gserviceaccount.com"
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(broken))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    key_file.write_bytes(google.sa_key.key_json)
    token = backend.get_password(AR_URL, "oauth2accesstoken")
    assert token is not None
    assert google.google.identity_of(token) == google.sa_key.email


@pytest.mark.parametrize("where", ["core/universe_domain", "CLOUDSDK_CORE_UNIVERSE_DOMAIN"])
def test_a_fixed_universe_is_tried_at_once(
    google: Identities, gcloud: FakeGcloud, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, *, where: str,
) -> None:
    """As a fixed key file is: the refusal of another universe is not served again for 30 s."""
    gcloud.login(google.user)
    if where == "core/universe_domain":
        gcloud.set_property("core", "universe_domain", "apis.sovereign-cloud.example")
    else:
        monkeypatch.setenv(where, "apis.sovereign-cloud.example")
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    assert "belongs to the universe apis.sovereign-cloud.example" in _warnings(caplog)[0]
    if where == "core/universe_domain":
        gcloud.set_property("core", "universe_domain", "googleapis.com")
    else:
        monkeypatch.setenv(where, "googleapis.com")
    caplog.clear()
    token = backend.get_password(AR_URL, "oauth2accesstoken")
    assert _warnings(caplog) == []
    assert token is not None
    assert google.google.identity_of(token) == google.user.account


def test_doctor_always_checks_again_and_cache_clear_forgets(
    no_credentials: Identities, backend: GarKeyring, capsys: pytest.CaptureFixture[str]
) -> None:
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    assert cli.main(["doctor", AR_URL]) == 1
    assert _probes(no_credentials) == 2
    doctor_out = capsys.readouterr().out
    assert "no Google credentials found" in doctor_out
    assert "this check tried again" in doctor_out
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None  # still remembered for lookups
    assert _probes(no_credentials) == 2
    capsys.readouterr()
    assert cli.main(["cache", "show"]) == 0
    shown = capsys.readouterr().out
    assert "failure" in shown
    assert "no Google credentials found" in shown
    assert cli.main(["cache", "clear"]) == 0
    assert "and 1 remembered failure from" in capsys.readouterr().out
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    assert _probes(no_credentials) == 3


def test_doctor_that_succeeds_lets_lookups_use_its_token(
    no_credentials: Identities, backend: GarKeyring
) -> None:
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    no_credentials.google.metadata_email = "vm@acme-prod.iam.gserviceaccount.com"  # the fix: now on a VM
    assert cli.main(["doctor", AR_URL]) == 0
    _new_process()
    token = backend.get_password(AR_URL, "oauth2accesstoken")
    assert token is not None
    assert no_credentials.google.identity_of(token) == "vm@acme-prod.iam.gserviceaccount.com"


def test_the_stored_failure_is_private_and_holds_only_what_its_message_is_made_of(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", google.sa_key.base64)
    google.google.fault = "invalid_grant"
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    folder = _cache_folder() / failures.FOLDER
    [path] = folder.glob("*.json")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(_cache_folder().stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert set(stored) == {"version", "failed_at", "kind", "args", "subject"}
    assert (stored["kind"], stored["args"][:2]) == ("RefusedError", ["the token endpoint", "invalid_grant"])
    [line] = _warnings(caplog)
    [remembered] = failures.FailureMemory(_cache_folder()).entries()
    assert line == f"keyrings.gar: {remembered.message}"
    assert_no_secrets(google, path.read_text())
    assert cache.TokenCache(_cache_folder()).entries() == []  # `cache show` does not list failures as tokens


def test_a_planted_failure_file_is_ignored(
    no_credentials: Identities, backend: GarKeyring, tmp_path: Path
) -> None:
    """Failures are read with the token cache's checks: a symlink or a file others can write is
    not ours, so it cannot make lookups fail (nor put words in our mouth)."""
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    [path] = (_cache_folder() / failures.FOLDER).glob("*.json")
    planted = tmp_path / "planted.json"
    planted.write_text(json.dumps({"version": 2, "failed_at": time.time(), "kind": "GarError",
                                   "args": ["run evil-command"], "subject": None}))
    planted.chmod(0o600)
    path.unlink()
    path.symlink_to(planted)
    _new_process()
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    assert _probes(no_credentials) == 2


@pytest.mark.parametrize("error", [
    errors.UnreachableError("STS", "proxy"),
    errors.RefusedError("the token endpoint", "invalid_grant", "refused the credentials (invalid_grant)"),
    errors.NoCredentialsError("no Google credentials found: run `gcloud auth application-default login`"),
], ids=lambda e: type(e).__name__)
def test_a_remembered_failure_is_the_same_error_in_memory_and_in_another_process(
    tmp_path: Path, error: errors.GarError
) -> None:
    """The type and what it carries come back, so callers that tell errors apart still can."""
    error.subject = "deployer@acme-prod.iam.gserviceaccount.com (adc-file: ~/adc.json)"
    memory = failures.FailureMemory(tmp_path)

    def fail() -> None:
        raise error

    with pytest.raises(type(error)):
        memory.guard("key", fail)
    for fresh in (False, True):
        if fresh:
            _new_process()
        with pytest.raises(type(error)) as again:
            memory.guard("key", lambda: pytest.fail("a remembered source is not tried again"))
        assert again.value is not error
        assert (again.value.args, again.value.subject, str(again.value)) == (error.args, error.subject, str(error))
