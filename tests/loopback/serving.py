"""What every loopback stand-in shares: a socket server run in a daemon thread."""

from __future__ import annotations

import socketserver
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from typing import Any, TypeVar

_Self = TypeVar("_Self", bound="BackgroundServer")


class BackgroundServer:
    """`start()`/`stop()` and a context manager around `self._server`, set by the subclass."""

    _server: socketserver.BaseServer

    def start(self: _Self) -> _Self:
        server: Any = self._server  # an instance attribute in place of socketserver's method
        server.handle_error = _quiet_about_disconnects(server.handle_error)
        # A short poll interval: stop() (and so every test's teardown) waits for one poll.
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self: _Self) -> _Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_together(*servers: BackgroundServer | None) -> None:
    """Stop the servers at once: each stop waits for its own loop's next poll."""
    with ThreadPoolExecutor() as pool:
        for stopped in [pool.submit(server.stop) for server in servers if server is not None]:
            stopped.result()


def _quiet_about_disconnects(handle_error: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    """socketserver prints a traceback for every error in a handler; a client that hangs up mid-request
    (an installer giving up, Ctrl-C on curl) is normal for a server and filled the console of
    `python -m tests.loopback` with ConnectionResetError tracebacks. Anything else is still printed."""

    def quiet(request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # reset, broken pipe, aborted
            handle_error(request, client_address)

    return quiet


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 (keep-alive, as real clients expect) and no access log on stderr."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class signature
        pass
