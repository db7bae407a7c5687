"""The backend through real keyring, with real google-auth against the loopback token endpoint."""

from __future__ import annotations

import base64
import json
import logging
import time
from pathlib import Path
from urllib.parse import quote

import keyring
import keyring.backend
import keyring.backends.chainer
import pytest
from keyring.credentials import SimpleCredential

from keyrings_gar.backend import GarKeyring
from tests.conftest import AR_HOST, AR_URL, Identities, use_metadata_server

SERVICE_FORMS = [AR_URL, "https://us-central1-python.pkg.dev", "https://us-central1-python.pkg.dev:443/",
                 "https://oauth2accesstoken@us-central1-python.pkg.dev/acme-prod/team-repo/simple/"]


@pytest.fixture
def backend() -> GarKeyring:
    return GarKeyring()


def _gar_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "keyrings_gar" and r.levelno >= logging.WARNING]


@pytest.mark.parametrize("service", SERVICE_FORMS)
@pytest.mark.parametrize("username", ["oauth2accesstoken", "_token"])
def test_token_usernames_get_a_live_token_from_a_service_account_key(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch, service: str, username: str
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    token = backend.get_password(service, username)
    assert token is not None
    assert google.google.identity_of(token) == google.sa_key.email
    assert google.google.rejections == []


def test_user_adc_from_gcloud_login_gets_a_token(google: Identities, backend: GarKeyring, isolated: Path) -> None:
    gcloud_dir = isolated / "gcloud"
    gcloud_dir.mkdir()
    (gcloud_dir / "application_default_credentials.json").write_text(google.user.adc_json(google.google.token_uri))
    token = backend.get_password(AR_URL, "oauth2accesstoken")
    assert token is not None
    assert google.google.identity_of(token) == google.user.account


def test_impersonated_service_account_adc_gets_the_target_s_token(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    target = "deployer@acme-prod.iam.gserviceaccount.com"
    adc = {
        "type": "impersonated_service_account",
        "service_account_impersonation_url":
            f"{google.google.url}/v1/projects/-/serviceAccounts/{target}:generateAccessToken",
        "source_credentials": json.loads(google.user.adc_json(google.google.token_uri)),
        "delegates": [],
    }
    path = tmp_path / "impersonated.json"
    path.write_text(json.dumps(adc))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    token = backend.get_password(AR_URL, "oauth2accesstoken")
    assert token is not None
    assert google.google.identity_of(token) == target


def test_metadata_server_token_when_no_adc_file(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    google.google.metadata_email = "vm@acme-prod.iam.gserviceaccount.com"
    use_metadata_server(monkeypatch, f"127.0.0.1:{google.google.port}")
    token = backend.get_password(AR_URL, "oauth2accesstoken")
    assert token is not None
    assert google.google.identity_of(token) == "vm@acme-prod.iam.gserviceaccount.com"


def test_json_key_base64_username_gets_the_exact_secret(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert google.sa_key.base64.endswith("=")
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", quote(google.sa_key.base64, safe=""))
    assert backend.get_password(AR_URL, "_json_key_base64") == google.sa_key.base64
    assert google.google.grants == []


def test_json_key_username_gets_the_key_json(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", google.sa_key.base64)
    assert backend.get_password(AR_URL, "_json_key") == google.sa_key.key_json.decode()


def test_json_key_base64_falls_back_to_a_service_account_adc_file(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    assert backend.get_password(AR_URL, "_json_key_base64") == google.sa_key.base64


def test_json_key_base64_is_none_for_user_adc(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.user_adc_file))
    assert backend.get_password(AR_URL, "_json_key_base64") is None
    [record] = _gar_records(caplog)
    assert "KEYRINGS_GAR_JSON_KEY_BASE64" in record.getMessage()


def test_token_with_the_secret_set_is_minted_from_that_key(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", google.sa_key.base64)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.user_adc_file))
    token = backend.get_password(AR_URL, "oauth2accesstoken")
    assert token is not None
    assert google.google.identity_of(token) == google.sa_key.email


@pytest.mark.parametrize("username", ["__token__", "someone", "python-poetry", "", "_JSON_KEY_BASE64"])
def test_other_usernames_belong_to_other_backends(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch, username: str
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    assert backend.get_password(AR_URL, username) is None
    assert google.google.grants == []


@pytest.mark.parametrize("username", [None, ""])
def test_get_credential_without_username_is_a_token_credential(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch, username: str | None
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    credential = backend.get_credential(AR_URL, username)
    assert isinstance(credential, SimpleCredential)
    assert credential.username == "oauth2accesstoken"
    assert google.google.identity_of(credential.password) == google.sa_key.email


def test_get_credential_without_username_prefers_the_secret_when_set(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", google.sa_key.base64)
    credential = backend.get_credential("https://us-central1-python.pkg.dev", None)
    assert credential is not None
    assert (credential.username, credential.password) == ("_json_key_base64", google.sa_key.base64)


def test_get_credential_with_username_answers_as_get_password(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    credential = backend.get_credential(AR_URL, "_token")
    assert credential is not None
    assert credential.username == "_token"
    assert backend.get_credential(AR_URL, "_json_key_base64") is not None
    assert backend.get_credential(AR_URL, "someone-else") is None


@pytest.mark.parametrize("service", [
    "https://pypi.org/simple/", "https://us-central1-docker.pkg.dev/p/r",
    "https://us-central1-python.pkg.dev.evil.example/p/r/", "https://evil.example/us-central1-python.pkg.dev/",
    "python-poetry-check", "poetry-repository-gar",
])
def test_services_that_are_not_ours_get_nothing_and_mint_nothing(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch, service: str
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", google.sa_key.base64)
    for username in ("oauth2accesstoken", "_json_key_base64", "_json_key"):
        assert backend.get_password(service, username) is None
    assert backend.get_credential(service, None) is None
    assert google.google.grants == []


def test_trusted_hosts_variable_adds_a_caching_proxy(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    assert backend.get_password("https://pypi-cache.corp.example/simple/", "oauth2accesstoken") is None
    monkeypatch.setenv("KEYRINGS_GAR_HOSTS", "pypi-cache.corp.example, other.example:8443")
    assert backend.get_password("https://pypi-cache.corp.example/simple/", "oauth2accesstoken") is not None
    assert backend.get_password("https://other.example:8443/simple/", "oauth2accesstoken") is not None
    assert backend.get_password("https://other.example/simple/", "oauth2accesstoken") is None


def test_set_and_delete_raise_not_implemented(backend: GarKeyring) -> None:
    with pytest.raises(NotImplementedError):
        backend.set_password(AR_HOST, "oauth2accesstoken", "x")
    with pytest.raises(NotImplementedError):
        backend.delete_password(AR_HOST, "oauth2accesstoken")


class _MemoryKeyring(keyring.backend.KeyringBackend):
    """A stand-in for the OS keyring that sits below us in keyring's chain."""

    priority = 1

    def __init__(self) -> None:
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.store[(service, username)]


def test_keyring_chain_falls_through_to_the_next_backend(
    google: Identities, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = _MemoryKeyring()
    monkeypatch.setattr(keyring.backends.chainer.ChainerBackend, "backends", [GarKeyring(), memory])
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    keyring.set_keyring(keyring.backends.chainer.ChainerBackend())
    try:
        keyring.set_password("https://pypi.example/", "alice", "pw")  # we refuse, memory stores
        assert memory.store == {("https://pypi.example/", "alice"): "pw"}
        assert keyring.get_password("https://pypi.example/", "alice") == "pw"
        # Even with no Google credentials at all, our failure must not break the chain.
        monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
        memory.store[(AR_URL, "oauth2accesstoken")] = "from-os-keyring"
        assert keyring.get_password(AR_URL, "oauth2accesstoken") == "from-os-keyring"
    finally:
        keyring.core.init_backend()


def test_installed_keyring_discovers_the_backend_through_its_entry_point() -> None:
    names = [type(b).__name__ for b in keyring.backend.get_all_keyring()]
    assert "GarKeyring" in names
    assert GarKeyring.priority == 9.5


def test_no_credentials_is_a_quiet_none_with_one_line_that_says_how_to_fix_it(
    isolated: Path, backend: GarKeyring, caplog: pytest.LogCaptureFixture
) -> None:
    started = time.monotonic()
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    assert time.monotonic() - started < 5  # generous: the bound itself is measured in benchmarks
    [record] = _gar_records(caplog)
    assert "gcloud auth application-default login" in record.getMessage()
    assert record.exc_info is None


def test_revoked_key_is_none_with_one_line(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    google.google.fault = "invalid_grant"
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    [record] = _gar_records(caplog)
    assert "invalid_grant" in record.getMessage()
    assert google.sa_key.email in record.getMessage()


def test_garbage_secret_names_the_variable_and_not_the_value(
    isolated: Path, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    value = base64.b64encode(b'{"type": "authorized_user", "refresh_token": "r3fr3sh"}').decode()
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", value)
    assert backend.get_password(AR_URL, "_json_key_base64") is None
    assert backend.get_credential(AR_URL, None) is None
    records = _gar_records(caplog)
    assert len(records) == 2
    for record in records:
        assert "KEYRINGS_GAR_JSON_KEY_BASE64" in record.getMessage()
        assert value not in record.getMessage()
        assert "r3fr3sh" not in record.getMessage()


def test_hanging_token_endpoint_is_cut_at_the_timeout(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    monkeypatch.setenv("KEYRINGS_GAR_TIMEOUT", "1")
    google.google.fault = "hang"
    google.google.hang_seconds = 8
    started = time.monotonic()
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    assert time.monotonic() - started < 6
    [record] = _gar_records(caplog)
    assert "timed out" in record.getMessage()


@pytest.mark.parametrize("value", ["abc", "0", "-1", "1e9"])
def test_bad_timeout_setting_is_reported(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    value: str,
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    monkeypatch.setenv("KEYRINGS_GAR_TIMEOUT", value)
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    [record] = _gar_records(caplog)
    assert "KEYRINGS_GAR_TIMEOUT" in record.getMessage()


@pytest.mark.parametrize("case", [
    ("KEYRINGS_GAR_CACHE_DIR", "write the folder's full path"),
    ("KEYRINGS_GAR_ACCESS_TOKEN_FILE", "fix the path"),
    ("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", "fix the path"),
])
def test_a_home_folder_of_no_user_is_a_setting_to_fix_not_our_fault(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    case: tuple[str, str],
) -> None:
    variable, fix = case
    workdir = google.sa_key_file.parent
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    monkeypatch.setenv(variable, "~no-such-user-here/folder")  # expanduser raises RuntimeError for it
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    [record] = _gar_records(caplog)
    assert variable in record.getMessage()
    assert fix in record.getMessage()
    assert "unexpected" not in record.getMessage()
    assert not (workdir / "~no-such-user-here").exists()


@pytest.mark.parametrize("service", [None, 42, b"bytes", "", "\x00", "https://" + "a" * 100000])
def test_never_raises_for_any_input(backend: GarKeyring, isolated: Path, service: object) -> None:
    assert backend.get_password(service, "oauth2accesstoken") is None  # type: ignore[arg-type]
    assert backend.get_credential(service, None) is None  # type: ignore[arg-type]
