"""The gcloud CLI fallback, against a fake `gcloud` on PATH that gets real tokens from FakeGoogle."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from pathlib import Path

import pytest

from keyrings_gar import cache
from keyrings_gar.backend import GarKeyring
from keyrings_gar.gcloud import OUTPUT_LIMIT, find_gcloud_account
from keyrings_gar.programs import executable_candidates, find_executable
from tests.conftest import AR_URL, Identities, console_script, use_metadata_server
from tests.loopback.gcloud import FakeGcloud
from tests.loopback.keys import make_user_credentials

KEYRING = console_script("keyring")
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


@pytest.mark.parametrize("how", ["variable", "property"])
def test_gcloud_credential_file_override_is_honoured_and_keys_the_cache(
    google: Identities, gcloud: FakeGcloud, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """gcloud answers with the override file's credentials, not the account's: the lookup must
    too, and not with the account's cached token (CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE, or
    `gcloud config set auth/credential_file_override`, as google-github-actions/auth sets it)."""
    gcloud.login(google.user)
    as_user = backend.get_password(AR_URL, "oauth2accesstoken")
    assert as_user is not None
    if how == "variable":
        monkeypatch.setenv("CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE", str(google.sa_key_file))
    else:
        gcloud.set_property("auth", "credential_file_override", str(google.sa_key_file))
    cache._memory.clear()  # the next `keyring` process
    as_key = backend.get_password(AR_URL, "oauth2accesstoken")
    assert as_key is not None
    assert google.google.identity_of(as_key) == google.sa_key.email
    assert google.google.grants == [google.user.account, google.sa_key.email]
    cache._memory.clear()
    assert backend.get_password(AR_URL, "oauth2accesstoken") == as_key  # cached for the override's identity
    assert len(gcloud.calls()) == 2


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


def test_flooding_gcloud_is_killed_with_one_line(
    google: Identities, gcloud: FakeGcloud, backend: GarKeyring, caplog: pytest.LogCaptureFixture
) -> None:
    gcloud.login(google.user)
    gcloud.set_mode("flood")
    started = time.monotonic()
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    assert time.monotonic() - started < 10  # killed at the bound, not at the 10 s timeout
    [line] = _warnings(caplog)
    assert f"printed over {OUTPUT_LIMIT // 1024} KiB" in line
    [call] = gcloud.calls()
    with pytest.raises(ProcessLookupError):
        os.kill(call["pid"], 0)


# -- gcloud only from where the user installed it ------------------------------------------------

def _planted(gcloud: FakeGcloud, monkeypatch: pytest.MonkeyPatch, path: str, cwd: Path) -> None:
    """The fake gcloud where a cloned repository would put it, and PATH without any real gcloud."""
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("PATH", path)


def _path_forms(empty_dir: Path) -> dict[str, tuple[str, str]]:
    """PATH values that mean the current directory somewhere, and the cwd (relative to the fake's
    folder) that puts the planted gcloud there."""
    return {
        "empty PATH": ("", "bin"),
        "leading empty entry": (f":{empty_dir}", "bin"),
        "trailing empty entry": (f"{empty_dir}:", "bin"),
        "inner empty entry": (f"{empty_dir}::{empty_dir}", "bin"),
        "dot entry": (f".:{empty_dir}", "bin"),
        "relative entry": (f"{empty_dir}:bin", "."),
        "relative dot-slash entry": (f"./bin:{empty_dir}", "."),
    }


FORMS = list(_path_forms(Path("/x")))


@pytest.mark.parametrize("form", FORMS)
def test_a_gcloud_in_the_working_directory_never_runs(
    google: Identities, gcloud: FakeGcloud, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    form: str,
) -> None:
    gcloud.login(google.user)  # a user with a gcloud login and no ADC: the planted gcloud's best case
    empty_dir = gcloud.directory / "empty"
    empty_dir.mkdir()
    path, cwd = _path_forms(empty_dir)[form]
    _planted(gcloud, monkeypatch, path, gcloud.directory / cwd)
    assert find_gcloud_account() is None
    assert GarKeyring().get_password(AR_URL, "oauth2accesstoken") is None
    assert gcloud.calls() == []
    [line] = _warnings(caplog)
    assert "no Google credentials found" in line


@pytest.mark.parametrize("path", ["", ":", ".", "bin"])
def test_keyring_command_never_runs_a_planted_gcloud(
    google: Identities, gcloud: FakeGcloud, path: str
) -> None:
    gcloud.login(google.user)
    env = {**os.environ, "PATH": path}
    result = subprocess.run([KEYRING, "get", AR_URL, "oauth2accesstoken"], env=env, capture_output=True, text=True,
                            timeout=60, check=False, cwd=gcloud.directory if path == "bin" else gcloud.bin_dir)
    assert result.returncode == 1
    assert result.stdout == ""
    assert gcloud.calls() == []


def test_gcloud_on_an_absolute_entry_after_an_empty_one_is_found(
    google: Identities, gcloud: FakeGcloud, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    gcloud.login(google.user)
    monkeypatch.setenv("PATH", f"::{gcloud.bin_dir}")
    monkeypatch.chdir(gcloud.directory)
    token = backend.get_password(AR_URL, "oauth2accesstoken")
    assert token is not None
    assert google.google.identity_of(token) == google.user.account
    [call] = gcloud.calls()
    assert call["argv"] == CONFIG_HELPER


def test_a_non_executable_gcloud_is_passed_over(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, mode in ((first, 0o644), (second, 0o755)):
        folder.mkdir()
        (folder / "gcloud").write_text("#!/bin/sh\n")
        (folder / "gcloud").chmod(mode)
    (tmp_path / "dir" / "gcloud").mkdir(parents=True)  # a directory of that name is no program either
    found = find_executable("gcloud", {"PATH": f"{tmp_path / 'dir'}:{first}:{second}"}, platform="linux")
    assert found == str(second / "gcloud")


def test_posix_candidates_are_absolute_entries_only() -> None:
    environ = {"PATH": ":/usr/local/bin:.:bin:./x:/opt/google-cloud-sdk/bin:"}
    assert list(executable_candidates("gcloud", environ, "linux")) == [
        "/usr/local/bin/gcloud", "/opt/google-cloud-sdk/bin/gcloud"]


def test_windows_candidates_use_pathext_and_skip_the_current_directory() -> None:
    environ = {"Path": ';.;C:\\Tools;relative\\bin;\\rooted;D:drive-relative;"C:\\Program Files\\Cloud SDK\\bin";'
                       "\\\\server\\share\\sdk",
               "PATHEXT": ".COM;.EXE;.BAT;.CMD"}
    assert list(executable_candidates("gcloud", environ, "win32")) == [
        f"{folder}\\gcloud{ext}"
        for folder in ("C:\\Tools", "C:\\Program Files\\Cloud SDK\\bin", "\\\\server\\share\\sdk")
        for ext in (".COM", ".EXE", ".BAT", ".CMD")
    ]


def test_windows_without_pathext_still_finds_gcloud_cmd() -> None:
    candidates = list(executable_candidates("gcloud", {"PATH": "C:\\sdk\\bin"}, "win32"))
    assert candidates == [f"C:\\sdk\\bin\\gcloud{ext}" for ext in (".COM", ".EXE", ".BAT", ".CMD")]


@pytest.mark.parametrize(("repeated", "said"), [
    ("[core]\naccount = again@example.com\n", "sets account twice in [core] (line"),
    ("\n[core]\nproject = other\n", "has the section [core] twice (line"),
])
def test_a_repeated_property_or_section_is_one_line_naming_the_file(
    google: Identities, gcloud: FakeGcloud, backend: GarKeyring, caplog: pytest.LogCaptureFixture, *,
    repeated: str, said: str,
) -> None:
    """gcloud's own configparser refuses such a file; ours left the values it had read unjoined, and
    the lookup ended in "unexpected AttributeError … please report it"."""
    gcloud.login(google.user)
    path = gcloud.config_dir / "configurations" / "config_default"
    text = path.read_text()
    assert text.startswith("[core]\n")
    path.write_text((repeated + text[len("[core]\n"):]) if "account" in repeated else text + repeated)
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    [line] = _warnings(caplog)
    assert f"gcloud's config_default in {path.parent}" in line
    assert said in line
    assert "AttributeError" not in line
    assert gcloud.calls() == []


def test_doctor_names_the_gcloud_file_with_a_repeated_property(
    google: Identities, gcloud: FakeGcloud, capsys: pytest.CaptureFixture[str]
) -> None:
    from keyrings_gar.command import cli

    gcloud.login(google.user)
    path = gcloud.config_dir / "configurations" / "config_default"
    path.write_text(path.read_text().replace("[core]\n", "[core]\naccount = again@example.com\n", 1))
    code = cli.main(["doctor", AR_URL])
    out = capsys.readouterr().out
    assert code == 1
    assert "sets account twice in [core]" in out
    assert "AttributeError" not in out
