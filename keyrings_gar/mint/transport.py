"""google-auth's HTTP for one token grant: one deadline for every call and a size bound on every answer.

Imported only by a cold token lookup: it imports requests and google-auth at module level, which
most keyring calls (other hosts, warm cache) must not pay for.

google-auth's own requests transport reads each body whole (`response.content`) and logs what it
sends and receives; an endless token-endpoint body then filled memory, in a thread that kept
reading after the lookup had given up. Here the body is read in pieces against both a byte bound
and the deadline, and nothing is logged.

No redirect is followed. Google's token, STS, IAM and metadata endpoints never redirect, and
requests reads every redirect's body whole before it follows one (outside any bound, endless or a
gzip bomb) and re-sends a POST body (a signed assertion, a subject token) to wherever a 307/308
points, even from https to http. A 3xx is refused unread.
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import google.auth.exceptions
import google.auth.transport
import requests
import requests.auth
import urllib3.exceptions

from ..config import ca_bundle_variable
from ..errors import AnswerTooLargeError, RedirectedError, TokenError, UnreachableError
from .trust import host_of

# A token answer is about 1 KiB, a metadata-server answer less; an IAM error a few KiB.
RESPONSE_LIMIT = 1024 * 1024
_CHUNK = 16 * 1024
# Without any read1 (urllib3 before 2.3 on a compressed body), read(n) waits for all n bytes:
# small pieces keep a trickling body close to the deadline.
_SLOW_CHUNK = 1024
_TOO_LARGE = f"the answer is larger than {RESPONSE_LIMIT // 1024} KiB"


class BoundedResponse(NamedTuple):
    """What google-auth reads from a response (it only reads these, never checks the type): status,
    headers and the (bounded) body."""

    status: int
    headers: Mapping[str, str]
    data: bytes


class BoundedTransportError(google.auth.exceptions.TransportError):
    """Why this transport gave up: `cause` is an errors.UnreachableError's, "too large" (past
    RESPONSE_LIMIT) or "redirect"; the message is the library's own, as google-auth's would be."""

    def __init__(self, cause: str, message: object) -> None:
        super().__init__(message)
        self.cause = cause


class RedirectRefusedError(BoundedTransportError):
    def __init__(self, url: str, status: int) -> None:
        self.endpoint, self.status = host_of(url), status
        super().__init__("redirect", f"{self.endpoint} answered HTTP {status} (a redirect), not followed")


# The first of these types in an error's chain names its cause (proxy before TLS: a proxy's TLS).
_CAUSES: tuple[tuple[str, tuple[type[BaseException], ...]], ...] = (
    ("proxy", (requests.exceptions.ProxyError, urllib3.exceptions.ProxyError)),
    ("tls", (requests.exceptions.SSLError, urllib3.exceptions.SSLError, ssl.SSLError)),
    ("refused", (ConnectionRefusedError,)),
    # Not urllib3's TimeoutError: its NewConnectionError (refused, no such host) is one since urllib3 2.
    ("timeout", (requests.exceptions.Timeout, urllib3.exceptions.ReadTimeoutError, TimeoutError, socket.timeout)),
    ("closed", (http.client.RemoteDisconnected, ConnectionResetError, ConnectionAbortedError,
                urllib3.exceptions.ProtocolError, requests.exceptions.ChunkedEncodingError)),
)


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    for _ in range(10):
        if exc is None:
            return
        yield exc
        exc = exc.__cause__ or exc.__context__


def _cause(exc: BaseException) -> str:
    return next((cause for cause, types in _CAUSES if any(isinstance(link, types) for link in _chain(exc))), "network")


def unreachable(exc: BaseException, endpoint: str) -> TokenError:
    """The TokenError for a transport failure reaching `endpoint`, by the cause this transport gave it."""
    for link in _chain(exc):
        if isinstance(link, RedirectRefusedError):
            return RedirectedError(endpoint, link.endpoint, link.status)
        if isinstance(link, BoundedTransportError):
            if link.cause == "too large":
                return AnswerTooLargeError(endpoint, RESPONSE_LIMIT // 1024)
            return UnreachableError(endpoint, link.cause)
    return UnreachableError(endpoint, _cause(exc))


class _NoNetrc(requests.auth.AuthBase):
    """The session's auth, adding nothing: it keeps requests from adding the `~/.netrc` login for the URL's host
    (a `default` entry matches every host) to a request without auth (a metadata-server GET), or in place of the
    Authorization header a caller set. Only the credential we chose leaves."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


class _NoRedirectSession(requests.Session):
    """A session that sees no redirect anywhere. allow_redirects=False is not enough: requests then
    still asks for the next request (`Response.next`), and reads the redirect's body whole to get it."""

    def get_redirect_target(self, resp: requests.Response) -> str | None:  # noqa: ARG002 - requests' hook
        return None


class DeadlineRequest(google.auth.transport.Request):
    """A google-auth transport whose calls share one deadline, so a grant never outlives it. Proxies and CA
    bundles (which corporate networks need) come from the environment as pip reads them, plus SSL_CERT_FILE."""

    def __init__(self, timeout: float) -> None:
        self.session = _NoRedirectSession()
        self.session.auth = _NoNetrc()
        if ca_bundle_variable() == "SSL_CERT_FILE":  # requests reads the other two itself
            self.session.verify = os.environ["SSL_CERT_FILE"]
        # A token answer gains nothing from compression, and an uncompressed body is bounded as sent.
        self.session.headers["Accept-Encoding"] = "identity"
        self.timeout = timeout
        self._deadline = time.monotonic() + timeout
        self.refused_redirect: RedirectRefusedError | None = None
        """The last redirect refused: google-auth's metadata ping swallows transport errors."""

    def remaining(self) -> float:
        """Seconds left of the deadline (for work outside HTTP, such as running gcloud)."""
        return max(0.0, self._deadline - time.monotonic())

    def close(self) -> None:
        self.session.close()

    def __call__(self, url: str, method: str = "GET", body: Any = None, headers: Any = None,
                 timeout: float | None = None, **kwargs: Any) -> BoundedResponse:
        remaining = self.remaining()
        if remaining <= 0:
            raise BoundedTransportError("timeout", f"timed out after {self.timeout:g} s")
        timeout = remaining if timeout is None else min(timeout, remaining)
        kwargs["allow_redirects"] = False
        try:
            with self.session.request(method, url, data=body, headers=headers, timeout=timeout, stream=True,
                                      **kwargs) as response:
                if 300 <= response.status_code < 400:
                    # Closed unread: the body of a redirect is nothing a token grant needs.
                    self.refused_redirect = RedirectRefusedError(url, response.status_code)
                    raise self.refused_redirect
                return BoundedResponse(response.status_code, response.headers, self._read(response))
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise BoundedTransportError(_cause(exc), exc) from exc

    def _read(self, response: requests.Response) -> bytes:
        """The body, in pieces, under RESPONSE_LIMIT and the deadline: the timeout given to requests bounds
        each socket read, and checking the deadline between pieces bounds a body that keeps trickling in."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > RESPONSE_LIMIT:
            raise BoundedTransportError("too large", _TOO_LARGE)
        raw = response.raw
        read1 = getattr(raw, "read1", None)  # urllib3 >= 2.3: whatever has arrived, without waiting for more
        if read1 is None and response.headers.get("Content-Encoding", "identity").lower() == "identity":
            # urllib3 1.26 (google-auth before 2.22 requires it; botocore keeps it on Python 3.9):
            # the http.client response under it has read1, and an identity body needs no decoding.
            # read(1024) would wait minutes for a body trickling a byte at a time.
            fp_read1 = getattr(getattr(raw, "_fp", None), "read1", None)
            if fp_read1 is not None:
                read1 = lambda size, decode_content=True: fp_read1(size)  # noqa: E731, ARG005
        body = bytearray()
        while True:
            if time.monotonic() > self._deadline:
                raise BoundedTransportError("timeout", f"timed out after {self.timeout:g} s reading the answer")
            chunk = read1(_CHUNK, decode_content=True) if read1 else raw.read(_SLOW_CHUNK, decode_content=True)
            if not chunk:
                return bytes(body)
            body += chunk
            if len(body) > RESPONSE_LIMIT:
                raise BoundedTransportError("too large", _TOO_LARGE)

