"""The fault matrix: every failure is a quick None with one clear line, no traceback, no secret.

Each scenario breaks one thing (the token endpoint, the network path, the ADC file, the secret,
the metadata server) with real keyring and real google-auth against loopback servers.
"""

from __future__ import annotations

import base64
import importlib.metadata
import json
import logging
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import trustme

from keyrings_gar import safefile
from keyrings_gar.backend import GarKeyring
from tests.conftest import AR_URL, Identities, assert_no_secrets, console_script, use_metadata_server
from tests.loopback.google import FakeGoogle
from tests.test_hygiene import all_loggers_at_debug, observe

KEYRING = console_script("keyring")

Setup = Callable[[Identities, pytest.MonkeyPatch, Path], None]


@dataclass(frozen=True)
class Fault:
    name: str
    setup: Setup
    says: str
    """A fragment the one log line must contain: what happened or what to do."""
    username: str = "oauth2accesstoken"
    bound: float = 5.0
    not_says: str = "\0"
    """A fragment the line must not contain: a fix that belongs to another cause."""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_key(google: Identities, monkeypatch: pytest.MonkeyPatch, tmp: Path, **changes: str) -> None:
    info = json.loads(google.sa_key.key_json)
    info.update(changes)
    path = tmp / "changed-key.json"
    path.write_text(json.dumps(info))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))


def _endpoint_fault(fault: str) -> Setup:
    def setup(google: Identities, monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
        google.google.fault = fault
    return setup


def _trickle(google: Identities, monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    _endpoint_fault("trickle")(google, monkeypatch, tmp)
    monkeypatch.setenv("KEYRINGS_GAR_TIMEOUT", "1")


def _refused(google: Identities, monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    _with_key(google, monkeypatch, tmp, token_uri=f"http://127.0.0.1:{_closed_port()}/token")


def _hang(google: Identities, monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    monkeypatch.setenv("KEYRINGS_GAR_TIMEOUT", "1")
    google.google.fault = "hang"
    google.google.hang_seconds = 30


def _proxy_unreachable(google: Identities, monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    # Google's real token URI, through a proxy that is not there: nothing leaves loopback.
    _with_key(google, monkeypatch, tmp, token_uri="https://oauth2.googleapis.com/token")
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{_closed_port()}")


def _unknown_ca(google: Identities, monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    ca = trustme.CA()
    context = __import__("ssl").create_default_context(__import__("ssl").Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = FakeGoogle(ssl_context=context).start()
    server.add_service_account(google.sa_key)
    _CLEANUPS.append(server.stop)
    _with_key(google, monkeypatch, tmp, token_uri=f"{server.url}/token")


def _adc_file(content: bytes) -> Setup:
    def setup(google: Identities, monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
        path = tmp / "adc.json"
        path.write_bytes(content)
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    return setup


def _adc_missing(google: Identities, monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp / "deleted.json"))


def _adc_directory(google: Identities, monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    """GOOGLE_APPLICATION_CREDENTIALS=/tmp: a folder, which no permission change makes a key file."""
    (tmp / "adc-dir").mkdir()
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp / "adc-dir"))


def _adc_unreadable(google: Identities, monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    # Tests may run as root, which reads any file whatever its mode: the kernel's answer for a
    # file without read permission is played by the one read that gets it.
    path = tmp / "adc.json"
    path.write_bytes(google.sa_key.key_json)
    path.chmod(0)
    real_read = safefile.read_regular_file

    def read_regular_file(name: Path | str, limit: int) -> bytes:
        if Path(name) == path:
            raise PermissionError(13, "Permission denied", str(name))
        return real_read(name, limit)

    # The one reader every file a user names goes through (safefile.py).
    monkeypatch.setattr(safefile, "read_regular_file", read_regular_file)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))


def _adc_under_a_file(google: Identities, monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    (tmp / "not-a-folder").write_text("")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp / "not-a-folder" / "key.json"))


def _secret(value: str) -> Setup:
    def setup(google: Identities, monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
        monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", value)
    return setup


def _metadata(email: str | None, *, latency: float = 0.0, fault: str | None = None, fault_on: str = "",
              timeout: str = "") -> Setup:
    def setup(google: Identities, monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
        if timeout:
            monkeypatch.setenv("KEYRINGS_GAR_TIMEOUT", timeout)
        google.google.metadata_email = email
        google.google.latency = latency
        google.google.fault = fault
        google.google.fault_on = fault_on
        use_metadata_server(monkeypatch, f"127.0.0.1:{google.google.port}")
    return setup


def _metadata_absent(google: Identities, monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    use_metadata_server(monkeypatch, f"127.0.0.1:{_closed_port()}")


# google-auth 2.33 changed its retries: a token endpoint answering 500 is tried 3 times with 1 + 2 s
# of back-off (before: 4 times, 1 + 2 + 4 s, still inside our 10 s deadline), and a metadata server
# answering 500 is retried for 15 s, which our deadline cuts short (before: no retry at all).
_GOOGLE_AUTH = tuple(int(part) for part in importlib.metadata.version("google-auth").split(".")[:2])
_RETRIES_QUICKLY = _GOOGLE_AUTH >= (2, 33)

_USER_JSON = b'{"type": "authorized_user", "client_id": "c", "client_secret": "s3cr3t", "refresh_token": "1//r3fr3sh"}'
FAULTS = [
    Fault("endpoint refuses connections", _refused, "connection refused"),
    Fault("endpoint resets mid-response", _endpoint_fault("reset"), "closed mid-response"),
    Fault("endpoint answers 500", _endpoint_fault("500"), "refused the request (internal_failure)",
          bound=5.0 if _RETRIES_QUICKLY else 9.0),
    Fault("endpoint answers invalid JSON", _endpoint_fault("invalid_json"), "unreadable response"),
    Fault("revoked key: invalid_grant", _endpoint_fault("invalid_grant"), "create a new key"),
    Fault("endpoint hangs past the timeout", _hang, "timed out", bound=3.0),
    Fault("endpoint sends an endless body", _endpoint_fault("endless"), "larger than 1024 KiB"),
    Fault("endpoint declares an oversized body", _endpoint_fault("oversized"), "larger than 1024 KiB"),
    Fault("endpoint trickles an endless body", _trickle, "timed out", bound=3.0),
    Fault("proxy unreachable", _proxy_unreachable, "HTTPS_PROXY"),
    Fault("TLS: unknown CA", _unknown_ca, "REQUESTS_CA_BUNDLE or SSL_CERT_FILE"),
    Fault("ADC file missing", _adc_missing, "does not exist; run `gcloud auth application-default login`"),
    Fault("ADC file empty", _adc_file(b""), "is empty"),
    Fault("ADC file truncated", _adc_file(_USER_JSON[:40]), "not valid JSON"),
    Fault("ADC file not JSON", _adc_file(b"\x89PNG\r\n"), "not valid JSON"),
    Fault("ADC file of an unknown type", _adc_file(b'{"type": "mystery_account"}'), "cannot use these credentials"),
    Fault("ADC file without a type", _adc_file(b'{"client_id": "x"}'), "no credential"),
    Fault("ADC path is a directory", _adc_directory, "is a directory, not a file", not_says="permission"),
    Fault("ADC file unreadable", _adc_unreadable, "(permission denied); make it readable", not_says="directory"),
    Fault("ADC path under a file", _adc_under_a_file, "a folder in its path is a file", not_says="permission"),
    Fault("ADC user file missing fields", _adc_file(b'{"type": "authorized_user"}'), "cannot use these credentials"),
    Fault("secret is garbage", _secret("%%%garbage, not base64%%%"), "KEYRINGS_GAR_JSON_KEY_BASE64 is not base64",
          username="_json_key_base64"),
    Fault("secret is empty", _secret(""), "KEYRINGS_GAR_JSON_KEY_BASE64 is empty", username="_json_key_base64"),
    Fault("secret is base64 of non-JSON", _secret(base64.b64encode(b"just some text").decode()),
          "KEYRINGS_GAR_JSON_KEY_BASE64 does not decode to JSON", username="_json_key_base64"),
    Fault("secret is not a service-account key", _secret(base64.b64encode(_USER_JSON).decode()),
          "KEYRINGS_GAR_JSON_KEY_BASE64 holds JSON of type 'authorized_user'"),
    Fault("metadata server absent", _metadata_absent, "no Google credentials found", bound=2.0),
    Fault("metadata server slow", _metadata("vm@acme.iam.gserviceaccount.com", latency=3.0),
          "no Google credentials found", bound=2.0),
    # google-auth retries a failing metadata server for 15 s; the timeout holds regardless.
    Fault("metadata server errors", _metadata("vm@acme.iam.gserviceaccount.com", fault="500", fault_on="/token",
                                              timeout="1"),
          "timed out after 1 s" if _RETRIES_QUICKLY else "answered with an error", bound=3.0),
]

_CLEANUPS: list[Callable[[], None]] = []


@pytest.fixture(autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    while _CLEANUPS:
        _CLEANUPS.pop()()


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_is_a_quick_none_with_one_clear_line_and_no_secret(
    google: Identities, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str], *, fault: Fault,
) -> None:
    fault.setup(google, monkeypatch, tmp_path)
    backend = GarKeyring()
    texts: list[str] = []
    # Every logger at DEBUG, as a user debugging their own code sets them (tests/test_hygiene.py):
    # the failed lookup, and then one of each kind with the reprs of what they build, show no secret.
    with all_loggers_at_debug() as handler:
        started = time.monotonic()
        with caplog.at_level(logging.DEBUG):
            assert backend.get_password(AR_URL, fault.username) is None
        elapsed = time.monotonic() - started
        records = list(caplog.records)  # the lookup's own; observe() adds more
        observe(texts)
    captured = capfd.readouterr()
    assert any("keyrings.gar:" in line for line in handler.lines)  # the refusal reached the handler
    assert_no_secrets(google, *handler.lines, *texts, captured.out, captured.err,
                      extra=("%%%garbage, not base64%%%",))
    assert elapsed < fault.bound
    lines = [r for r in records if r.name == "keyrings_gar" and r.levelno >= logging.WARNING]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    [line] = lines
    assert fault.says in line.getMessage()
    assert fault.not_says not in line.getMessage()
    assert line.exc_info is None
    assert all(r.levelno < logging.WARNING for r in records if not r.name.startswith("keyrings_gar"))


@pytest.mark.parametrize("fault", [f for f in FAULTS if f.name in {
    "endpoint hangs past the timeout", "ADC file truncated", "revoked key: invalid_grant", "secret is garbage",
    "endpoint refuses connections", "secret is not a service-account key",
}], ids=lambda f: f.name)
def test_fault_through_the_keyring_command_prints_one_line_and_no_traceback(
    google: Identities, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fault: Fault
) -> None:
    fault.setup(google, monkeypatch, tmp_path)
    started = time.monotonic()
    result = subprocess.run([KEYRING, "get", AR_URL, fault.username], capture_output=True, text=True, timeout=60,
                            env=dict(os.environ), stdin=subprocess.DEVNULL, check=False)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("keyrings.gar: ")
    assert fault.says in line
    assert elapsed < fault.bound + 2  # a process start on top of the in-process bound


def test_metadata_server_that_works_gives_its_token(google: Identities, monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    _metadata("vm@acme.iam.gserviceaccount.com")(google, monkeypatch, tmp_path)
    token = GarKeyring().get_password(AR_URL, "oauth2accesstoken")
    assert token is not None
    assert google.google.identity_of(token) == "vm@acme.iam.gserviceaccount.com"


def test_ca_bundle_from_ssl_cert_file_is_honoured(google: Identities, monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    ca = trustme.CA()
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with FakeGoogle(ssl_context=context) as server:
        server.add_service_account(google.sa_key)
        _with_key(google, monkeypatch, tmp_path, token_uri=f"{server.url}/token")
        bundle = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(bundle))
        monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
        token = GarKeyring().get_password(AR_URL, "oauth2accesstoken")
        assert token is not None
        assert server.identity_of(token) == google.sa_key.email
