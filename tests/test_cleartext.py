"""A refused plain-http or bare Artifact Registry lookup stops keyring's chain: the backend after
ours (Google's plugin answers any `*.pkg.dev` host over any scheme) is never asked for it.

The real plugin is driven by real pip and uv in tests/e2e/test_google_plugin.py; here a backend
that matches services exactly as its `keyrings/gauth.py` does sits after ours in keyring's real
chainer, and counts what it is asked.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import urlparse

import keyring
import keyring.backend
import keyring.backends.chainer
import pytest
from keyring.credentials import SimpleCredential

from keyrings_gar.backend import GarKeyring
from keyrings_gar.cleartext import unsafe_pkg_dev_host
from keyrings_gar.hosts import MAX_SERVICE_LENGTH
from tests.conftest import AR_HOST, AR_URL, Identities, assert_no_secrets

HTTP_URL = AR_URL.replace("https://", "http://")
UNSAFE_FORMS = [
    HTTP_URL, f"http://oauth2accesstoken@{AR_HOST}/acme-prod/team-repo/simple/", f"HTTP://{AR_HOST.upper()}/",
    f"http://{AR_HOST}", f"http://{AR_HOST}:80", f"ws://{AR_HOST}/", f"ftp://{AR_HOST}/x", f"//{AR_HOST}/x",
    AR_HOST, f"{AR_HOST}:443", f"{AR_HOST}:80", f"oauth2accesstoken@{AR_HOST}", f"{AR_HOST}/acme-prod/team-repo",
    f"{AR_HOST}.", "http://us-docker.pkg.dev/p/r", "us-docker.pkg.dev", "http://evil.example@us-npm.pkg.dev/",
]
OTHER_BACKENDS_FORMS = [
    "http://pypi.example/simple/", "pypi.example", "https://us-docker.pkg.dev/p/r", f"https://{AR_HOST}:8443/",
    f"http://{AR_HOST}.evil.example/", f"http://evil.example/{AR_HOST}/", f"https://evil.example/?{AR_HOST}",
    f"http://{AR_HOST}@evil.example/", "python-poetry-check",
]


class GooglePluginAlike(keyring.backend.KeyringBackend):
    """keyrings.google-artifactregistry-auth's matching and answer: a token for any `*.pkg.dev` host."""

    priority = 9  # as its gauth.py declares
    # keyring registers every backend class it sees: never viable for its own discovery, so that no
    # other test's chain holds it. The fixture below hands it to the chainer itself.
    viable = False

    def __init__(self) -> None:
        self.asked: list[str] = []

    def get_password(self, service: str, username: str) -> str | None:
        self.asked.append(service)
        hostname = urlparse(service).hostname
        return "ya29.google-plugin-token" if hostname is not None and hostname.endswith(".pkg.dev") else None

    def get_credential(self, service: str, username: str | None) -> SimpleCredential | None:
        password = self.get_password(service, username or "")
        return SimpleCredential("oauth2accesstoken", password) if password is not None else None

    def set_password(self, service: str, username: str, password: str) -> None:
        raise NotImplementedError

    def delete_password(self, service: str, username: str) -> None:
        raise NotImplementedError


@pytest.fixture
def google_plugin(google: Identities, monkeypatch: pytest.MonkeyPatch) -> Iterator[GooglePluginAlike]:
    """keyring's chainer with keyrings.gar and, after it, Google's plugin; every credential ours could use."""
    plugin = GooglePluginAlike()
    monkeypatch.setattr(keyring.backends.chainer.ChainerBackend, "backends", [GarKeyring(), plugin])
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", google.sa_key.base64)
    keyring.set_keyring(keyring.backends.chainer.ChainerBackend())
    try:
        yield plugin
    finally:
        keyring.core.init_backend()


@pytest.mark.parametrize("service", UNSAFE_FORMS)
@pytest.mark.parametrize("username", ["oauth2accesstoken", "_json_key_base64", None])
def test_cleartext_lookup_gets_an_empty_password_and_the_next_backend_is_never_asked(
    google: Identities, google_plugin: GooglePluginAlike, service: str, username: str | None
) -> None:
    credential = keyring.get_credential(service, username)
    assert credential is not None
    assert (credential.username, credential.password) == (username or "", "")
    if username is not None:
        assert keyring.get_password(service, username) == ""
    assert google_plugin.asked == []
    assert google.google.grants == []


@pytest.mark.parametrize("service", OTHER_BACKENDS_FORMS)
def test_other_services_still_reach_the_next_backend(google_plugin: GooglePluginAlike, service: str) -> None:
    """Only cleartext and bare `*.pkg.dev` forms are stopped: an https Docker repository is Google's
    plugin's to answer (over TLS), and other hosts are every other backend's."""
    keyring.get_password(service, "oauth2accesstoken")
    keyring.get_credential(service, None)
    assert google_plugin.asked == [service, service]


def test_https_lookups_are_answered_by_us_and_never_reach_the_next_backend(
    google: Identities, google_plugin: GooglePluginAlike
) -> None:
    token = keyring.get_password(AR_URL, "oauth2accesstoken")
    assert token is not None
    assert google.google.identity_of(token) == google.sa_key.email
    assert google_plugin.asked == []


def test_the_refusal_is_one_line_naming_the_host_and_the_fix(
    google: Identities, google_plugin: GooglePluginAlike, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="keyrings_gar"):
        keyring.get_password(f"http://oauth2accesstoken:{google.sa_key.base64}@{AR_HOST}/p/r/simple/", "x")
    [record] = [r for r in caplog.records if r.name == "keyrings_gar"]
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert AR_HOST in message
    assert "keyring is the one asked for it: remove it from the URL" in message
    assert_no_secrets(google, caplog.text)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="keyrings_gar"):
        keyring.get_password(HTTP_URL, "oauth2accesstoken")
    [record] = [r for r in caplog.records if r.name == "keyrings_gar"]
    assert "use https://" in record.getMessage()


def test_a_refused_url_reads_no_failure_memory(
    google: Identities, google_plugin: GooglePluginAlike, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a bare host is quieted by a URL's failure moments ago: a URL's refusal has no use for it."""
    read: list[str] = []

    def was_explained(folder: object, host: str) -> bool:
        read.append(host)
        return False

    monkeypatch.setattr("keyrings_gar.failures.was_explained", was_explained)
    keyring.get_password(HTTP_URL, "oauth2accesstoken")
    assert read == []
    keyring.get_password(AR_HOST, "oauth2accesstoken")
    assert len(read) == 1


@pytest.mark.parametrize(("service", "host"), [
    (HTTP_URL, AR_HOST), (AR_HOST, AR_HOST), (f"{AR_HOST.upper()}:443", AR_HOST), (AR_URL, None),
    ("https://us-docker.pkg.dev/p/r", None), ("http://pypi.example/", None), ("http://[::1/", None),
    ("x" * 5000 + ".pkg.dev", "x" * 5000 + ".pkg.dev"),
])
def test_unsafe_pkg_dev_host_reads_the_host_as_google_s_plugin_does(service: str, host: str | None) -> None:
    assert unsafe_pkg_dev_host(service) == host


# An on-path attacker's link of any length: no bound comes before the scheme is looked at.
_PAD = "a" * (MAX_SERVICE_LENGTH + 100)
LONG_UNSAFE_FORMS = [f"{HTTP_URL}pkg/pkg-1.0.tar.gz?{_PAD}", f"{HTTP_URL}{'x/' * 3000}", f"{AR_HOST}/{_PAD}",
                     f"http://{AR_HOST}/#{'a' * 200_000}", f"{HTTP_URL}?{'a' * (MAX_SERVICE_LENGTH - len(HTTP_URL))}"]


@pytest.mark.parametrize("service", LONG_UNSAFE_FORMS)
def test_an_over_long_cleartext_service_gets_the_empty_password_too(
    google: Identities, google_plugin: GooglePluginAlike, caplog: pytest.LogCaptureFixture, service: str
) -> None:
    assert len(service) > MAX_SERVICE_LENGTH
    with caplog.at_level(logging.DEBUG, logger="keyrings_gar"):
        assert keyring.get_password(service, "oauth2accesstoken") == ""
    [line] = [r.getMessage() for r in caplog.records if r.name == "keyrings_gar"]
    assert "use https://" in line
    assert len(line) < 600
    credential = keyring.get_credential(service, None)
    assert credential is not None
    assert credential.password == ""
    assert google_plugin.asked == []
    assert google.google.grants == []


def test_an_over_long_https_service_is_still_left_to_other_backends(google_plugin: GooglePluginAlike) -> None:
    """Over TLS the answer is safe: a long https link is not ours (no repository URL is that long)."""
    service = f"{AR_URL}pkg/pkg-1.0.tar.gz?{_PAD}"
    keyring.get_password(service, "oauth2accesstoken")
    assert google_plugin.asked == [service]
