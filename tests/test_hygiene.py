"""No secret anywhere: every happy path here, and every fault scenario inside the fault matrix
(tests/test_faults.py, with these helpers), with every logger at DEBUG.

Captured: all log records (message, arguments, any traceback, and every other attribute: the
`extra` fields where google-auth puts request bodies and headers), the plugin's stdout/stderr, the
CLI's output, every exception message, and the repr and str of every object the plugin creates.
None of it may hold a token, a signed JWT assertion, a fragment of the `_json_key_base64` secret,
or a line of a private key.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import keyring
import keyring.cli
import keyring.core
import pytest

from keyrings_gar import cache
from keyrings_gar.backend import GarKeyring
from keyrings_gar.command import cli
from keyrings_gar.config import load_settings
from keyrings_gar.configfile import entry_for
from keyrings_gar.errors import GarError
from keyrings_gar.failures import FailureMemory
from keyrings_gar.hosts import parse_service
from keyrings_gar.search import find_json_key, find_token_source
from tests.conftest import AR_HOST, AR_URL, Identities, assert_no_secrets, console_script, use_metadata_server


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))  # includes any exc_info as formatted text
        # Every attribute, not only the message: `extra` fields become attributes of the record.
        self.lines += [f"{name}={value!r}" for name, value in vars(record).items()]


# Set to DEBUG one by one, as a user debugging their own code would: a level set on a child logger
# holds whatever its parents say.
_USER_DEBUG_LOGGERS = ("", "google", "google.auth", "google.auth.transport.requests", "google.oauth2",
                       "urllib3", "urllib3.connectionpool", "requests")


@contextlib.contextmanager
def all_loggers_at_debug() -> Iterator[_Everything]:
    handler = _Everything()
    # google-auth stops propagation at "google" unless that logger is configured: configure it.
    targets = [logging.getLogger(name) for name in _USER_DEBUG_LOGGERS]
    saved = [(logger, logger.level) for logger in targets]
    for logger in targets:
        logger.setLevel(logging.DEBUG)
    for logger in targets[:2]:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger, level in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)


def fresh_start() -> None:
    """Each scenario starts with no cached token and no remembered failure (its sources may be
    the previous scenario's, which failed on purpose)."""
    cache._memory.clear()
    FailureMemory(load_settings().cache_dir).clear()


def _impersonated_adc(google: Identities, directory: Path) -> Path:
    """An ADC file that impersonates a deployer with the user's login: the source token travels."""
    target = "deployer@acme-prod.iam.gserviceaccount.com"
    path = directory / "impersonated.json"
    path.write_text(json.dumps({
        "type": "impersonated_service_account",
        "service_account_impersonation_url":
            f"{google.google.url}/v1/projects/-/serviceAccounts/{target}:generateAccessToken",
        "source_credentials": json.loads(google.user.adc_json(google.google.token_uri)),
        "delegates": [],
    }))
    return path


def observe(texts: list[str]) -> None:
    """One lookup of each kind, plus the repr/str of every object the plugin builds on the way."""
    backend = GarKeyring()
    texts.append(repr(backend))
    for username in ("oauth2accesstoken", "_json_key_base64", "_json_key", "someone"):
        backend.get_password(AR_URL, username)  # the answer itself is the credential: not observed
    credential = backend.get_credential(AR_URL, None)
    texts += [repr(credential), str(credential)]
    target = parse_service(AR_URL)
    assert target is not None
    texts += [repr(target), str(target)]
    for build in (load_settings, lambda: entry_for(target), lambda: find_token_source(load_settings()),
                  lambda: find_json_key(load_settings()), lambda: cache.TokenCache(load_settings().cache_dir).entries(),
                  lambda: list(cache._memory.values())):
        try:
            made = build()
        except GarError as exc:
            texts.append(str(exc))
        else:
            texts += [repr(made), str(made)]


def test_no_secret_in_logs_output_errors_or_reprs_on_every_happy_path(
    google: Identities, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    texts: list[str] = []
    with all_loggers_at_debug() as handler:
        token_file = tmp_path / "gar_token"
        token_file.write_text(google.google.issue("ci@acme-prod.iam.gserviceaccount.com").value + "\n")
        happy_paths = {
            "pre-minted token variable": {"KEYRINGS_GAR_ACCESS_TOKEN": google.google.issue("ci@example.com").value},
            "pre-minted token file": {"CLOUDSDK_AUTH_ACCESS_TOKEN_FILE": str(token_file)},
            "gcloud's pre-minted token variable": {"CLOUDSDK_AUTH_ACCESS_TOKEN":
                                                   google.google.issue("ci@example.com").value},
            "service-account key": {"GOOGLE_APPLICATION_CREDENTIALS": str(google.sa_key_file)},
            "user ADC": {"GOOGLE_APPLICATION_CREDENTIALS": str(google.user_adc_file)},
            "impersonated ADC": {"GOOGLE_APPLICATION_CREDENTIALS": str(_impersonated_adc(google, tmp_path))},
            "secret, plain": {"KEYRINGS_GAR_JSON_KEY_BASE64": google.sa_key.base64},
            "secret, percent-encoded": {"KEYRINGS_GAR_JSON_KEY_BASE64": quote(google.sa_key.base64, safe="")},
            "secret, gcloud URL": {"KEYRINGS_GAR_JSON_KEY_BASE64":
                                   f"https://_json_key_base64:{google.sa_key.base64}@us-central1-python.pkg.dev/p/r/"},
        }
        for environ in happy_paths.values():
            with monkeypatch.context() as patch:
                for name, value in environ.items():
                    patch.setenv(name, value)
                fresh_start()
                observe(texts)
                for args in (["-v", "doctor", AR_URL], ["doctor", "--json", AR_URL], ["cache", "show"],
                             ["cache", "show", "--json"], ["settings", "pip", AR_URL], ["settings", "uv", AR_URL],
                             ["settings", "poetry", AR_URL], ["settings", "twine", AR_URL]):
                    cli.main(args)
        with monkeypatch.context() as patch:
            google.google.metadata_email = "vm@acme-prod.iam.gserviceaccount.com"
            use_metadata_server(patch, f"127.0.0.1:{google.google.port}")
            fresh_start()
            observe(texts)
    captured = capfd.readouterr()

    # The scenarios really ran: tokens were minted.
    assert len(google.google.tokens) >= 6  # key file, user, impersonation (two), secret, metadata
    assert google.google.assertions  # signed JWTs were sent, and looked for
    assert_no_secrets(google, *handler.lines, *texts, captured.out, captured.err)


# --- a key pasted where a path belongs (GOOGLE_APPLICATION_CREDENTIALS, key_file, ...) ---------


class _EveryAttribute(logging.Handler):
    """Every record whole: its formatted line and the repr of each attribute, so that a secret in
    `args`, an `extra` field or an exception object is seen even if no formatter would print it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.texts += [f"{name}={value!r}" for name, value in vars(record).items()]


@contextlib.contextmanager
def _every_record() -> Iterator[_EveryAttribute]:
    handler = _EveryAttribute()
    targets = [logging.getLogger(), logging.getLogger("google")]
    saved = [(logger, logger.level) for logger in targets]
    for logger in targets:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        for logger, level in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)


def _pasted_key_setups(google: Identities, config_file: Path) -> dict[str, Callable[[pytest.MonkeyPatch], None]]:
    """Each place a user pastes the key (or gcloud's URL holding it) instead of a path."""
    b64 = google.sa_key.base64
    key_json = google.sa_key.key_json.decode()
    one_line_json = json.dumps(json.loads(key_json))
    url = f"https://_json_key_base64:{b64}@us-central1-python.pkg.dev/acme-prod/team-repo/simple/"

    def env(name: str, value: str) -> Callable[[pytest.MonkeyPatch], None]:
        return lambda patch: patch.setenv(name, value)

    def config(key: str, value: str) -> Callable[[pytest.MonkeyPatch], None]:
        def write(_patch: pytest.MonkeyPatch) -> None:
            config_file.write_text(f"[{AR_HOST}]\n{key} = {value}\n")
        return write

    return {
        "GOOGLE_APPLICATION_CREDENTIALS=base64": env("GOOGLE_APPLICATION_CREDENTIALS", b64),
        "GOOGLE_APPLICATION_CREDENTIALS=JSON": env("GOOGLE_APPLICATION_CREDENTIALS", key_json),
        "GOOGLE_APPLICATION_CREDENTIALS=URL": env("GOOGLE_APPLICATION_CREDENTIALS", url),
        "CLOUDSDK_CONFIG=base64": env("CLOUDSDK_CONFIG", b64),
        "KEYRINGS_GAR_CONFIG=base64": env("KEYRINGS_GAR_CONFIG", b64),
        "KEYRINGS_GAR_CACHE_DIR=base64": env("KEYRINGS_GAR_CACHE_DIR", b64),
        "key_file=base64": config("key_file", b64),
        "key_file=JSON": config("key_file", one_line_json),
        "json_key_base64_file=base64": config("json_key_base64_file", b64),
        "json_key_base64_file=URL": config("json_key_base64_file", url),
        "json_key_base64_env=base64": config("json_key_base64_env", b64),
    }


def _json_windows(google: Identities) -> tuple[str, ...]:
    """The key JSON in overlapping windows, as it would appear if echoed (the base64 windows and
    private key lines of `assert_no_secrets` cover the other forms)."""
    text = google.sa_key.key_json.decode()
    return tuple(text[i:i + 32] for i in range(0, len(text) - 32, 16) if "private_key" in text[i - 200:i + 232])


def test_a_pasted_key_is_never_echoed_by_lookups_doctor_or_the_keyring_command(
    google: Identities, monkeypatch: pytest.MonkeyPatch, isolated: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    config_file = isolated / ".config" / "python_keyring" / "keyrings-gar.cfg"
    config_file.parent.mkdir(parents=True)
    keyring_command = console_script("keyring")
    texts: list[str] = []
    explained = named = through_keyring = 0
    codes: list[int] = []
    setups = _pasted_key_setups(google, config_file)
    first = next(iter(setups.values()))
    with _every_record() as handler:
        for setup in setups.values():
            with monkeypatch.context() as patch:
                config_file.write_text("")
                setup(patch)
                cache._memory.clear()
                before = len(handler.lines)
                try:
                    observe(texts)
                # An escaping exception is a failure too, but its text may be the secret: it is
                # searched like every other text, so that pytest never prints it.
                except Exception as exc:
                    texts.append(f"{type(exc).__name__}: {exc}")
                explained += any("holds what looks like a key itself" in line for line in handler.lines[before:])
                # keyring's own API in process, through its chainer as installers' import provider calls it.
                keyring.core.init_backend()
                before = len(handler.lines)
                assert keyring.get_password(AR_URL, "oauth2accesstoken") is None
                texts.append(repr(keyring.get_credential(AR_URL, None)))
                through_keyring += any("holds what looks like a key" in line for line in handler.lines[before:])
                for args in (["-v", "doctor", AR_URL], ["doctor", "--json", AR_URL], ["doctor"], ["doctor", "--json"],
                             ["cache", "show"], ["cache", "show", "--json"], ["token", AR_URL]):
                    code = cli.main(args)
                    if args[0] != "cache":  # cache show works unless the cache folder is the mistake
                        codes.append(code)
                for username in ("oauth2accesstoken", "_json_key_base64"):
                    # The `keyring` command: a process of its own for the first mistake (the entry point
                    # as installers run it, its stderr), in process for the rest (its lines are records).
                    before = len(handler.lines)
                    if setup is first:
                        result = subprocess.run([keyring_command, "get", AR_URL, username], capture_output=True,
                                                text=True, timeout=60, env=dict(os.environ),
                                                stdin=subprocess.DEVNULL, check=False)
                        exited_with: object = result.returncode
                        said = result.stderr
                        texts += [result.stdout, result.stderr]
                    else:
                        with pytest.raises(SystemExit) as exited:
                            keyring.cli.main(["get", AR_URL, username])
                        exited_with, said = exited.value.code, "\n".join(handler.lines[before:])
                    assert exited_with == 1
                    # The json key never reads gcloud's folder, so CLOUDSDK_CONFIG is not its problem.
                    named += "holds what looks like a key itself" in said
    keyring.core.init_backend()
    captured = capfd.readouterr()

    assert_no_secrets(google, *handler.lines, *handler.texts, *texts, captured.out, captured.err,
                      extra=_json_windows(google))
    assert explained == through_keyring == len(setups)  # each mistake named in one line, in process
    assert named == 2 * len(setups) - 1  # ... and by the `keyring` command
    assert captured.out.count("holds what looks like a key itself") >= 4 * len(setups)  # doctor, text and JSON
    assert google.google.grants == []
    assert codes == [1] * 5 * len(setups)  # doctor and token fail


def test_library_records_made_while_minting_carry_no_secret_and_others_pass(
    google: Identities, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """google-auth puts the JWT assertion and the impersonation source token in `extra` fields at
    DEBUG; none of those records may come out of a grant, while the same loggers still work for
    the rest of the program (their levels untouched)."""
    with all_loggers_at_debug() as handler:
        for credentials in (google.sa_key_file, _impersonated_adc(google, tmp_path)):
            monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(credentials))
            cache._memory.clear()
            assert GarKeyring().get_password(AR_URL, "oauth2accesstoken") is not None
        during = len(handler.records)
        other = threading.Thread(target=lambda: logging.getLogger("google.auth.transport.requests").debug(
            "the user's own request", extra={"httpRequest": {"url": "https://example.com/"}}))
        other.start()
        other.join()
        levels = {name: logging.getLogger(name).level for name in _USER_DEBUG_LOGGERS}
    assert len(google.google.assertions) == 1
    assert len(google.google.grants) == 3  # the key, then the user and the impersonated deployer
    assert [r.name for r in handler.records[during:]] == ["google.auth.transport.requests"] * 2
    assert set(levels.values()) == {logging.DEBUG}
    assert_no_secrets(google, *handler.lines)
