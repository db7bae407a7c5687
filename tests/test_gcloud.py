"""The gcloud CLI fallback, against a fake `gcloud` on PATH that gets real tokens from FakeGoogle."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from keyrings_gar import cache
from keyrings_gar.backend import GarKeyring
from keyrings_gar.gcloud import find_gcloud_account
from tests.conftest import AR_URL, Identities, use_metadata_server
from tests.loopback.gcloud import FakeGcloud
from tests.loopback.keys import make_user_credentials

CONFIG_HELPER = ["config", "config-helper", "--format=json", "--min-expiry=25m", "--quiet", "--verbosity=error"]


@pytest.fixture
def backend() -> GarKeyring:
    return GarKeyring()


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "keyrings_gar" and r.levelno >= logging.WARNING]


def test_without_adc_a_logged_in_gcloud_gives_the_token(
    google: Identities, gcloud: FakeGcloud, backend: GarKeyring
) -> None:
    gcloud.login(google.user)
    token = backend.get_password(AR_URL, "oauth2accesstoken")
    assert token is not None
    assert google.google.identity_of(token) == google.user.account
    [call] = gcloud.calls()
    assert call["argv"] == CONFIG_HELPER  # no --account or --impersonate: gcloud's own settings apply


def test_gcloud_token_is_cached_across_processes(google: Identities, gcloud: FakeGcloud, backend: GarKeyring) -> None:
    gcloud.login(google.user)
    first = backend.get_password(AR_URL, "oauth2accesstoken")
    cache._memory.clear()  # as a new `keyring` process would start
    assert backend.get_password(AR_URL, "_token") == first
    assert len(gcloud.calls()) == 1
    assert google.google.grants == [google.user.account]


def test_switching_gcloud_account_or_configuration_is_a_new_identity(
    google: Identities, gcloud: FakeGcloud, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = make_user_credentials("ops@example.com")
    google.google.add_user(other)
    gcloud.login(google.user)
    gcloud.login(other, configuration="ops", activate=False)
    first = backend.get_password(AR_URL, "oauth2accesstoken")
    monkeypatch.setenv("CLOUDSDK_ACTIVE_CONFIG_NAME", "ops")
    second = backend.get_password(AR_URL, "oauth2accesstoken")
    assert second is not None
    assert first is not None
    assert google.google.identity_of(first) == google.user.account
    assert google.google.identity_of(second) == "ops@example.com"
    assert gcloud.calls()[-1]["env"]["CLOUDSDK_ACTIVE_CONFIG_NAME"] == "ops"


def test_gcloud_impersonation_setting_is_respected_and_keys_the_cache(
    google: Identities, gcloud: FakeGcloud, backend: GarKeyring
) -> None:
    gcloud.login(google.user)
    as_user = backend.get_password(AR_URL, "oauth2accesstoken")
    target = "deployer@acme-prod.iam.gserviceaccount.com"
    gcloud.login(google.user, impersonate=target)
    account = find_gcloud_account()
    assert account is not None
    assert account.identity == f"{target} (impersonated by {google.user.account} via gcloud)"
    as_target = backend.get_password(AR_URL, "oauth2accesstoken")
    assert as_target is not None
    assert as_target != as_user
    assert google.google.identity_of(as_target) == target
    assert len(gcloud.calls()) == 2


def test_adc_file_comes_before_gcloud(
    google: Identities, gcloud: FakeGcloud, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    gcloud.login(google.user)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    token = backend.get_password(AR_URL, "oauth2accesstoken")
    assert token is not None
    assert google.google.identity_of(token) == google.sa_key.email
    assert gcloud.calls() == []


def test_gcloud_comes_before_the_metadata_server(
    google: Identities, gcloud: FakeGcloud, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    google.google.metadata_email = "vm@acme-prod.iam.gserviceaccount.com"
    use_metadata_server(monkeypatch, f"127.0.0.1:{google.google.port}")
    gcloud.login(google.user)
    token = backend.get_password(AR_URL, "oauth2accesstoken")
    assert token is not None
    assert google.google.identity_of(token) == google.user.account


def test_gcloud_without_an_account_is_never_started(
    google: Identities, gcloud: FakeGcloud, backend: GarKeyring, caplog: pytest.LogCaptureFixture
) -> None:
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    assert gcloud.calls() == []
    [line] = _warnings(caplog)
    assert "no Google credentials found" in line


def test_an_account_in_the_environment_counts_as_logged_in(
    google: Identities, gcloud: FakeGcloud, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    gcloud.login(google.user, configuration="unused", activate=False)
    monkeypatch.setenv("CLOUDSDK_CORE_ACCOUNT", google.user.account)
    token = backend.get_password(AR_URL, "oauth2accesstoken")
    assert token is not None
    assert google.google.identity_of(token) == google.user.account


def test_logged_in_config_without_gcloud_on_path_is_not_gcloud(
    google: Identities, gcloud: FakeGcloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    gcloud.login(google.user)
    monkeypatch.setenv("PATH", str(gcloud.directory / "empty"))
    assert find_gcloud_account() is None


def test_failing_gcloud_is_none_with_its_error_line(
    google: Identities, gcloud: FakeGcloud, backend: GarKeyring, caplog: pytest.LogCaptureFixture
) -> None:
    gcloud.login(google.user)
    gcloud.set_mode("fail")
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    [line] = _warnings(caplog)
    assert "Reauthentication failed" in line
    assert "gcloud auth login" in line
    assert google.user.account in line


def test_hanging_gcloud_is_killed_at_the_timeout(
    google: Identities, gcloud: FakeGcloud, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gcloud.login(google.user)
    gcloud.set_mode("hang")
    monkeypatch.setenv("KEYRINGS_GAR_TIMEOUT", "1")
    started = time.monotonic()
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    assert time.monotonic() - started < 10  # generous: the fake sleeps for 60 s
    [line] = _warnings(caplog)
    assert "timed out after 1 s" in line
    [call] = gcloud.calls()
    with pytest.raises(ProcessLookupError):
        os.kill(call["pid"], 0)


def test_garbage_from_gcloud_is_none_with_one_line(
    google: Identities, gcloud: FakeGcloud, backend: GarKeyring, caplog: pytest.LogCaptureFixture
) -> None:
    gcloud.login(google.user)
    gcloud.set_mode("garbage")
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    [line] = _warnings(caplog)
    assert "printed no access token" in line


def test_gcloud_token_without_expiry_is_treated_as_short_lived(tmp_path: Path) -> None:
    from keyrings_gar.gcloud import GcloudAccount, _parse_config_helper

    account = GcloudAccount("gcloud", tmp_path, "default", "dev@example.com", None)
    token, expiry = _parse_config_helper(b'{"credential": {"access_token": "ya29.x", "token_expiry": null}}',
                                         account)
    assert token == "ya29.x"
    assert 0 < expiry - time.time() <= 300
