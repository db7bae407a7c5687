"""A loopback plain-HTTP forward proxy playing an on-path attacker, for cleartext-downgrade tests.

Clients reach `http://us-central1-python.pkg.dev/...` through it (`HTTP_PROXY=http://127.0.0.1:PORT`),
as they would reach the real host through any network that can read plain http: a café Wi-Fi, a
compromised router, a corporate proxy. It never relays anything anywhere. It answers every request
the way Artifact Registry answers one without credentials, `401` with a Basic challenge, so that
installers go and ask keyring, and it records every request and whether it carried an
`Authorization` header: whatever it records has travelled without TLS. A `CONNECT` (https) gets 403:
this attacker cannot break TLS, and the tests are about what travels without it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import ThreadingHTTPServer

from .registry import basic_credentials
from .serving import BackgroundServer, QuietHandler

_MAX_BODY_BYTES = 1 << 20


@dataclass(frozen=True)
class Overheard:
    """One request as the attacker saw it; `authorization` is the header's value, if any."""

    method: str
    target: str
    authorization: str | None

    @property
    def username_only(self) -> bool:
        """Whether the header is Basic auth with a username and an empty password."""
        credentials = basic_credentials(self.authorization)
        return credentials is not None and credentials[1] == ""

    def describe(self) -> str:
        """The request for a failure message: the username and the secret's last four characters only."""
        if self.authorization is None:
            return f"{self.method} {self.target} (no credential)"
        credentials = basic_credentials(self.authorization)
        if credentials is None:
            return f"{self.method} {self.target} with a non-Basic Authorization header …{self.authorization[-4:]}"
        return f"{self.method} {self.target} with {credentials[0]} / …{credentials[1][-4:]}"


class OnPathProxy(BackgroundServer):
    """The attacker and what it overheard. Use as a context manager or call start()/stop()."""

    _server: _Server

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.overheard: list[Overheard] = []
        self.refused_tunnels: list[str] = []
        self._lock = threading.Lock()
        self._server = _Server((host, port), _Handler)
        self._server.onpath = self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def secrets_seen(self) -> list[Overheard]:
        """Every request whose Authorization header held more than a username: each one a leak.

        pip sends the username written in the index URL with an empty password when nobody gives
        it one (`Basic base64("oauth2accesstoken:")`): that is what the user wrote in a plain-http
        URL, not a credential anyone handed out, so it is not counted."""
        with self._lock:
            return [request for request in self.overheard
                    if request.authorization is not None and not request.username_only]

    def _record(self, request: Overheard) -> None:
        with self._lock:
            self.overheard.append(request)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    onpath: OnPathProxy


class _Handler(QuietHandler):
    server: _Server

    def do_CONNECT(self) -> None:
        with self.server.onpath._lock:
            self.server.onpath.refused_tunnels.append(self.path[:200])
        self._answer(403, {"Connection": "close"})

    def _challenge(self) -> None:
        length = int(self.headers.get("Content-Length", "0") or 0)
        # An upload's body is read, so that the client sees the 401; past the bound, the
        # connection is closed rather than read on.
        self.rfile.read(min(length, _MAX_BODY_BYTES))
        self.server.onpath._record(Overheard(self.command, self.path[:500], self.headers.get("Authorization")))
        headers = {"WWW-Authenticate": 'Basic realm="Artifact Registry"'}
        if length > _MAX_BODY_BYTES:
            headers["Connection"] = "close"
        self._answer(401, headers)

    def do_GET(self) -> None:
        self._challenge()

    def do_HEAD(self) -> None:
        self._challenge()

    def do_POST(self) -> None:
        self._challenge()

    def do_PUT(self) -> None:
        self._challenge()

    def _answer(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if headers.get("Connection") == "close":
            self.close_connection = True
