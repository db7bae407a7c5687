"""The `keyrings-gar` command: in process for the details, as a console script for exit codes
and tracebacks; real google-auth against FakeGoogle throughout."""

from __future__ import annotations

import configparser
import importlib.util
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

from keyrings_gar.backend import GarKeyring
from keyrings_gar.command import cli, installer_settings, keyring_chain
from tests.conftest import AR_HOST, AR_URL, Identities, assert_no_secrets, console_script
from tests.toml_reader import toml_reader

COMMAND = console_script("keyrings-gar")
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


def test_doctor_without_credentials_says_none_found_and_lists_the_search_in_order(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not "token source metadata-server" for a laptop with no credentials at all."""
    monkeypatch.setenv("PATH", str(isolated / "empty-bin"))  # no gcloud
    code, out, _ = _run(capsys, "doctor", AR_URL)
    assert code == 1
    assert "metadata server's service account" not in out
    assert "token source" not in out
    lines = out.splitlines()
    start = lines.index("credentials      none found; searched, in this order:")
    adc = Path(os.environ["CLOUDSDK_CONFIG"]) / "application_default_credentials.json"
    assert [line.strip() for line in lines[start + 1:start + 7]] == [
        ("1. pre-minted token: not set (KEYRINGS_GAR_ACCESS_TOKEN, KEYRINGS_GAR_ACCESS_TOKEN_FILE, "
         "CLOUDSDK_AUTH_ACCESS_TOKEN, CLOUDSDK_AUTH_ACCESS_TOKEN_FILE)"),
        "2. KEYRINGS_GAR_JSON_KEY_BASE64: not set",
        "3. GOOGLE_APPLICATION_CREDENTIALS: not set",
        f"4. gcloud's ADC file {adc}: not found",
        "5. gcloud's login: no gcloud command on PATH",
        "6. metadata server 127.0.0.1:9: no answer: not on Google Cloud, or unreachable",
    ]
    code, out, _ = _run(capsys, "doctor", "--json", AR_URL)
    credential = json.loads(out)["credential"]
    assert (credential["found"], credential["token_source"]) == (False, None)
    assert [step["used"] for step in credential["searched"]] == [False] * 6


@pytest.mark.parametrize("kind", ["key file", "user ADC", "directory"])
def test_doctor_json_names_where_the_search_stopped(
    google: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str
) -> None:
    if kind == "key file":
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
        stop, result = 2, f"set to the file {google.sa_key_file}"
    elif kind == "user ADC":
        adc = Path(os.environ["CLOUDSDK_CONFIG"]) / "application_default_credentials.json"
        adc.parent.mkdir(parents=True)
        adc.write_bytes(google.user_adc_file.read_bytes())
        stop, result = 3, "found"
    else:
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path))
        stop, result = 2, f"set to {tmp_path}, a directory: not a key file"
    code, out, _ = _run(capsys, "doctor", "--json", AR_URL)
    assert code == (1 if kind == "directory" else 0)
    steps = json.loads(out)["credential"]["searched"]
    assert [step["used"] for step in steps] == [i == stop for i in range(len(steps))]
    assert steps[stop]["result"] == result
    assert {step["result"] for step in steps[stop + 1:]} == {"not reached"}


def test_doctor_never_echoes_a_secret_pasted_into_google_application_credentials(
    google: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", google.sa_key.base64)
    code, out, err = _run(capsys, "doctor", "--json", AR_URL)
    assert (code, out[:1]) == (1, "{"), err
    [step] = [s for s in json.loads(out)["credential"]["searched"] if s["place"] == "GOOGLE_APPLICATION_CREDENTIALS"]
    assert step["result"] == "set, but not to a path: its value looks like a credential itself (not shown)"
    assert google.sa_key.base64[:40] not in step["result"]


@pytest.mark.parametrize(("section", "typo"), [
    (f"{AR_HOST}/acme-prd", f"{AR_HOST}/acme-prod"),
    (f"{AR_HOST}/acme-prod/team-rpeo", f"{AR_HOST}/acme-prod/team-repo"),
    (f"{AR_HOST}/acme-prod/team_repo", f"{AR_HOST}/acme-prod/team-repo"),
    ("us-central2-python.pkg.dev/acme-prod", f"{AR_HOST}/acme-prod"),
])
def test_doctor_warns_about_a_section_that_nearly_matches_the_url(
    google: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], section: str, typo: str
) -> None:
    """A misspelt section is silently "no entry": the lookup takes the default identity."""
    config = Path(os.environ["HOME"]) / "keyrings-gar.cfg"
    config.write_text(f"[{section}]\nimpersonate = deployer@acme-prod.iam.gserviceaccount.com\n")
    monkeypatch.setenv("KEYRINGS_GAR_CONFIG", str(config))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    code, out, _ = _run(capsys, "doctor", AR_URL)
    assert code == 0
    [warning] = [line for line in out.splitlines() if line.startswith("warning") and "misspelling" in line]
    assert f"[{section}] in {config} looks like a misspelling of {typo}" in warning
    assert "the lookup takes no entry (the defaults) instead" in warning


@pytest.mark.parametrize("section", [f"{AR_HOST}/other-project", f"{AR_HOST}/acme-prod/legacy-repo",
                                     f"{AR_HOST}/acme-prod/team-repo", f"{AR_HOST}/acme-prod"])
def test_doctor_does_not_call_a_distinct_or_matching_section_a_typo(
    google: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], section: str
) -> None:
    config = Path(os.environ["HOME"]) / "keyrings-gar.cfg"
    config.write_text(f"[{section}]\nkey_file = {google.sa_key_file}\n")
    monkeypatch.setenv("KEYRINGS_GAR_CONFIG", str(config))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    code, out, _ = _run(capsys, "doctor", AR_URL)
    assert code == 0
    assert "warning" not in out


def test_doctor_warns_when_one_host_has_several_identities_for_uv(
    google: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = Path(os.environ["HOME"]) / "keyrings-gar.cfg"
    config.write_text(f"[{AR_HOST}/acme-prod/team-repo]\nkey_file = {google.sa_key_file}\n\n"
                      f"[{AR_HOST}/acme-prod/legacy-repo]\ntoken = gcloud\n\n"
                      f"[{AR_HOST}/acme-prod/other-repo]\nkey_file = {google.sa_key_file}\n\n"
                      "[europe-python.pkg.dev]\ntoken = gcloud\n")
    monkeypatch.setenv("KEYRINGS_GAR_CONFIG", str(config))
    code, out, _ = _run(capsys, "doctor", AR_URL)
    assert code == 0
    [warning] = [line for line in out.splitlines() if line.startswith("warning")]
    assert f"give {AR_HOST} 3 identities; pip (either keyring provider) keeps the first credential" in warning
    assert f"[{AR_HOST}/acme-prod/legacy-repo]" in warning
    assert f"the default identity (every other repository on {AR_HOST})" in warning
    assert "europe" not in warning  # one host-level entry: one identity for the whole host


def test_doctor_counts_the_default_identity_beside_one_entry(
    google: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The common case: one repository with its own identity, the others on the default one."""
    config = Path(os.environ["HOME"]) / "keyrings-gar.cfg"
    config.write_text(f"[{AR_HOST}/acme-prod/legacy-repo]\ntoken = gcloud\n")
    monkeypatch.setenv("KEYRINGS_GAR_CONFIG", str(config))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    code, out, _ = _run(capsys, "doctor", AR_URL)
    assert code == 0
    [warning] = [line for line in out.splitlines() if line.startswith("warning")]
    assert (f"[{AR_HOST}/acme-prod/legacy-repo], the default identity (every other repository on {AR_HOST}) give "
            f"{AR_HOST} 2 identities") in warning


def test_doctor_does_not_warn_when_an_entry_covers_the_whole_host(
    google: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = Path(os.environ["HOME"]) / "keyrings-gar.cfg"
    config.write_text(f"[{AR_HOST}]\nkey_file = {google.sa_key_file}\n\n"
                      f"[{AR_HOST}/acme-prod/team-repo]\nkey_file = {google.sa_key_file}\n")
    monkeypatch.setenv("KEYRINGS_GAR_CONFIG", str(config))
    code, out, _ = _run(capsys, "doctor", AR_URL)
    assert code == 0
    assert "warning" not in out


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


def test_doctor_shows_a_redirected_download_under_its_repository_s_entry(
    google: Identities, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The 307 of a file download leads to /artifacts-downloads/namespaces/P/repositories/R/downloads/X:
    doctor matches it to P/R's entry, and does not print X (about 3 KB, maybe a signed grant)."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.user_adc_file))
    config = isolated / ".config" / "python_keyring" / "keyrings-gar.cfg"
    config.parent.mkdir(parents=True)
    config.write_text(f"[{AR_HOST}/acme-prod/team-repo]\nusername = _token\n")
    opaque = "Zm9v" * 750
    url = f"https://{AR_HOST}/artifacts-downloads/namespaces/acme-prod/repositories/team-repo/downloads/{opaque}"
    code, out, err = _run(capsys, "doctor", "--json", url)
    assert code == 0, out
    report = json.loads(out)
    assert report["url"]["repository"] == f"{AR_HOST}/acme-prod/team-repo"
    assert report["config"]["entry"] == f"{AR_HOST}/acme-prod/team-repo"
    assert opaque[:40] not in out + err
    code, out, err = _run(capsys, "doctor", url)
    assert code == 0, out
    assert f"{AR_HOST}/acme-prod/team-repo" in out
    assert opaque[:40] not in out + err


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


def test_doctor_fails_on_google_s_plugin_and_names_who_answers_first(
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
    assert code == 1
    assert report["keyring"]["google_plugin"]["in_chain"] is True
    assert report["keyring"]["answers_first"] == "keyrings.gar"
    assert [b["priority"] for b in report["keyring"]["chain"]] == [9.5, 9.0]
    [problem] = report["problems"]
    # The fix is this venv's own pip without a prompt to answer, or uv's where the venv has no pip
    # (`uv venv` makes none: the newest job's venv).
    fix = (f"{sys.executable} -m pip uninstall -y" if importlib.util.find_spec("pip") is not None else
           f"uv pip uninstall --python {sys.executable}")
    assert f"`{fix} keyrings.google-artifactregistry-auth`" in problem
    assert "http://" in problem


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


def test_settings_uv_pasted_into_pyproject_after_project_is_read_by_uv(
    google: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default form carries its own [tool.uv] header: pasted after [project] (where users
    paste), keyring-provider lands under [tool.uv], not under [project] where uv ignores it."""
    tomllib = toml_reader()
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", google.sa_key.base64)
    code, out, err = _run(capsys, "settings", "uv", AR_URL)
    assert code == 0
    pyproject = tomllib.loads('[project]\nname = "consumer"\nversion = "0.1.0"\n\n' + out)
    assert pyproject["project"] == {"name": "consumer", "version": "0.1.0"}
    assert pyproject["tool"]["uv"]["keyring-provider"] == "subprocess"
    # The default form is a virtual repository's, which takes no uploads: no publish-url.
    assert pyproject["tool"]["uv"]["index"] == [{"name": "team-repo", "url": AR_URL, "authenticate": "always",
                                                 "default": True}]
    _assert_no_secrets(google, out, err)


def test_settings_uv_toml_form_on_request(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tomllib = toml_reader()
    code, out, _ = _run(capsys, "settings", "uv", AR_URL, "--uv-toml", "--standard")
    assert code == 0
    config = tomllib.loads(out)
    assert config["keyring-provider"] == "subprocess"
    assert config["index"] == [{"name": "team-repo", "url": AR_URL, "publish-url": UPLOAD_URL,
                                "authenticate": "always"}]


# One rule per repository kind, the same for every installer: a virtual repository replaces PyPI,
# a standard one joins it; the snippet says which and why.
@pytest.mark.parametrize(("tool", "virtual_line", "standard_line"), [
    ("pip", f"index-url = https://oauth2accesstoken@{AR_HOST}/acme-prod/team-repo/simple/",
     f"extra-index-url = https://oauth2accesstoken@{AR_HOST}/acme-prod/team-repo/simple/"),
    ("uv", "default = true", None),
    ("poetry", f"poetry source add --priority=primary team-repo {AR_URL}",
     f"poetry source add --priority=explicit team-repo {AR_URL}"),
    ("pdm", 'name = "pypi"', 'name = "team-repo"'),
])
def test_settings_follow_one_rule_per_repository_kind(
    isolated: Path, capsys: pytest.CaptureFixture[str], tool: str, virtual_line: str, standard_line: str | None
) -> None:
    _, default, _ = _run(capsys, "settings", tool, AR_URL)
    _, virtual, _ = _run(capsys, "settings", tool, AR_URL, "--virtual")
    _, standard, _ = _run(capsys, "settings", tool, AR_URL, "--standard")
    assert default == virtual
    assert virtual_line in virtual.splitlines()
    assert virtual_line not in standard.splitlines()
    if standard_line is not None:
        assert standard_line in standard.splitlines()
    assert "# A virtual repository is the only" in virtual
    assert "# A standard repository" in standard
    assert "dependency confusion" in virtual + standard


def test_settings_poetry_adds_a_source_without_username(isolated: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "settings", "poetry", UPLOAD_URL)
    assert code == 0
    commands = [line for line in out.splitlines() if line.startswith("poetry ")]
    assert commands == [f"poetry self add {installer_settings.install_source()}",
                        f"poetry source add --priority=primary team-repo {AR_URL}"]


class _Installed:
    """What importlib.metadata knows of an installed keyrings.gar: its direct_url.json or none."""

    def __init__(self, direct_url: dict[str, object] | None) -> None:
        self.direct_url = direct_url

    def read_text(self, name: str) -> str | None:
        return json.dumps(self.direct_url) if name == "direct_url.json" and self.direct_url else None


@pytest.mark.parametrize(("direct_url", "source"), [
    (None, "keyrings.gar"),
    ({"url": "file:///home/me/src/keyrings-gar", "dir_info": {"editable": True}}, "/home/me/src/keyrings-gar"),
    ({"url": "file:///home/me/dist/keyrings_gar-0.1.0-py3-none-any.whl", "archive_info": {}},
     "/home/me/dist/keyrings_gar-0.1.0-py3-none-any.whl"),
    ({"url": "file:///home/me/my%20src/kg"}, "'/home/me/my src/kg'"),
])
def test_install_hints_name_the_source_this_copy_came_from(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], direct_url: dict[str, object] | None,
    source: str
) -> None:
    """Until keyrings.gar is on PyPI, `pipx inject keyring keyrings.gar` cannot work: a copy
    installed from a checkout or wheel names that checkout or wheel in every hint."""
    monkeypatch.setattr(metadata, "distribution", lambda _name: _Installed(direct_url))
    assert installer_settings.install_source() == source
    hint = installer_settings.install_hint()
    assert hint == f"pipx install keyring && pipx inject --include-apps keyring {source}"
    code, out, _ = _run(capsys, "settings", "poetry", UPLOAD_URL)
    assert code == 0
    assert f"poetry self add {source}\n" in out


def test_settings_pdm_is_a_source_without_credentials(
    google: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tomllib = toml_reader()
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", google.sa_key.base64)
    code, out, err = _run(capsys, "settings", "pdm", UPLOAD_URL)
    assert code == 0
    # A virtual repository (the default) replaces PyPI: pdm's way is a source named pypi.
    assert tomllib.loads(out) == {"tool": {"pdm": {"source": [{"name": "pypi", "url": AR_URL}]}}}
    _assert_no_secrets(google, out, err)


@pytest.mark.parametrize(("tool", "commands"), [
    ("uv-publish", [(f"uv publish --publish-url {UPLOAD_URL} --keyring-provider subprocess "
                     "--username oauth2accesstoken")]),
    ("poetry-publish", [f"poetry config repositories.team-repo {UPLOAD_URL}", "poetry publish -r team-repo"]),
    ("hatch", [f"hatch publish --repo {UPLOAD_URL} --user oauth2accesstoken"]),
])
def test_settings_for_publishing_give_the_commands_the_e2e_tests_run(
    isolated: Path, capsys: pytest.CaptureFixture[str], tool: str, commands: list[str]
) -> None:
    """The same command lines as tests/e2e/test_publish.py, with the upload URL (no /simple/)."""
    code, out, _ = _run(capsys, "settings", tool, AR_URL)
    assert code == 0
    assert [line for line in out.splitlines() if line and not line.startswith("#")] == commands


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


def test_token_prints_a_token_the_registry_accepts(google: Identities, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    code, out, err = _run(capsys, "token", AR_URL)
    assert code == 0, err
    assert out.count("\n") == 1
    assert google.google.identity_of(out.strip()) == google.sa_key.email
    assert err == ""


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


def test_token_without_credentials_exits_1_with_one_line(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "token", AR_URL)
    assert (code, out) == (1, "")
    [line] = err.splitlines()
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
    assert set(entry) == {"identity", "source", "expiry", "expires_in", "file"}
    assert entry["identity"] == google.sa_key.email
    assert entry["source"] == f"GOOGLE_APPLICATION_CREDENTIALS={google.sa_key_file} (adc-file)"
    assert report["enabled"] is True
    _assert_no_secrets(google, out, out_json, err)


def test_cache_show_tells_apart_entries_of_one_identity_by_their_source(
    google: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Seen: four identical `builder@…` rows, nothing to tell them apart."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    assert GarKeyring().get_password(AR_URL, "oauth2accesstoken") is not None
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", google.sa_key.base64)  # the same key, found first
    assert GarKeyring().get_password(AR_URL, "oauth2accesstoken") is not None
    code, out, err = _run(capsys, "cache", "show")
    assert code == 0
    rows = sorted(line for line in out.splitlines() if line.startswith("token"))
    assert len(rows) == 2
    assert f"{google.sa_key.email} from GOOGLE_APPLICATION_CREDENTIALS={google.sa_key_file} (adc-file): " in rows[0]
    assert f"{google.sa_key.email} from KEYRINGS_GAR_JSON_KEY_BASE64 (service-account-key): " in rows[1]
    _assert_no_secrets(google, out, err)


def test_cache_show_in_a_ci_job_names_the_job(
    google: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    for name, value in {"GITHUB_RUN_ID": "7", "GITHUB_RUN_ATTEMPT": "1", "GITHUB_JOB": "build",
                        "GITHUB_REPOSITORY": "acme/app"}.items():
        monkeypatch.setenv(name, value)
    assert GarKeyring().get_password(AR_URL, "oauth2accesstoken") is not None
    code, out, _ = _run(capsys, "cache", "show")
    assert code == 0
    [job] = [line for line in out.splitlines() if line.startswith("CI job")]
    assert "this folder holds this job's tokens only" in job


@pytest.mark.parametrize("where", ["a file", "under a file", "a symlink"])
def test_an_unusable_cache_folder_is_reported_with_its_effect_everywhere(
    google: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    where: str
) -> None:
    """Not "OK", "none cached" and "removed 0" with status 0 while every process mints its own token."""
    (tmp_path / "a-file").write_text("")
    (tmp_path / "real").mkdir()
    (tmp_path / "named").mkdir()
    (tmp_path / "named" / "keyrings-gar").symlink_to(tmp_path / "real")  # our own folder, as a link
    folder = {"a file": tmp_path / "a-file", "under a file": tmp_path / "a-file" / "cache",
              "a symlink": tmp_path / "named"}[where]
    monkeypatch.setenv("KEYRINGS_GAR_CACHE_DIR", str(folder))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    code, out, _ = _run(capsys, "doctor", AR_URL)
    assert code == 0, out  # a warning: lookups still work, each minting its own token
    [warning] = [line for line in out.splitlines() if line.startswith("warning") and "token cache" in line]
    assert "every process mints its own" in warning
    assert "OK: a lookup would get this credential (but see the warning)" in out
    code, out, _ = _run(capsys, "cache", "show")
    assert code == 1
    assert "none cached" not in out
    assert "unusable" in out
    assert "every process mints its own" in out
    code, out, err = _run(capsys, "cache", "clear")
    assert (code, out) == (1, "")
    assert "cannot clear the token cache" in err
    assert "every process mints its own" in err


def test_a_cache_folder_not_made_yet_is_no_problem(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "cache", "show")
    assert code == 0
    assert "none cached" in out
    code, out, _ = _run(capsys, "cache", "clear")
    assert code == 0
    assert out.startswith("removed 0 cached tokens")


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


@pytest.mark.parametrize("args", [[], ["doctor"], ["settings"], ["configure"], ["token"], ["cache"],
                                  ["cache", "show"], ["cache", "clear"]])
def test_every_command_has_help(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*args, "--help"])
    assert exit_info.value.code == 0
    assert "usage: keyrings-gar" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "usage"), [
    (["doctor", AR_URL, "extra"], "usage: keyrings-gar doctor "),
    (["doctor", "--jsn"], "usage: keyrings-gar doctor "),
    (["settings", "pip"], "usage: keyrings-gar settings "),
    (["settings", "pnpm", AR_URL], "usage: keyrings-gar settings "),
    (["configure", "pip"], "usage: keyrings-gar configure "),
    (["configure", "hatch", AR_URL], "usage: keyrings-gar configure "),
    (["configure", "pip", AR_URL, "--virtual", "--standard"], "usage: keyrings-gar configure "),
    (["cache", "show", "--bogus"], "usage: keyrings-gar cache show "),
    (["cache"], "usage: keyrings-gar cache "),
    (["token", AR_URL, AR_URL], "usage: keyrings-gar token "),
])
def test_a_usage_error_shows_that_subcommand_s_usage(
    args: list[str], usage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(usage), err
    assert "error:" in err


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_before_or_after_the_subcommand_logs_each_step_and_no_secret(
    google: Identities, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """Which source and why, the config entry, cache miss then hit; never a token or the key."""
    config = Path(os.environ["HOME"]) / "keyrings-gar.cfg"
    config.write_text(f"[{AR_HOST}/acme-prod]\nkey_file = {google.sa_key_file}\n")
    monkeypatch.setenv("KEYRINGS_GAR_CONFIG", str(config))
    verbose = ["-v", "doctor", AR_URL] if where == "before" else ["doctor", AR_URL, "--verbose"]
    first = _command(*verbose)
    second = _command(*verbose)
    assert (first.returncode, second.returncode) == (0, 0), first.stdout + first.stderr
    assert f"config: entry [{AR_HOST}/acme-prod] of {config} for {AR_HOST}/acme-prod/team-repo" in first.stderr
    assert (f"token source adc-file for {google.sa_key.email}, because the search stops at config entry "
            f"[{AR_HOST}/acme-prod]: key_file {google.sa_key_file}") in first.stderr
    assert f"token cache miss for {google.sa_key.email}: minted a new token" in first.stderr
    assert f"token cache hit for {google.sa_key.email}" in second.stderr
    _assert_no_secrets(google, first.stdout, first.stderr, second.stdout, second.stderr)


def test_without_verbose_nothing_is_logged(google: Identities, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    result = _command("doctor", AR_URL)
    assert (result.returncode, result.stderr) == (0, "")


def test_python_m_keyrings_gar_is_the_command(isolated: Path) -> None:
    result = _command("settings", "uv", AR_URL, module=True)
    assert result.returncode == 0
    assert AR_URL in result.stdout


def test_an_unexpected_error_is_one_line_without_traceback(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(url: str | None) -> keyring_chain.Report:
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
    assert "GOOGLE_APPLICATION_CREDENTIALS to a service-account key file" in problem


def test_doctor_explains_a_keyring_that_cannot_start(google: Identities, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "no_such_module.Keyring")
    result = _command("doctor", AR_URL)
    assert result.returncode == 1
    assert "keyring itself cannot start (ModuleNotFoundError" in result.stdout
    assert "fix or remove PYTHON_KEYRING_BACKEND=no_such_module.Keyring" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_doctor_help_names_every_installer_it_checks() -> None:
    """Seen: the --installer help listed four tools and left out twine, which it checks too."""
    result = _command("doctor", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # argparse wraps the help to the terminal's width
    assert "TOOL (pip, uv, poetry, pdm, twine; repeatable)" in text
