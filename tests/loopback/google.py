"""A loopback stand-in for Google's token endpoints that checks what it is sent.

- `POST /token`: the JWT-bearer grant (signature verified against the service account's public
  key, audience and scope checked) and the refresh-token grant (client and token checked).
- `POST /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken`: IAM impersonation.
- `GET /` and `/computeMetadata/v1/...`: the GCE metadata server (via GCE_METADATA_HOST/IP).

It counts grants, remembers every token it issued (so the loopback registry can check them),
and can be told to misbehave: refuse, error, hang, reset, answer garbage, add latency, or send
a body without end, quickly or a byte at a time (what a broken proxy or a hostile token_uri can do).
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import ssl
import threading
import time
from datetime import datetime, timezone
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from .keys import ServiceAccountKey, UserCredentials
from .serving import BackgroundServer, QuietHandler

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

# Faults the endpoint can be told to produce, by name.
FAULTS = ("500", "invalid_json", "invalid_grant", "hang", "reset", "refuse", "endless", "trickle", "oversized")
# An "endless" body stops here all the same, so that a client without a bound fails its test
# rather than the machine.
ENDLESS_SAFETY_LIMIT = 768 * 1024 * 1024


class Stream:
    """One endless or trickling answer: how much was sent, and when the client went away."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.sent = 0
        self.ended: float | None = None


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class IssuedToken:
    def __init__(self, value: str, identity: str, expiry: float) -> None:
        self.value, self.identity, self.expiry = value, identity, expiry


class FakeGoogle(BackgroundServer):
    """The server and its state. Use as a context manager or call start()/stop()."""

    _server: _Server

    def __init__(self, *, token_lifetime: int = 3600, latency: float = 0.0,
                 metadata_email: str | None = None, host: str = "127.0.0.1", port: int = 0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.token_lifetime = token_lifetime
        self.latency = latency
        self.metadata_email = metadata_email
        self.fault: str | None = None
        self.fault_on = ""  # only requests whose path contains this misbehave ("" = all)
        self.hang_seconds = 30.0
        self.service_accounts: dict[str, ServiceAccountKey] = {}
        self.users: dict[str, UserCredentials] = {}
        self.tokens: dict[str, IssuedToken] = {}
        self.grants: list[str] = []  # the identity of each grant, in order
        self.rejections: list[str] = []  # why each refused request was refused
        self.streams: list[Stream] = []
        self.assertions: list[str] = []  # every signed JWT received: a secret too, for an hour
        self._lock = threading.Lock()
        self._server = _Server((host, port), _Handler)
        self._server.fake = self
        self.scheme = "http"
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    # -- registration and checks ---------------------------------------------------------
    def add_service_account(self, key: ServiceAccountKey) -> None:
        self.service_accounts[key.email] = key

    def add_user(self, user: UserCredentials) -> None:
        self.users[user.client_id] = user

    def issue(self, identity: str, lifetime: int | None = None) -> IssuedToken:
        lifetime = self.token_lifetime if lifetime is None else lifetime
        token = IssuedToken("ya29.fake-" + secrets.token_urlsafe(48), identity, time.time() + lifetime)
        with self._lock:
            self.tokens[token.value] = token
            self.grants.append(identity)
        return token

    def identity_of(self, token: str) -> str | None:
        """Who a live token belongs to; None for unknown or expired tokens."""
        issued = self.tokens.get(token)
        if issued is None or issued.expiry <= time.time():
            return None
        return issued.identity

    def reject(self, why: str) -> None:
        with self._lock:
            self.rejections.append(why)

    def verify_jwt(self, assertion: str) -> str:
        """The service account's email if `assertion` is a valid grant for it; ValueError if not."""
        try:
            header_part, payload_part, signature_part = assertion.split(".")
            header = json.loads(_b64url_decode(header_part))
            payload = json.loads(_b64url_decode(payload_part))
        except ValueError as exc:
            raise ValueError(f"malformed assertion: {exc}") from None
        key = self.service_accounts.get(payload.get("iss", ""))
        if key is None:
            raise ValueError("unknown service account")
        if header.get("alg") != "RS256" or header.get("kid") != key.key_id:
            raise ValueError("wrong algorithm or key id")
        try:
            key.public_key.verify(_b64url_decode(signature_part), f"{header_part}.{payload_part}".encode(),
                                  padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise ValueError("Invalid JWT Signature.") from None
        # google-auth always signs for Google's token endpoint, whatever token_uri says.
        if payload.get("aud") not in (self.token_uri, GOOGLE_TOKEN_AUDIENCE):
            raise ValueError(f"wrong audience {payload.get('aud')!r}")
        if CLOUD_PLATFORM_SCOPE not in str(payload.get("scope", "")).split():
            raise ValueError(f"scope {payload.get('scope')!r} lacks cloud-platform")
        now = time.time()
        if not payload.get("iat", 0) - 300 <= now <= payload.get("exp", 0):
            raise ValueError("assertion expired or not yet valid")
        return key.email


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeGoogle


class _Handler(QuietHandler):
    server: _Server

    @property
    def fake(self) -> FakeGoogle:
        return self.server.fake

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _faulted(self) -> bool:
        """Apply latency and any configured fault; True when the response has been dealt with."""
        if self.fake.latency:
            time.sleep(self.fake.latency)
        fault = self.fake.fault
        if fault is None or self.fake.fault_on not in self.path:
            return False
        if fault in ("reset", "refuse"):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.close_connection = True
            self.connection.close()
        elif fault == "hang":
            time.sleep(self.fake.hang_seconds)
            self.close_connection = True
        elif fault == "500":
            self._send_json(500, {"error": "internal_failure"})
        elif fault == "invalid_json":
            data = b"<html>not json"
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif fault == "invalid_grant":
            self._send_json(400, {"error": "invalid_grant", "error_description": "Invalid grant: account not found"})
        elif fault in ("endless", "trickle", "oversized"):
            self._stream(fault)
        return True

    def _stream(self, fault: str) -> None:
        """A 200 answer that starts like a token and never ends (or declares 4 MiB and sends it)."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if fault == "oversized":
            self.send_header("Content-Length", str(4 * 1024 * 1024))
        self.send_header("Connection", "close")  # no length: the body lasts until the connection does
        self.end_headers()
        self.close_connection = True
        stream = Stream()
        self.fake.streams.append(stream)
        piece = b"a" * (1 if fault == "trickle" else 65536)
        try:
            self.wfile.write(b'{"access_token": "ya29.')
            stream.sent = len(b'{"access_token": "ya29.')
            while stream.sent < (4 * 1024 * 1024 if fault == "oversized" else ENDLESS_SAFETY_LIMIT):
                self.wfile.write(piece)
                self.wfile.flush()
                stream.sent += len(piece)
                if fault == "trickle":
                    time.sleep(0.05)
        except OSError:  # the client went away: what a bounded client does
            pass
        stream.ended = time.monotonic()

    def _read_body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))

    def do_POST(self) -> None:
        body = self._read_body()
        if self._faulted():
            return
        path = urlsplit(self.path).path
        if path == "/token":
            self._token_grant(parse_qs(body.decode()))
        elif path.endswith(":generateAccessToken"):
            self._impersonate(path, body)
        else:
            self._send_json(404, {"error": "not_found"})

    def _token_grant(self, form: dict[str, list[str]]) -> None:
        grant_type = form.get("grant_type", [""])[0]
        if grant_type == JWT_BEARER:
            assertion = form.get("assertion", [""])[0]
            self.fake.assertions.append(assertion)
            try:
                email = self.fake.verify_jwt(assertion)
            except ValueError as exc:
                self.fake.reject(str(exc))
                self._send_json(400, {"error": "invalid_grant", "error_description": str(exc)})
                return
            identity = email
        elif grant_type == "refresh_token":
            user = self.fake.users.get(form.get("client_id", [""])[0])
            if (user is None or form.get("client_secret", [""])[0] != user.client_secret
                    or form.get("refresh_token", [""])[0] != user.refresh_token):
                self.fake.reject("unknown client or refresh token")
                self._send_json(400, {"error": "invalid_grant", "error_description": "Bad Request"})
                return
            scope = form.get("scope", [CLOUD_PLATFORM_SCOPE])[0]
            if CLOUD_PLATFORM_SCOPE not in scope.split():
                self.fake.reject(f"scope {scope!r}")
                self._send_json(400, {"error": "invalid_scope"})
                return
            identity = user.account
        else:
            self.fake.reject(f"grant type {grant_type!r}")
            self._send_json(400, {"error": "unsupported_grant_type"})
            return
        token = self.fake.issue(identity)
        self._send_json(200, {"access_token": token.value, "expires_in": self.fake.token_lifetime,
                              "token_type": "Bearer", "scope": CLOUD_PLATFORM_SCOPE})

    def _impersonate(self, path: str, body: bytes) -> None:
        target = path.rsplit("/serviceAccounts/", 1)[-1].split(":", maxsplit=1)[0]
        source = self.fake.identity_of(self.headers.get("Authorization", "").removeprefix("Bearer "))
        request = json.loads(body or b"{}")
        if source is None:
            self.fake.reject("impersonation without a live source token")
            self._send_json(401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}})
            return
        if CLOUD_PLATFORM_SCOPE not in request.get("scope", []):
            self.fake.reject("impersonation without cloud-platform scope")
            self._send_json(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT"}})
            return
        token = self.fake.issue(target)
        expire = datetime.fromtimestamp(token.expiry, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._send_json(200, {"accessToken": token.value, "expireTime": expire})

    def do_GET(self) -> None:
        if self._faulted():
            return
        email = self.fake.metadata_email
        if self.headers.get("Metadata-Flavor") != "Google" or email is None:
            self.fake.reject("metadata request without Metadata-Flavor, or no metadata server")
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        flavor = {"Metadata-Flavor": "Google"}
        path = urlsplit(self.path).path
        if path in ("", "/"):
            self._send_json(200, {}, flavor)
        elif path.endswith("/service-accounts/default/"):
            self._send_json(200, {"email": email, "aliases": ["default"], "scopes": [CLOUD_PLATFORM_SCOPE]}, flavor)
        elif path.endswith("/service-accounts/default/token"):
            token = self.fake.issue(email)
            self._send_json(200, {"access_token": token.value, "expires_in": self.fake.token_lifetime,
                                  "token_type": "Bearer"}, flavor)
        elif path.endswith("/universe/universe-domain"):
            data = b"googleapis.com"
            self.send_response(200)
            self.send_header("Metadata-Flavor", "Google")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            self._send_json(404, {"error": "not_found"}, flavor)
