"""The loopback on-path attacker: it challenges every plain-http request and records its credentials."""

from __future__ import annotations

import base64
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.loopback.onpath import OnPathProxy

URL = "http://us-central1-python.pkg.dev/acme-prod/team-repo/simple/acme-private/"


@pytest.fixture
def onpath() -> Iterator[OnPathProxy]:
    with OnPathProxy() as attacker:
        yield attacker


def _get(onpath: OnPathProxy, authorization: str | None) -> urllib.error.HTTPError:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": onpath.url}))
    request = urllib.request.Request(URL, headers={"Authorization": authorization} if authorization else {})
    with pytest.raises(urllib.error.HTTPError) as raised:
        opener.open(request, timeout=10)
    return raised.value


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_every_request_gets_a_basic_challenge_and_is_recorded(onpath: OnPathProxy) -> None:
    error = _get(onpath, None)
    assert error.code == 401
    assert error.headers["WWW-Authenticate"].startswith("Basic ")
    assert [(r.method, r.target, r.authorization) for r in onpath.overheard] == [("GET", URL, None)]
    assert onpath.secrets_seen == []


def test_a_password_is_a_secret_seen_and_described_by_its_last_four_characters(onpath: OnPathProxy) -> None:
    _get(onpath, _basic("oauth2accesstoken", "ya29.secret-token-wxyz"))
    [seen] = onpath.secrets_seen
    assert seen.describe() == f"GET {URL} with oauth2accesstoken / …wxyz"
    assert "secret-token" not in seen.describe()


def test_the_urls_own_username_with_an_empty_password_is_not_a_secret(onpath: OnPathProxy) -> None:
    _get(onpath, _basic("oauth2accesstoken", ""))
    assert len(onpath.overheard) == 1
    assert onpath.secrets_seen == []


def test_a_tunnel_is_refused_without_connecting_anywhere(onpath: OnPathProxy) -> None:
    host, port = onpath.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(b"CONNECT us-central1-python.pkg.dev:443 HTTP/1.1\r\nHost: us-central1-python.pkg.dev:443\r\n\r\n")
        assert raw.recv(1024).startswith(b"HTTP/1.1 403")
    assert onpath.refused_tunnels == ["us-central1-python.pkg.dev:443"]
    assert onpath.overheard == []
