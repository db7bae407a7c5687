"""A pre-minted access token from a variable or a file, through real keyring, never cached."""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from pathlib import Path
from typing import Callable

import keyring
import pytest

from keyrings_gar.backend import GarKeyring
from keyrings_gar.command import cli
from keyrings_gar.config import cache_dir
from keyrings_gar.provided import MAX_TOKEN_BYTES
from tests.conftest import AR_URL, Identities, assert_no_secrets

CI_IDENTITY = "ci-builder@acme-prod.iam.gserviceaccount.com"


@pytest.fixture
def backend() -> GarKeyring:
    return GarKeyring()


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "keyrings_gar" and r.levelno >= logging.WARNING]


def _cached_text() -> str:
    """Everything under the token cache folder, to prove a provided token never lands there."""
    folder = cache_dir()
    if folder is None or not folder.exists():
        return ""
    return "".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


def test_token_variable_answers_with_no_network_call_and_is_not_cached(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = google.google.issue(CI_IDENTITY).value
    monkeypatch.setenv("KEYRINGS_GAR_ACCESS_TOKEN", token)
    grants_before = len(google.google.grants)
    assert keyring.get_password(AR_URL, "oauth2accesstoken") == token
    assert backend.get_password(AR_URL, "_token") == token
    credential = backend.get_credential(AR_URL, None)
    assert credential is not None
    assert (credential.username, credential.password) == ("oauth2accesstoken", token)
    assert len(google.google.grants) == grants_before
    assert google.google.rejections == []  # no metadata probe either
    assert token not in _cached_text()


def test_token_file_is_read_again_on_every_lookup(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "run" / "secrets" / "gar_token"
    path.parent.mkdir(parents=True)
    first, second = google.google.issue(CI_IDENTITY).value, google.google.issue(CI_IDENTITY).value
    path.write_text(first + "\n")  # as `gcloud auth print-access-token > file` writes it
    monkeypatch.setenv("KEYRINGS_GAR_ACCESS_TOKEN_FILE", str(path))
    assert backend.get_password(AR_URL, "oauth2accesstoken") == first
    path.write_text(second + "\n")
    assert backend.get_password(AR_URL, "oauth2accesstoken") == second
    assert first not in _cached_text()
    assert second not in _cached_text()


def test_gcloud_access_token_file_variable_works_and_ours_wins_over_it(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gcloud_file, ours_file = tmp_path / "gcloud-token", tmp_path / "our-token"
    gcloud_token, file_token, variable_token = (google.google.issue(CI_IDENTITY).value for _ in range(3))
    gcloud_file.write_text(gcloud_token)
    ours_file.write_text(file_token)
    monkeypatch.setenv("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", str(gcloud_file))
    assert backend.get_password(AR_URL, "oauth2accesstoken") == gcloud_token
    monkeypatch.setenv("KEYRINGS_GAR_ACCESS_TOKEN_FILE", str(ours_file))
    assert backend.get_password(AR_URL, "oauth2accesstoken") == file_token
    monkeypatch.setenv("KEYRINGS_GAR_ACCESS_TOKEN", variable_token)
    assert backend.get_password(AR_URL, "oauth2accesstoken") == variable_token


def test_gcloud_access_token_variable_is_used_before_its_file_variant_and_after_ours(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """gcloud's CLOUDSDK_AUTH_ACCESS_TOKEN replaces every login, as it does for gcloud; of gcloud's
    pair the value comes first, as of ours."""
    gcloud_file = tmp_path / "gcloud-token"
    file_token, gcloud_token, ours = (google.google.issue(CI_IDENTITY).value for _ in range(3))
    gcloud_file.write_text(file_token)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    monkeypatch.setenv("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", str(gcloud_file))
    monkeypatch.setenv("CLOUDSDK_AUTH_ACCESS_TOKEN", gcloud_token + "\n")  # as $(gcloud ...) may leave it
    assert backend.get_password(AR_URL, "oauth2accesstoken") == gcloud_token
    credential = backend.get_credential(AR_URL, None)
    assert credential is not None
    assert (credential.username, credential.password) == ("oauth2accesstoken", gcloud_token)
    assert gcloud_token not in _cached_text()
    monkeypatch.setenv("KEYRINGS_GAR_ACCESS_TOKEN", ours)
    assert backend.get_password(AR_URL, "oauth2accesstoken") == ours
    assert google.google.grants == [CI_IDENTITY] * 3  # only those this test issued: no key was minted


def test_gcloud_token_variable_set_empty_means_unset(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDSDK_AUTH_ACCESS_TOKEN", " ")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    token = backend.get_password(AR_URL, "oauth2accesstoken")
    assert token is not None
    assert google.google.identity_of(token) == google.sa_key.email


def test_doctor_trail_names_gcloud_token_variable_and_what_it_shadows_never_the_value(
    google: Identities, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str]
) -> None:
    token, other = google.google.issue(CI_IDENTITY).value, google.google.issue(CI_IDENTITY).value
    (tmp_path / "t").write_text(other)
    monkeypatch.setenv("CLOUDSDK_AUTH_ACCESS_TOKEN", token)
    monkeypatch.setenv("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", str(tmp_path / "t"))
    caplog.set_level(logging.DEBUG, logger="keyrings_gar")
    assert cli.main(["doctor", AR_URL]) == 0
    out = capsys.readouterr().out
    assert "pre-minted token: CLOUDSDK_AUTH_ACCESS_TOKEN" in out
    assert f"…{token[-4:]} pre-minted" in out
    assert cli.main(["doctor", "--json", AR_URL]) == 0
    json_out = capsys.readouterr().out
    credential = json.loads(json_out)["credential"]
    assert credential["token"]["pre_minted"] is True
    assert credential["searched"][0] == {
        "place": "pre-minted token", "used": True,
        "result": "CLOUDSDK_AUTH_ACCESS_TOKEN: used as it is (CLOUDSDK_AUTH_ACCESS_TOKEN_FILE also set, not used)"}
    for text in (out, json_out, caplog.text):
        assert token not in text
        assert token[:-4] not in text


def test_a_provided_token_comes_before_keys_but_the_json_key_username_still_gets_the_key(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = google.google.issue(CI_IDENTITY).value
    monkeypatch.setenv("KEYRINGS_GAR_ACCESS_TOKEN", token)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", google.sa_key.base64)
    assert backend.get_password(AR_URL, "oauth2accesstoken") == token
    credential = backend.get_credential(AR_URL, None)
    assert credential is not None
    assert credential.username == "oauth2accesstoken"
    assert backend.get_password(AR_URL, "_json_key_base64") == google.sa_key.base64
    assert google.google.grants == [CI_IDENTITY]  # only the one this test issued


def test_a_gcloud_token_file_variable_set_empty_means_unset(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", "")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    token = backend.get_password(AR_URL, "oauth2accesstoken")
    assert token is not None
    assert google.google.identity_of(token) == google.sa_key.email


BAD_VALUES = {
    # case: (what the value is, a fragment the one line must contain)
    "empty": ("", "is empty"),
    "only whitespace": (" \n\t", "is empty"),
    "a key file's JSON": ("key json", "looks like JSON"),
    "a PEM private key": ("key pem", "PEM private key"),
    "the _json_key_base64 secret": ("key base64", "base64-encoded key file"),
    "the secret without padding": ("key base64 unpadded", "base64-encoded key file"),
    "an Authorization header": ("Bearer ya29.a0AfB_byC-secretish", "spaces or characters"),
    "too long": ("ya29." + "A" * MAX_TOKEN_BYTES, "longer than"),
}


def _bad_value(case: str, google: Identities) -> str:
    value = BAD_VALUES[case][0]
    keys = {"key json": google.sa_key.key_json.decode(), "key pem": google.sa_key.private_key_pem,
            "key base64": google.sa_key.base64, "key base64 unpadded": google.sa_key.base64.rstrip("=")}
    return keys.get(value, value)


@pytest.mark.parametrize(("case", "where"), [
    *((case, where) for case in BAD_VALUES for where in ("variable", "file")),
    # gcloud's variable set empty means unset (test_gcloud_token_variable_set_empty_means_unset).
    *((case, "gcloud variable") for case in BAD_VALUES if BAD_VALUES[case][1] != "is empty"),
])
def test_a_value_that_is_not_a_token_gives_one_line_naming_the_variable_never_the_value(
    *, google: Identities, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    case: str, where: str
) -> None:
    says = BAD_VALUES[case][1]
    value = _bad_value(case, google)
    if where != "file":
        variable = "KEYRINGS_GAR_ACCESS_TOKEN" if where == "variable" else "CLOUDSDK_AUTH_ACCESS_TOKEN"
        monkeypatch.setenv(variable, value)
    else:
        path = tmp_path / "token"
        path.write_text(value)
        monkeypatch.setenv("KEYRINGS_GAR_ACCESS_TOKEN_FILE", str(path))
        variable = "KEYRINGS_GAR_ACCESS_TOKEN_FILE"
        if case == "too long":
            says = f"larger than {MAX_TOKEN_BYTES // 1024} KiB"
    caplog.set_level(logging.DEBUG, logger="keyrings_gar")
    assert GarKeyring().get_password(AR_URL, "oauth2accesstoken") is None
    [line] = _warnings(caplog)
    assert variable in line
    assert says in line
    assert google.google.grants == []  # no fallback to another identity behind the user's back
    fragments = [value.strip()[i:i + 16] for i in range(0, max(1, len(value.strip()) - 16), 8)]
    assert_no_secrets(google, caplog.text, extra=tuple(f for f in fragments if len(f) >= 8))


def _make_fifo(path: Path) -> None:
    os.mkfifo(path)


def _make_binary(path: Path) -> None:
    path.write_bytes(b"\xff\xfe\x00garbage")


@pytest.mark.parametrize(("make", "says"), [
    (None, "no existing file"),
    (Path.mkdir, "is a directory, not a file"),
    (_make_fifo, "not a regular file"),
    (_make_binary, "is not UTF-8 text"),
], ids=["missing", "a directory", "a FIFO", "binary"])
def test_a_token_file_that_cannot_be_used_is_reported_at_once(
    *, google: Identities, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    make: Callable[[Path], None] | None, says: str
) -> None:
    path = tmp_path / "gar_token"
    if make is not None:
        make(path)
    monkeypatch.setenv("KEYRINGS_GAR_ACCESS_TOKEN_FILE", str(path))
    started = time.monotonic()
    assert GarKeyring().get_password(AR_URL, "oauth2accesstoken") is None
    assert time.monotonic() - started < 2.0  # a FIFO without a writer must not block the lookup
    [line] = _warnings(caplog)
    if make is None:  # nothing there: the value may be a token pasted into the variable, never shown
        assert "KEYRINGS_GAR_ACCESS_TOKEN_FILE names no existing file" in line
        assert str(path) not in line
    else:
        assert f"KEYRINGS_GAR_ACCESS_TOKEN_FILE={path}" in line
    assert says in line
    assert google.google.grants == []


def test_a_token_pasted_into_the_file_variable_is_never_echoed(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str]
) -> None:
    token = google.google.issue(CI_IDENTITY).value
    monkeypatch.setenv("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", token)
    caplog.set_level(logging.DEBUG, logger="keyrings_gar")
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    [line] = _warnings(caplog)
    assert "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE holds what looks like a token itself, not a path" in line
    assert cli.main(["doctor", AR_URL]) == 1
    assert cli.main(["doctor", "--json", AR_URL]) == 1
    assert_no_secrets(google, caplog.text, *capsys.readouterr())


def test_an_empty_token_file_variable_is_reported_not_skipped(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("KEYRINGS_GAR_ACCESS_TOKEN_FILE", " ")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    assert backend.get_password(AR_URL, "oauth2accesstoken") is None
    [line] = _warnings(caplog)
    assert "KEYRINGS_GAR_ACCESS_TOKEN_FILE is set but empty" in line


def test_a_symlinked_secret_mount_is_followed(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Kubernetes mounts secrets as `name -> ..data/name`: the link must be followed."""
    data = tmp_path / "..data"
    data.mkdir()
    token = google.google.issue(CI_IDENTITY).value
    (data / "token").write_text(token)
    (tmp_path / "token").symlink_to(data / "token")
    monkeypatch.setenv("KEYRINGS_GAR_ACCESS_TOKEN_FILE", str(tmp_path / "token"))
    assert backend.get_password(AR_URL, "oauth2accesstoken") == token


def test_a_token_shaped_base64_value_is_accepted(
    google: Identities, backend: GarKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opaque tokens without a `ya29.` prefix are fine, as long as they do not decode to JSON."""
    opaque = base64.b64encode(os.urandom(96)).decode()
    while base64.b64decode(opaque).lstrip().startswith(b"{"):
        opaque = base64.b64encode(os.urandom(96)).decode()
    monkeypatch.setenv("KEYRINGS_GAR_ACCESS_TOKEN", opaque)
    assert backend.get_password(AR_URL, "oauth2accesstoken") == opaque


def test_doctor_shows_the_token_input_and_that_its_expiry_is_unknown(
    google: Identities, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gar_token"
    token = google.google.issue(CI_IDENTITY).value
    path.write_text(token + "\n")
    monkeypatch.setenv("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", str(path))
    assert cli.main(["doctor", AR_URL]) == 0
    out = capsys.readouterr().out
    assert f"pre-minted token: CLOUDSDK_AUTH_ACCESS_TOKEN_FILE={path}" in out
    assert f"…{token[-4:]} pre-minted" in out
    assert "expiry unknown" in out
    assert cli.main(["doctor", "--json", AR_URL]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["credential"]["token"]["expiry"] is None
    assert report["credential"]["token"]["pre_minted"] is True
    assert cli.main(["token", AR_URL]) == 0  # the one command that prints a credential prints this one
    assert capsys.readouterr().out.strip() == token
    path.write_text('{"type": "service_account"}')
    assert cli.main(["doctor", AR_URL]) == 1
    out = capsys.readouterr().out
    assert "does not hold an access token" in out
    assert google.google.grants == [CI_IDENTITY]
    assert token not in out


def test_doctor_reports_an_empty_token_file_variable_as_a_problem(
    google: Identities, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KEYRINGS_GAR_ACCESS_TOKEN_FILE", "")
    assert cli.main(["doctor", AR_URL]) == 1
    assert "KEYRINGS_GAR_ACCESS_TOKEN_FILE is set but empty" in capsys.readouterr().out


@pytest.mark.parametrize("username", [None, "oauth2accesstoken"])
def test_the_pre_minted_token_is_looked_for_once_per_lookup(
    backend: GarKeyring, monkeypatch: pytest.MonkeyPatch, username: str | None
) -> None:
    # The username the answer goes under and the token itself come from one look at the
    # environment: two looks could see two different inputs.
    from keyrings_gar import lookup, provided

    looks: list[object] = []
    real = provided.find_provided_token

    def counted() -> object:
        looks.append(None)
        return real()

    monkeypatch.setenv("KEYRINGS_GAR_ACCESS_TOKEN", "ya29.looked-for-once")
    monkeypatch.setattr(lookup, "find_provided_token", counted)
    credential = backend.get_credential(AR_URL, username)
    assert credential is not None
    assert credential.password == "ya29.looked-for-once"
    assert len(looks) == 1
