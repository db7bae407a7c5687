"""The loopback TLS proxy: real host names over verified HTTPS, and nothing but loopback."""

from __future__ import annotations

import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.loopback.google import FakeGoogle
from tests.loopback.proxy import TlsFront, TlsProxy

ROUTED = "oauth2.googleapis.com"


@pytest.fixture
def proxy() -> Iterator[TlsProxy]:
    with FakeGoogle(metadata_email="vm@acme-prod.iam.gserviceaccount.com") as google, \
            TlsProxy({ROUTED: ("127.0.0.1", google.port)}) as running:
        yield running


def _opener(proxy: TlsProxy, ca_file: Path | None) -> urllib.request.OpenerDirector:
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    return urllib.request.build_opener(urllib.request.ProxyHandler({"https": proxy.url, "http": proxy.url}),
                                       urllib.request.HTTPSHandler(context=context))


def _connect(proxy: TlsProxy, target: str) -> bytes:
    host, port = proxy.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        return raw.recv(1024)


def test_a_routed_host_is_reached_over_https_verified_by_the_private_ca(proxy: TlsProxy, tmp_path: Path) -> None:
    request = urllib.request.Request(f"https://{ROUTED}/computeMetadata/v1/instance/service-accounts/default/?recursive=true",
                                     headers={"Metadata-Flavor": "Google"})
    with _opener(proxy, proxy.write_ca(tmp_path / "ca.pem")).open(request, timeout=10) as response:
        assert response.status == 200
        assert b"vm@acme-prod" in response.read()
    assert proxy.tunnels == [f"{ROUTED}:443"]


def test_clients_that_do_not_trust_the_private_ca_fail_verification(proxy: TlsProxy, tmp_path: Path) -> None:
    other_ca = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        _opener(proxy, other_ca).open(f"https://{ROUTED}/", timeout=10)


@pytest.mark.parametrize("target", ["pypi.org:443", "us-central1-python.pkg.dev:443", f"{ROUTED}:80", "127.0.0.1:22"])
def test_every_other_connect_is_refused(proxy: TlsProxy, target: str) -> None:
    assert _connect(proxy, target).startswith(b"HTTP/1.1 403")
    assert proxy.tunnels == []
    assert proxy.refused == [f"CONNECT {target} HTTP/1.1"]


def test_plain_http_proxying_is_refused(proxy: TlsProxy) -> None:
    with pytest.raises(urllib.error.HTTPError, match="403"):
        _opener(proxy, None).open("http://example.com/", timeout=10)


def test_routes_to_anything_but_loopback_are_rejected() -> None:
    with pytest.raises(ValueError, match="only relays to loopback"):
        TlsProxy({"evil.example": ("10.0.0.1", 443)})


def test_the_front_serves_https_at_127_0_0_1_verified_by_the_private_ca(tmp_path: Path) -> None:
    """For clients that ignore proxies (hatch's uploads): TLS by address, no CONNECT, no DNS."""
    with FakeGoogle(metadata_email="vm@acme-prod.iam.gserviceaccount.com") as google, \
            TlsFront(("127.0.0.1", google.port)) as front:
        ca_file = front.write_ca(tmp_path / "ca.pem")
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(
            context=ssl.create_default_context(cafile=str(ca_file))))
        listing = "/computeMetadata/v1/instance/service-accounts/default/?recursive=true"
        request = urllib.request.Request(f"{front.url}{listing}",
                                         headers={"Metadata-Flavor": "Google"})
        with direct.open(request, timeout=10) as response:
            assert b"vm@acme-prod" in response.read()
        untrusting = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            untrusting.open(f"{front.url}/", timeout=10)


def test_a_front_to_anything_but_loopback_is_rejected() -> None:
    with pytest.raises(ValueError, match="only relays to loopback"):
        TlsFront(("192.0.2.1", 443))
