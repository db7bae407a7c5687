"""The `keyrings-gar` command: in process for the details, as a console script for exit codes
and tracebacks; real google-auth against FakeGoogle throughout."""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import keyring
import keyring.backend
import keyring.backends.chainer
import pytest

from keyrings_gar import cli, diagnosis
from keyrings_gar.backend import GarKeyring
from tests.conftest import AR_HOST, AR_URL, Identities, assert_no_secrets

COMMAND = str(Path(sys.executable).with_name("keyrings-gar"))
UPLOAD_URL = f"https://{AR_HOST}/acme-prod/team-repo/"


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _command(*args: str, module: bool = False) -> subprocess.CompletedProcess[str]:
    program = [sys.executable, "-m", "keyrings_gar"] if module else [COMMAND]
    return subprocess.run([*program, *args], capture_output=True, text=True, timeout=60, env=dict(os.environ),
                          stdin=subprocess.DEVNULL, check=False)


def _assert_no_secrets(google: Identities, *outputs: str) -> None:
    """Neither any token FakeGoogle issued, nor the key, its base64 or its private key."""
    assert_no_secrets(google, *outputs)


# --- doctor -----------------------------------------------------------------------------


def test_doctor_with_working_credentials_exits_0_and_names_the_service_account(
    google: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    code, out, err = _run(capsys, "doctor", AR_URL)
    assert code == 0, out
    assert google.sa_key.email in out
    assert f"GOOGLE_APPLICATION_CREDENTIALS={google.sa_key_file}" in out
    assert "freshly minted" in out
    assert "keyrings-gar.cfg" in out
    assert "OK" in out
    [token] = google.google.tokens
    assert f"…{token[-4:]}" in out  # a fingerprint, never the token
    _assert_no_secrets(google, out, err)


def test_doctor_twice_reports_the_cached_token(
    google: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    _run(capsys, "doctor", AR_URL)
    code, out, _ = _run(capsys, "doctor", "--json", AR_URL)
    assert code == 0
    assert json.loads(out)["credential"]["token"]["cached"] is True
    assert len(google.google.grants) == 1


def test_doctor_json_shape(google: Identities, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", google.sa_key.base64)
    code, out, err = _run(capsys, "doctor", "--json", AR_URL)
    assert code == 0
    report = json.loads(out)
    assert report["ok"] is True
    assert report["problems"] == []
    assert set(report) >= {"versions", "keyring", "url", "config", "credential", "notes"}
    assert report["versions"]["keyring"] == metadata.version("keyring")
    assert report["keyring"]["keyrings_gar"] == {"loaded": True, "viable": True, "priority": 9.5, "problem": None}
    assert report["url"] == {"service": AR_URL, "ours": True, "reason": None,
                             "repository": f"{AR_HOST}/acme-prod/team-repo"}
    assert report["config"]["exists"] is False
    assert report["config"]["path"].endswith("keyrings-gar.cfg")
    credential = report["credential"]
    assert credential["username"] == "_json_key_base64"
    assert credential["secret"] == {"email": google.sa_key.email, "key_id": google.sa_key.key_id[:8]}
    assert credential["token_source"]["kind"] == "service-account-key"
    assert credential["token_source"]["identity"] == google.sa_key.email
    assert credential["token_source"]["proxy"] is None
    assert set(credential["token"]) == {"fingerprint", "expiry", "expires_in", "cached"}
    assert 3000 < credential["token"]["expires_in"] <= 3600
    _assert_no_secrets(google, out, err)


def test_doctor_without_credentials_exits_1_with_the_fix_and_no_traceback(isolated: Path) -> None:
    result = _command("doctor", AR_URL)
    assert result.returncode == 1
    assert "gcloud auth application-default login" in result.stdout
    assert "FAILED" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_doctor_explains_why_a_url_is_not_ours(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "doctor", "https://us-central1-docker.pkg.dev/acme-prod/images")
    assert code == 1
    assert "not an Artifact Registry Python host" in out
    code, out, _ = _run(capsys, "doctor", "--json", "http://us-central1-python.pkg.dev/acme-prod/team-repo/simple/")
    report = json.loads(out)
    assert (code, report["url"]["ours"]) == (1, False)
    assert "use https://" in report["url"]["reason"]


def test_doctor_never_echoes_a_secret_pasted_in_the_url(
    google: Identities, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"https://_json_key_base64:{google.sa_key.base64}@{AR_HOST}/acme-prod/team-repo/simple/"
    code, out, err = _run(capsys, "doctor", url)
    assert code == 1
    assert "password" in out
    _assert_no_secrets(google, out, err)


def test_doctor_shows_config_problems_and_exits_1(
    google: Identities, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    config = isolated / "custom.cfg"
    config.write_text(f"[{AR_HOST}]\nusername = admin\n")
    monkeypatch.setenv("KEYRINGS_GAR_CONFIG", str(config))
    code, out, _ = _run(capsys, "doctor", AR_URL)
    assert code == 1
    assert f"{config} [{AR_HOST}] username: not one of" in out
    assert google.google.grants == []


def test_doctor_shows_the_entry_and_the_impersonated_identity(
    google: Identities, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.user_adc_file))
    config = isolated / ".config" / "python_keyring" / "keyrings-gar.cfg"
    config.parent.mkdir(parents=True)
    config.write_text(f"[{AR_HOST}/acme-prod]\nimpersonate = deployer@acme-prod.iam.gserviceaccount.com\n")
    code, out, err = _run(capsys, "doctor", "--json", AR_URL)
    assert code == 0, out
    report = json.loads(out)
    assert report["config"]["entry"] == f"{AR_HOST}/acme-prod"
    assert report["credential"]["token_source"]["kind"] == "impersonated"
    assert report["credential"]["token_source"]["identity"].startswith("deployer@acme-prod.iam.gserviceaccount.com")
    _assert_no_secrets(google, out, err)


def test_doctor_shows_the_proxy_in_effect_without_its_password(
    google: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    monkeypatch.setenv("HTTP_PROXY", "http://proxy-user:pr0xy-pa55@127.0.0.1:9")  # closed: the grant fails
    monkeypatch.setenv("KEYRINGS_GAR_TIMEOUT", "2")
    code, out, err = _run(capsys, "doctor", "--json", AR_URL)
    report = json.loads(out)
    assert code == 1
    assert report["credential"]["token_source"]["proxy"] == "http://***@127.0.0.1:9"
    assert "pr0xy-pa55" not in out + err
    [problem] = report["problems"]
    assert "proxy" in problem


def test_doctor_without_url_checks_the_default_identity(
    google: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.user_adc_file))
    code, out, _ = _run(capsys, "doctor")
    assert code == 0
    assert google.user.account in out


def test_doctor_names_google_s_plugin_and_who_answers_first(
    google: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class GooglePythonAuth(keyring.backend.KeyringBackend):
        priority = 9  # as keyrings.google-artifactregistry-auth declares

        def get_password(self, service: str, username: str) -> str | None:
            raise NotImplementedError

        def set_password(self, service: str, username: str, password: str) -> None:
            raise NotImplementedError

        def delete_password(self, service: str, username: str) -> None:
            raise NotImplementedError

    GooglePythonAuth.__module__ = "keyrings.gauth"
    monkeypatch.setattr(keyring.backends.chainer.ChainerBackend, "backends", [GarKeyring(), GooglePythonAuth()])
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    keyring.set_keyring(keyring.backends.chainer.ChainerBackend())
    try:
        code, out, _ = _run(capsys, "doctor", "--json", AR_URL)
    finally:
        keyring.core.init_backend()
    report = json.loads(out)
    assert code == 0
    assert report["keyring"]["google_plugin"]["in_chain"] is True
    assert report["keyring"]["answers_first"] == "keyrings.gar"
    assert [b["priority"] for b in report["keyring"]["chain"]] == [9.5, 9.0]
    assert any("keyrings.google-artifactregistry-auth" in note for note in report["notes"])


def test_doctor_fails_when_keyring_is_set_to_another_backend(google: Identities,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    result = _command("doctor", AR_URL)
    assert result.returncode == 1
    assert "PYTHON_KEYRING_BACKEND=keyring.backends.null.Keyring" in result.stdout
    assert "never asks keyrings.gar" in result.stdout


# --- settings ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", [AR_URL, UPLOAD_URL, f"{AR_HOST}/acme-prod/team-repo"])
def test_settings_pip_uses_the_keyring_provider(
    google: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", google.sa_key.base64)
    code, out, err = _run(capsys, "settings", "pip", url)
    assert code == 0
    parser = configparser.ConfigParser()
    parser.read_string(out)
    assert parser["global"]["keyring-provider"] == "subprocess"
    assert parser["global"]["index-url"] == f"https://oauth2accesstoken@{AR_HOST}/acme-prod/team-repo/simple/"
    _assert_no_secrets(google, out, err)


def test_settings_uv_always_authenticates_through_the_keyring_subprocess(
    google: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tomllib = pytest.importorskip("tomllib")
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", google.sa_key.base64)
    code, out, err = _run(capsys, "settings", "uv", AR_URL)
    assert code == 0
    assert 'authenticate = "always"' in out
    config = tomllib.loads(out)
    assert config["keyring-provider"] == "subprocess"
    assert config["index"] == [{"name": "team-repo", "url": AR_URL, "authenticate": "always"}]
    _assert_no_secrets(google, out, err)


def test_settings_poetry_adds_a_source_without_username(isolated: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "settings", "poetry", UPLOAD_URL)
    assert code == 0
    commands = [line for line in out.splitlines() if line.startswith("poetry ")]
    assert commands == ["poetry self add keyrings.gar",
                        f"poetry source add --priority=primary team-repo {AR_URL}"]


def test_settings_twine_pypirc_has_the_username_and_no_password(
    google: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", google.sa_key.base64)
    code, out, err = _run(capsys, "settings", "twine", AR_URL)
    assert code == 0
    parser = configparser.ConfigParser()
    parser.read_string(out)
    assert parser["distutils"]["index-servers"].split() == ["team-repo"]
    assert dict(parser["team-repo"]) == {"repository": UPLOAD_URL, "username": "oauth2accesstoken"}
    _assert_no_secrets(google, out, err)


@pytest.mark.parametrize(("url", "expected"), [
    ("https://pypi.org/simple/", "not an Artifact Registry Python host"),
    (f"https://{AR_HOST}", "give the repository's URL"),
    (f"https://{AR_HOST}/acme-prod/", "give the repository's URL"),
])
def test_settings_for_a_url_that_is_not_a_repository_exits_1(
    isolated: Path, capsys: pytest.CaptureFixture[str], url: str, expected: str
) -> None:
    code, out, err = _run(capsys, "settings", "uv", url)
    assert (code, out) == (1, "")
    assert expected in err


# --- token and cache --------------------------------------------------------------------


def test_token_prints_a_token_the_registry_accepts(google: Identities, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    result = _command("token", AR_URL)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1
    assert google.google.identity_of(result.stdout.strip()) == google.sa_key.email
    assert result.stderr == ""


def test_token_uses_the_repository_s_entry_and_the_shared_cache(
    google: Identities, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.user_adc_file))
    config = isolated / "keyrings-gar.cfg"
    config.write_text(f"[{AR_HOST}/acme-prod/team-repo]\nkey_file = {google.sa_key_file}\n")
    monkeypatch.setenv("KEYRINGS_GAR_CONFIG", str(config))
    _, repo_token, _ = _run(capsys, "token", AR_URL)
    _, default_token, _ = _run(capsys, "token")
    assert google.google.identity_of(repo_token.strip()) == google.sa_key.email
    assert google.google.identity_of(default_token.strip()) == google.user.account
    assert GarKeyring().get_password(AR_URL, "oauth2accesstoken") == repo_token.strip()
    assert len(google.google.grants) == 2


def test_token_without_credentials_exits_1_with_one_line(isolated: Path) -> None:
    result = _command("token", AR_URL)
    assert (result.returncode, result.stdout) == (1, "")
    [line] = result.stderr.splitlines()
    assert line.startswith("keyrings-gar: no Google credentials found")


def test_token_for_a_host_that_is_not_ours_exits_1(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "token", "https://pypi.org/simple/")
    assert (code, out) == (1, "")
    assert "pypi.org is not an Artifact Registry Python host" in err


def test_cache_show_lists_identities_and_expiry_but_no_token(
    google: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    assert GarKeyring().get_password(AR_URL, "oauth2accesstoken") is not None
    code, out, err = _run(capsys, "cache", "show")
    assert code == 0
    assert google.sa_key.email in out
    code, out_json, _ = _run(capsys, "cache", "show", "--json")
    report = json.loads(out_json)
    [entry] = report["entries"]
    assert set(entry) == {"identity", "expiry", "expires_in", "file"}
    assert entry["identity"] == google.sa_key.email
    assert report["enabled"] is True
    _assert_no_secrets(google, out, out_json, err)


def test_cache_clear_makes_the_next_lookup_mint_a_new_token(
    google: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    backend = GarKeyring()
    first = backend.get_password(AR_URL, "oauth2accesstoken")
    assert backend.get_password(AR_URL, "oauth2accesstoken") == first
    assert len(google.google.grants) == 1
    code, out, _ = _run(capsys, "cache", "clear")
    assert code == 0
    assert out.startswith("removed 1 cached token and 0 remembered failures from ")
    second = backend.get_password(AR_URL, "oauth2accesstoken")
    assert second != first
    assert len(google.google.grants) == 2
    _, out, _ = _run(capsys, "cache", "show", "--json")
    assert len(json.loads(out)["entries"]) == 1


# --- the command itself -----------------------------------------------------------------


@pytest.mark.parametrize("args", [[], ["doctor"], ["settings"], ["token"], ["cache"], ["cache", "show"],
                                  ["cache", "clear"]])
def test_every_command_has_help(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*args, "--help"])
    assert exit_info.value.code == 0
    assert "usage: keyrings-gar" in capsys.readouterr().out


def test_python_m_keyrings_gar_is_the_command(isolated: Path) -> None:
    result = _command("settings", "uv", AR_URL, module=True)
    assert result.returncode == 0
    assert AR_URL in result.stdout


def test_an_unexpected_error_is_one_line_without_traceback(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(url: str | None) -> diagnosis.Report:
        raise RuntimeError("something internal")

    monkeypatch.setattr(cli, "doctor", broken)
    code, out, err = _run(capsys, "doctor", AR_URL)
    assert (code, out) == (1, "")
    assert err == "keyrings-gar: unexpected RuntimeError in `doctor`; please report it\n"


def test_doctor_fails_when_the_entry_wants_a_secret_that_does_not_exist(
    google: Identities, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.user_adc_file))
    config = isolated / "keyrings-gar.cfg"
    config.write_text(f"[{AR_HOST}]\nusername = _json_key_base64\n")
    monkeypatch.setenv("KEYRINGS_GAR_CONFIG", str(config))
    code, out, _ = _run(capsys, "doctor", "--json", AR_URL)
    report = json.loads(out)
    assert code == 1
    [problem] = report["problems"]
    assert "_json_key_base64 secret, but none is configured" in problem


def test_doctor_explains_a_keyring_that_cannot_start(google: Identities, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "no_such_module.Keyring")
    result = _command("doctor", AR_URL)
    assert result.returncode == 1
    assert "keyring itself cannot start (ModuleNotFoundError" in result.stdout
    assert "fix or remove PYTHON_KEYRING_BACKEND=no_such_module.Keyring" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
