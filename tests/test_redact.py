"""A setting's value in messages: a path is shown, a pasted key never is (and is named as such);
proxy credentials are masked in every form. Unit rules first, then the one line a lookup and
`doctor` give for each pasted secret, through the real backend and command."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

from keyrings_gar import redact
from keyrings_gar.backend import GarKeyring
from keyrings_gar.command import cli
from keyrings_gar.command import shown as shown_here
from keyrings_gar.config import load_settings
from keyrings_gar.search import find_token_source
from keyrings_gar.sources import metadata_server_source
from tests.conftest import AR_HOST, AR_URL, Identities, assert_no_secrets, console_script
from tests.loopback.gcloud import FakeGcloud
from tests.test_linear_patterns import assert_linear

ADC_LINE = ("GOOGLE_APPLICATION_CREDENTIALS holds what looks like a key itself, not a path: put it in "
            "KEYRINGS_GAR_JSON_KEY_BASE64 or a file")


def _pasted(google: Identities) -> dict[str, str]:
    """The forms in which users paste the key where a path belongs."""
    b64 = google.sa_key.base64
    return {
        "base64": b64,
        "base64 wrapped at 76 (`base64 key.json`)": "\n".join(b64[i:i + 76] for i in range(0, len(b64), 76)),
        "key JSON": google.sa_key.key_json.decode(),
        "gcloud's URL": f"https://_json_key_base64:{b64}@us-central1-python.pkg.dev/acme-prod/team-repo/simple/",
        "percent-encoded base64": quote(b64, safe=""),
        "private key PEM": google.sa_key.private_key_pem,
    }


# --- the rules --------------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/home/dev/.config/gcloud/application_default_credentials.json",
    "~/keys/acme-prod-1a2b3c4d5e6f.json",
    r"C:\Users\dev\AppData\Roaming\gcloud\legacy credentials\dev@example.com\adc.json",
    "relative/sa key (copy).json",
    "/builds/pytest-of-ci/pytest-12/test_key_file_is_used_for_tok0/sa-key.json",
])
def test_an_ordinary_path_is_shown_as_it_is(path: str) -> None:
    assert redact.key_material(path) is None
    assert redact.describe("GOOGLE_APPLICATION_CREDENTIALS", path) == f"GOOGLE_APPLICATION_CREDENTIALS={path}"
    assert redact.shown_path(Path(path)) == str(Path(path))


def test_every_pasted_form_of_the_key_is_key_material_and_never_shown(google: Identities) -> None:
    for form, value in _pasted(google).items():
        assert redact.key_material(value) is not None, form
        assert not redact.showable(value), form
        assert redact.describe("X", value) == f"X (a {len(value)}-character value, not shown)", form


@pytest.mark.parametrize(("value", "kind"), [
    ('{"type": "service_account"}', "JSON"),
    ("  {\n", "JSON"),
    ("x" * 1025, "too long for a path"),
    ("/k/" + "A" * 256, "a base64 run longer than any file name"),
    ("/keys/a\nb.json", "line breaks or control characters"),
    ("/keys/a\0b.json", "line breaks or control characters"),
    ("-----BEGIN PRIVATE KEY-----", "a PEM block"),
    ("https://user:pw@host/key.json", "a URL with a password"),
    ("ya29.a0AfB_byC" + "x" * 60, "an access token"),
    ("/builds/ya29.c.b0AXv0zTPq1", "an access token"),  # a short one, even inside a path
    ("1//0gLzQ7cR4-abcdefghijklmnop", "an access token"),  # a refresh token
    ("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvIn0.c2ln", "a JWT"),
])
def test_key_material_says_what_the_value_plainly_is(value: str, kind: str) -> None:
    assert redact.key_material(value) == kind


@pytest.mark.parametrize("value", [
    "/keys/" + "Ab1" * 14,  # a 42-character base64 run
    "/keys/" + "k" * 250 + ".json",  # longer than anyone types
])
def test_a_value_that_may_hold_a_secret_is_named_by_its_length_only(value: str) -> None:
    assert redact.key_material(value) is None
    assert redact.describe("GOOGLE_APPLICATION_CREDENTIALS", value) == (
        f"GOOGLE_APPLICATION_CREDENTIALS (a {len(value)}-character value, not shown)")
    assert redact.shown_text(value, "the account") == f"the account (a {len(value)}-character value, not shown)"


@pytest.mark.parametrize(("proxy", "shown"), [
    ("http://proxy.corp:3128", "http://proxy.corp:3128"),
    ("http://user:pw@proxy.corp:3128", "http://***@proxy.corp:3128"),
    ("https://user:pw@proxy.corp:3128/", "https://***@proxy.corp:3128/"),
    ("socks5h://user:pw@proxy.corp:1080", "socks5h://***@proxy.corp:1080"),
    ("user:pw@proxy.corp:3128", "***@proxy.corp:3128"),  # no scheme: requests adds http://
    ("http://user:p@ss:w@rd@proxy.corp:3128", "http://***@proxy.corp:3128"),  # `@` inside the password
    ("user:p@ss@proxy.corp:3128", "***@proxy.corp:3128"),
    ("user:pa://ss@proxy.corp:3128", "***@proxy.corp:3128"),  # `://` inside a password is no scheme
    ("HTTP://us%40er:p%3Aw%40rd@proxy.corp:8080", "HTTP://***@proxy.corp:8080"),  # percent-encoded
    ("http://ya29.token-as-username@proxy.corp:3128", "http://***@proxy.corp:3128"),  # no password at all
    ("http://user:pw@proxy.corp:3128/x@y", "http://***@y"),  # an `@` in a path hides more, never less
    ("  http://user:pw@proxy.corp:3128\n", "http://***@proxy.corp:3128"),
    ("http://proxy.corp:3128/\x1b[2J", "http://proxy.corp:3128 (the rest not shown)"),
    ("http://proxy.corp:3128/" + "T" * 300, "http://proxy.corp:3128 (the rest not shown)"),
])
def test_proxy_credentials_are_masked_in_every_form(proxy: str, shown: str) -> None:
    assert shown_here.safe_url(proxy) == shown


@pytest.mark.parametrize(("module", "name"), [(redact, "_BASE64_RUN"), (redact, "_SECRET_IN_TEXT"),
                                              (shown_here, "_SCHEME"), (shown_here, "_URL_IN_TEXT")])
def test_every_pattern_in_redact_is_linear(module: object, name: str) -> None:
    assert_linear(getattr(module, name))


def test_masking_and_judging_are_linear_on_hostile_input() -> None:
    """Quadratic work on a MiB would not return within the test run; these return at once."""
    mebibyte = 1 << 20
    assert shown_here.safe_url("http://" + ":" * mebibyte + "@h:1") == "http://***@h:1"
    assert shown_here.safe_url("@" * mebibyte + "h") == "***@h"
    assert shown_here.safe_url("a://" * mebibyte) == "a://a: (the rest not shown)"
    assert redact.key_material("A/" * mebibyte) == "too long for a path"
    assert not redact.showable("a." * mebibyte)
    assert shown_here.config_line("a" * mebibyte) == "a" * mebibyte
    assert shown_here.config_line("password" * mebibyte) == "password" * mebibyte  # no `=`: no key


@pytest.mark.parametrize(("line", "shown"), [
    ("password = hunter2-Plain\n", "password = [not shown]\n"),
    (" Password: x y z\n", " Password: [not shown]\n"),  # a diff context line, configparser's `:`
    ('-"api-key" = "abc"\n', '-"api-key" = [not shown]\n'),
    ("    https://mirror:hunter2@mirror.example/simple/\n", "    https://***@mirror.example/simple/\n"),
    ("index-url = https://oauth2accesstoken:ya29.a0AfB_byC-0123456789@h/simple/", "index-url = https://***@h/simple/"),
    ("x = pypi-AgEIcHlwaS5vcmcCJGE0ZjFkZmQ3LTk5NzQtNDdjNy1hYzFjLTk5ZjM2ZmI3ZDU2ZgACKlszLCJ", "x = […]"),
    ("note = ya29.a0AfB_byC-0123456789", "note = [a token, not shown]"),
    # What is no secret stays as written: configure's own lines and the user's settings.
    ("keyring-provider = subprocess\n", "keyring-provider = subprocess\n"),
    ('authenticate = "always"', 'authenticate = "always"'),
    ("[pypi]", "[pypi]"),
    ("    https://oauth2accesstoken@us-central1-python.pkg.dev/p/r/simple/",
     "    https://***@us-central1-python.pkg.dev/p/r/simple/"),
])
def test_a_config_line_hides_secrets_and_keeps_the_rest(line: str, shown: str) -> None:
    assert shown_here.config_line(line) == shown


# --- the one line a lookup gives --------------------------------------------------------


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "keyrings_gar" and r.levelno >= logging.WARNING]


@pytest.mark.parametrize("form", ["base64", "key JSON", "gcloud's URL", "base64 wrapped at 76 (`base64 key.json`)"])
@pytest.mark.parametrize("username", ["oauth2accesstoken", "_json_key_base64"])
def test_key_pasted_into_google_application_credentials_gives_one_line_without_it(
    google: Identities, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, form: str, username: str
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", _pasted(google)[form])
    with caplog.at_level(logging.DEBUG):
        assert GarKeyring().get_password(AR_URL, username) is None
    assert _warnings(caplog) == [f"keyrings.gar: {ADC_LINE}"]
    assert google.google.grants == []


_FILE_SETTING_FIXES = {
    "key_file": "not a path: save the key in a file and name the file here",
    "json_key_base64_file": ("not a path: save the secret in a file and name the file here, or put it in a "
                             "variable named by json_key_base64_env"),
    "json_key_base64_env": "not a variable name: put the secret in a variable and name the variable here",
}


@pytest.mark.parametrize("key", list(_FILE_SETTING_FIXES))
@pytest.mark.parametrize("form", ["base64", "gcloud's URL", "percent-encoded base64"])
def test_key_pasted_into_a_file_setting_gives_one_line_without_it(
    google: Identities, caplog: pytest.LogCaptureFixture, isolated: Path, key: str, form: str
) -> None:
    fix = _FILE_SETTING_FIXES[key]
    config_file = isolated / ".config" / "python_keyring" / "keyrings-gar.cfg"
    config_file.parent.mkdir(parents=True)
    config_file.write_text(f"[{AR_HOST}]\n{key} = {_pasted(google)[form]}\n")
    with caplog.at_level(logging.DEBUG):
        assert GarKeyring().get_password(AR_URL, "oauth2accesstoken") is None
    assert _warnings(caplog) == [
        f"keyrings.gar: {config_file} [{AR_HOST}] {key} holds what looks like a key itself, {fix}"]


@pytest.mark.parametrize(("variable", "fix"), [
    ("CLOUDSDK_CONFIG", "point it at gcloud's configuration folder, or unset it"),
    ("KEYRINGS_GAR_CONFIG", "point it at a keyrings-gar.cfg file, or unset it"),
    ("KEYRINGS_GAR_CACHE_DIR", "point it at a folder, or unset it"),
])
def test_key_pasted_into_a_folder_or_file_variable_gives_one_line_without_it(
    google: Identities, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, variable: str, fix: str
) -> None:
    monkeypatch.setenv(variable, google.sa_key.base64)
    with caplog.at_level(logging.DEBUG):
        assert GarKeyring().get_password(AR_URL, "oauth2accesstoken") is None
    assert _warnings(caplog) == [f"keyrings.gar: {variable} holds what looks like a key itself, not a path: {fix}"]


def test_a_long_file_name_that_is_not_a_key_is_not_found_instead_of_an_unexpected_error(
    google: Identities, caplog: pytest.LogCaptureFixture, isolated: Path
) -> None:
    config_file = isolated / ".config" / "python_keyring" / "keyrings-gar.cfg"
    config_file.parent.mkdir(parents=True)
    name = "sa-key." * 40  # 280 characters: longer than the OS allows, but not key-shaped
    config_file.write_text(f"[{AR_HOST}]\nkey_file = {name}\n")
    with caplog.at_level(logging.DEBUG):
        assert GarKeyring().get_password(AR_URL, "oauth2accesstoken") is None
    [line] = _warnings(caplog)
    assert line.startswith(f"keyrings.gar: {config_file} [{AR_HOST}] key_file: a ")
    assert line.endswith("-character value, not shown does not exist; fix the path or download the key")


def test_an_ordinary_key_path_is_still_named_in_the_origin(
    google: Identities, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    with caplog.at_level(logging.DEBUG, logger="keyrings_gar"):
        assert GarKeyring().get_password(AR_URL, "oauth2accesstoken") is not None
    assert any(f"(GOOGLE_APPLICATION_CREDENTIALS={google.sa_key_file})" in r.getMessage() for r in caplog.records)


# --- doctor -----------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["base64", "key JSON", "gcloud's URL"])
def test_doctor_names_the_pasted_key_without_showing_it(
    google: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], form: str
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", _pasted(google)[form])
    for args in (["doctor", AR_URL], ["doctor", "--json", AR_URL], ["doctor"]):
        assert cli.main(args) == 1
        out, err = capsys.readouterr()
        assert ADC_LINE in out
        assert_no_secrets(google, out, err)


def test_doctor_survives_a_key_pasted_into_key_file(
    google: Identities, capsys: pytest.CaptureFixture[str], isolated: Path
) -> None:
    config_file = isolated / ".config" / "python_keyring" / "keyrings-gar.cfg"
    config_file.parent.mkdir(parents=True)
    config_file.write_text(f"[{AR_HOST}]\nkey_file = {google.sa_key.base64}\n")
    assert cli.main(["doctor", AR_URL]) == 1
    out, err = capsys.readouterr()
    assert "key_file holds what looks like a key itself, not a path" in out
    assert "unexpected" not in out + err
    assert_no_secrets(google, out, err)


_PROXY_FORMS = {
    "http://ci-bot:Pr0xy-Secret@127.0.0.1:9": "http://***@127.0.0.1:9",
    "ci-bot:Pr0xy-Secret@127.0.0.1:9": "***@127.0.0.1:9",
    "http://ci-bot:Pr0xy@Secret@127.0.0.1:9": "http://***@127.0.0.1:9",
    "ci-bot:Pr0xy@Secret:x@127.0.0.1:9": "***@127.0.0.1:9",
    "http://ci%2Dbot:Pr0xy%40Secret@127.0.0.1:9/": "http://***@127.0.0.1:9/",
}


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY",
                                      "http_proxy"])
@pytest.mark.parametrize("proxy", list(_PROXY_FORMS))
def test_doctor_masks_proxy_credentials_in_every_form(
    google: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, proxy: str
) -> None:
    key_file = google.sa_key_file
    if not variable.lower().startswith("http_"):
        # An https token endpoint, so that the https (or all) proxy is the one chosen; on loopback,
        # a closed port, so that nothing leaves the machine whatever requests makes of the proxy.
        key_file = google.sa_key_file.with_name("https-endpoint-key.json")
        key_file.write_bytes(google.sa_key.key_json.replace(google.google.token_uri.encode(),
                                                            b"https://127.0.0.1:9/token"))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    monkeypatch.setenv(variable, proxy)
    cli.main(["doctor", AR_URL])
    text, _ = capsys.readouterr()
    cli.main(["doctor", "--json", AR_URL])
    report, err = capsys.readouterr()
    assert f"proxy            {_PROXY_FORMS[proxy]}\n" in text
    assert json.loads(report)["credential"]["token_source"]["proxy"] == _PROXY_FORMS[proxy]
    for fragment in ("ci-bot", "ci%2Dbot", "Pr0xy", "Secret"):
        assert fragment not in text + report + err


def test_a_key_pasted_twice_into_the_configuration_file_is_not_echoed_as_a_duplicate_key(
    google: Identities, isolated: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config_file = isolated / ".config" / "python_keyring" / "keyrings-gar.cfg"
    config_file.parent.mkdir(parents=True)
    secret = google.sa_key.base64  # its `=` padding makes configparser read it as `key =`
    config_file.write_text(f"[{AR_HOST}]\n{secret}\n{secret}\n")
    with caplog.at_level(logging.DEBUG):
        assert GarKeyring().get_password(AR_URL, "oauth2accesstoken") is None
    key = secret.rstrip("=")
    assert _warnings(caplog) == [(f"keyrings.gar: {config_file} [{AR_HOST}] a key (a {len(key)}-character value, "
                                 "not shown): set twice in the entry; keep one")]


def test_a_gcloud_error_quoting_a_pasted_key_is_scrubbed(google: Identities) -> None:
    """gcloud quotes the values of its settings in its errors; we repeat its ERROR line."""
    from keyrings_gar.gcloud import _error_line

    b64 = google.sa_key.base64
    stderr = (f"WARNING: something\nERROR: (gcloud.config.config-helper) Unable to read file [{b64}]\n"
              f"ERROR: (gcloud.auth) {google.sa_key.key_json.decode()}\n").encode()
    line = _error_line(stderr)
    assert line == "ERROR: (gcloud.config.config-helper) Unable to read file [[…]]"
    assert_no_secrets(google, line, _error_line(f"ERROR: {google.sa_key.key_json.decode()}".encode()))
    assert _error_line(b"ERROR: (gcloud.config.config-helper) Reauthentication failed.\x1b[2J") == (
        "ERROR: (gcloud.config.config-helper) Reauthentication failed. [2J")


def test_doctor_does_not_echo_a_key_pasted_into_python_keyring_backend(
    google: Identities, monkeypatch: pytest.MonkeyPatch
) -> None:
    """keyring's own error quotes the variable's value; doctor repeats that error."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", google.sa_key.base64)
    result = subprocess.run([console_script("keyrings-gar"), "doctor", AR_URL],
                            capture_output=True, text=True, timeout=60, env=dict(os.environ),
                            stdin=subprocess.DEVNULL, check=False)
    assert result.returncode == 1
    assert "keyring itself cannot start (" in result.stdout
    assert "fix or remove PYTHON_KEYRING_BACKEND (a " in result.stdout
    assert_no_secrets(google, result.stdout, result.stderr)


def test_token_source_origins_and_identities_never_embed_a_secret_shaped_value(
    google: Identities, gcloud: FakeGcloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLOUDSDK_* and GCE_* values we show (account, configuration, metadata host) are the
    user's to set, so a token or key pasted into them is described, not repeated."""
    pasted = "ya29.a0AfB_" + google.sa_key.base64[100:220]
    gcloud.login(google.user)
    for name in ("CLOUDSDK_CORE_ACCOUNT", "CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT", "CLOUDSDK_ACTIVE_CONFIG_NAME"):
        monkeypatch.setenv(name, pasted)
    source = find_token_source(load_settings())
    assert source.kind == "gcloud"
    metadata = metadata_server_source({"GCE_METADATA_HOST": pasted})
    texts = [source.origin, source.identity, repr(source), metadata.origin, metadata.identity, repr(metadata)]
    assert "gcloud's account (a 131-character value, not shown)" in source.identity
    assert "(configuration CLOUDSDK_ACTIVE_CONFIG_NAME (a 131-character value, not shown) in " in source.origin
    assert metadata.origin == "metadata server GCE_METADATA_HOST (a 131-character value, not shown)"
    cli.main(["doctor", AR_URL])
    cli.main(["doctor", "--json", AR_URL])
    out, err = capsys.readouterr()
    assert "gcloud's impersonated account (a 131-character value, not shown)" in out
    assert_no_secrets(google, *texts, out, err, extra=(pasted[:40], pasted[-40:]))


def test_a_long_message_is_cut_at_a_word_boundary_and_marked() -> None:
    message = ("HTTPSConnectionPool(host='us-central1-python.pkg.dev', port=443): Max retries exceeded with url: "
               "/acme-prod/team-repo/simple/ (Caused by ProxyError('Unable to connect to proxy', "
               "OSError('Tunnel connection failed: 403 Forbidden')))")
    shown = redact.scrubbed(message, 180)
    assert shown.endswith("…")
    assert len(shown) <= 181
    assert message.startswith(shown[:-1] + " ")  # whole words only
    assert redact.scrubbed(message, 400) == message
    long_word = "https://example.com/" + "a.b:" * 70
    assert redact.scrubbed(long_word, 100) == long_word[:100] + "…"  # one long word is cut anyway
