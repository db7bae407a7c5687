"""A loopback HTTPS forward proxy that lets real clients reach real host names here.

Clients set `HTTPS_PROXY=http://127.0.0.1:PORT` and trust a private CA (SSL_CERT_FILE,
REQUESTS_CA_BUNDLE, PIP_CERT). For `CONNECT host:443` to a host in `routes`, the proxy answers
200, terminates TLS with a certificate for that host signed by its CA (trustme), and relays the
decrypted bytes to the plain-HTTP loopback server that plays the host. Every other CONNECT, and
every plain-HTTP proxy request, is refused: the proxy never connects anywhere but loopback.

`TlsFront` is the same TLS termination without the CONNECT step, for a client that ignores proxy
settings (hatch's uploads): it listens on 127.0.0.1 with a certificate for that address.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import socketserver
import ssl
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import trustme

from .serving import BackgroundServer

IDLE_TIMEOUT_SECONDS = 60.0
_MAX_HEADER_BYTES = 16384


class _TlsTerminator(BackgroundServer):
    """A CA, a server-side TLS context with its certificate, and the open tunnels (closed on stop)."""

    def __init__(self, names: list[str], ca: trustme.CA | None) -> None:
        self.ca = ca if ca is not None else trustme.CA()
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.set_alpn_protocols(["http/1.1"])
        self.ca.issue_cert(*names).configure_cert(self.context)
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()

    def write_ca(self, path: Path) -> Path:
        """The CA certificate as PEM, for SSL_CERT_FILE / REQUESTS_CA_BUNDLE / PIP_CERT."""
        self.ca.cert_pem.write_to_path(str(path))
        return path

    def stop(self) -> None:
        super().stop()
        with self._lock:
            for connection in self._connections:
                connection.close()

    def terminate(self, connection: socket.socket, target: tuple[str, int]) -> None:
        """TLS with the client on `connection`, the decrypted bytes relayed to `target`."""
        try:
            client = self.context.wrap_socket(connection, server_side=True)
        except (ssl.SSLError, OSError):
            return  # the client did not trust our CA, or went away: nothing to relay
        try:
            upstream = socket.create_connection(target, timeout=IDLE_TIMEOUT_SECONDS)
        except OSError:
            client.close()
            return  # the loopback server behind this host is gone (stopped first)
        with self._lock:
            self._connections.add(client)
        try:
            _relay(client, upstream)
        finally:
            with self._lock:
                self._connections.discard(client)
            upstream.close()
            client.close()


class TlsProxy(_TlsTerminator):
    """The proxy and its CA. Use as a context manager or call start()/stop()."""

    _server: _Server

    def __init__(self, routes: Mapping[str, tuple[str, int]], ca: trustme.CA | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        for name, (address, _port) in routes.items():
            if not ipaddress.ip_address(address).is_loopback:
                raise ValueError(f"route {name} -> {address}: the proxy only relays to loopback")
        self.routes = {name.lower(): target for name, target in routes.items()}
        super().__init__(list(self.routes), ca)
        self.tunnels: list[str] = []  # the host of every CONNECT relayed
        self.refused: list[str] = []  # the request line of everything refused
        self._server = _Server((host, port), _Handler)
        self._server.proxy = self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"


class TlsFront(_TlsTerminator):
    """HTTPS at `https://127.0.0.1:PORT/` straight into one loopback server, with a certificate for
    127.0.0.1 from the CA. For clients that never use a proxy: they connect here by address, so
    nothing but loopback is ever resolved or reached."""

    _server: _FrontServer

    def __init__(self, target: tuple[str, int], ca: trustme.CA | None = None) -> None:
        if not ipaddress.ip_address(target[0]).is_loopback:
            raise ValueError(f"{target[0]}: the front only relays to loopback")
        super().__init__(["127.0.0.1"], ca)
        self.target = target
        self._server = _FrontServer(("127.0.0.1", 0), _FrontHandler)
        self._server.front = self

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}"


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: TlsProxy


class _Handler(socketserver.BaseRequestHandler):
    server: _Server
    request: socket.socket

    def handle(self) -> None:
        proxy = self.server.proxy
        self.request.settimeout(IDLE_TIMEOUT_SECONDS)
        request_line = self._read_head()
        parts = request_line.split()
        target = None
        if len(parts) == 3 and parts[0].upper() == "CONNECT":
            host, _, port = parts[1].rpartition(":")
            target = proxy.routes.get(host.lower()) if port == "443" else None
        if target is None:
            with proxy._lock:
                proxy.refused.append(request_line[:200])
            self.request.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        with proxy._lock:
            proxy.tunnels.append(parts[1].lower())
        self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        proxy.terminate(self.request, target)

    def _read_head(self) -> str:
        """The request line; reads exactly up to the blank line (the TLS handshake follows)."""
        head = b""
        while b"\r\n\r\n" not in head and len(head) < _MAX_HEADER_BYTES:
            chunk = self.request.recv(1)
            if not chunk:
                break
            head += chunk
        return head.split(b"\r\n", 1)[0].decode("latin-1")


class _FrontServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    front: TlsFront


class _FrontHandler(socketserver.BaseRequestHandler):
    server: _FrontServer
    request: socket.socket

    def handle(self) -> None:
        self.request.settimeout(IDLE_TIMEOUT_SECONDS)
        self.server.front.terminate(self.request, self.server.front.target)


def _relay(client: ssl.SSLSocket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes or both stay idle too long."""
    while True:
        # Decrypted bytes already inside the TLS object do not make the socket readable.
        if client.pending():
            readable: list[Any] = [client]
        else:
            readable, _, _ = select.select([client, upstream], [], [], IDLE_TIMEOUT_SECONDS)
        if not readable:
            return
        try:
            for source in readable:
                sink = upstream if source is client else client
                data = source.recv(65536)
                if not data:
                    return
                sink.sendall(data)
        except (OSError, ValueError):
            return  # either side reset, or stop() closed the socket under us
