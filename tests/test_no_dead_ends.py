"""The common wrong turns end in a message that says what to do next, never in a dead end."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest

from keyrings_gar.command import cli
from keyrings_gar.hosts import classify_service
from tests.conftest import AR_HOST, AR_URL, console_script


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_keyring_set_with_keyrings_gar_alone_names_where_a_secret_can_be_stored(isolated: Path) -> None:
    """On a headless machine keyring uses keyrings.gar alone; `keyring set` ends in keyring's own
    traceback (a backend must not exit the process), whose last line must name what can store it."""
    secret = "typed-in-secret-" + "x" * 8
    env = dict(os.environ, PYTHON_KEYRING_BACKEND="keyrings_gar.backend.GarKeyring")
    result = subprocess.run([console_script("keyring"), "set", AR_URL, "someone"], input=secret + "\n",
                            capture_output=True, text=True, timeout=60, env=env, check=False)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("NotImplementedError: keyrings.gar is read-only")
    assert "keyring has no backend here that stores secrets" in last
    assert "keyrings.alt" in last
    assert "pipx inject keyring keyrings.alt" in last
    assert secret not in result.stdout + result.stderr


@pytest.mark.parametrize("value", ["0", "301", "-1", "soon"])
def test_a_timeout_out_of_range_says_the_range_exactly(isolated: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str], value: str) -> None:
    monkeypatch.setenv("KEYRINGS_GAR_TIMEOUT", value)
    code, out, _ = _run(capsys, "doctor", AR_URL)
    assert code == 1
    assert f"KEYRINGS_GAR_TIMEOUT={value} must be a number of seconds above 0 and at most 300 (default 10)" in out


def test_doctor_given_a_bare_host_explains_it_once(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reason = classify_service(AR_HOST)
    assert isinstance(reason, str)
    code, out, _ = _run(capsys, "doctor", AR_HOST)
    assert code == 1
    assert out.count(reason) == 1
    assert "NOT ours (see the problem below)" in out


@pytest.mark.parametrize(("kind", "shown"), [
    ("foo", '"type": "foo", DefaultCredentialsError'),
    ("ya29." + "A1b2C3d4" * 10, '"type" is a 85-character value, not shown, DefaultCredentialsError'),
])
def test_an_adc_file_of_an_unknown_type_names_the_type_unless_it_looks_like_a_secret(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], kind: str, shown: str
) -> None:
    adc = isolated / "adc.json"
    adc.write_text(f'{{"type": "{kind}"}}')
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    code, out, err = _run(capsys, "doctor", AR_URL)
    assert code == 1
    assert f"google-auth cannot use these credentials ({shown})" in out
    if kind != "foo":
        assert kind not in out + err


PASTED = "ya29." + "Z9y8X7w6" * 10


@pytest.mark.parametrize("where", ["type of the json key secret", "account of a user ADC file"])
def test_a_secret_pasted_into_a_sibling_field_is_not_shown_either(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    if where.startswith("type"):
        key = base64.b64encode(json.dumps({"type": PASTED}).encode()).decode()
        monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", key)
    else:
        adc = isolated / "adc.json"
        adc.write_text(json.dumps({"type": "authorized_user", "account": PASTED, "client_id": "123.apps",
                                   "client_secret": "s", "refresh_token": "r"}))
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    _, out, err = _run(capsys, "doctor", AR_URL)
    assert "85-character value, not shown" in out
    assert PASTED[:40] not in out + err


def test_the_bare_command_prints_its_help_and_exits_2() -> None:
    result = subprocess.run([console_script("keyrings-gar")], capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL, check=False)
    assert result.returncode == 2
    assert result.stdout.startswith("usage: keyrings-gar")
    assert "doctor" in result.stdout
    assert result.stderr == ""
