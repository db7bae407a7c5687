"""What every loopback stand-in shares: a socket server run in a daemon thread."""

from __future__ import annotations

import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any, TypeVar

_Self = TypeVar("_Self", bound="BackgroundServer")


class BackgroundServer:
    """`start()`/`stop()` and a context manager around `self._server`, set by the subclass."""

    _server: socketserver.BaseServer

    def start(self: _Self) -> _Self:
        # A short poll interval: stop() (and so every test's teardown) waits for one poll.
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self: _Self) -> _Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 (keep-alive, as real clients expect) and no access log on stderr."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class signature
        pass
