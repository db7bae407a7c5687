"""A loopback stand-in for Google's token endpoints that checks what it is sent.

- `POST /token`: the JWT-bearer grant (signature verified against the service account's public
  key, audience and scope checked) and the refresh-token grant (client and token checked).
- `POST /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken`: IAM impersonation.
- `POST /v1/token`: STS token exchange (workload identity federation), as google-auth's sts.Client
  sends it; `POST /v1/oauthtoken`: STS's refresh grant for workforce identity user logins.
- `GET /v1/projects/NUMBER`: Cloud Resource Manager, which google-auth's own WIF path asks.
- `GET /` and `/computeMetadata/v1/...`: the GCE metadata server (via GCE_METADATA_HOST/IP).

Every call is counted per endpoint in `calls`, so a test can fail on any extra one.

It counts grants, remembers every token it issued (so the loopback registry can check them),
and can be told to misbehave: refuse, error, hang, reset, answer garbage, add latency, send
a body without end, quickly or a byte at a time, or redirect (307 or 308, to `redirect_to`) with
an endless body or a gzip bomb (what a broken proxy, a captive portal or a hostile token_uri can do).
Every request it receives, whatever its path, is counted in `received`: a redirect target must see none.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import socket
import ssl
import threading
import time
import zlib
from collections import Counter
from datetime import datetime, timezone
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from .federation import STS_GRANT_TYPE, STS_REQUESTED_TOKEN_TYPE, FederationProvider, WorkforceUser
from .keys import ServiceAccountKey, UserCredentials
from .serving import BackgroundServer, QuietHandler

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
IAM_SCOPE = "https://www.googleapis.com/auth/iam"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

# Faults the endpoint can be told to produce, by name.
FAULTS = ("500", "invalid_json", "invalid_grant", "hang", "reset", "refuse", "endless", "trickle", "oversized",
          "gzip-bomb", "redirect-endless", "redirect-gzip")
# An "endless" body stops here all the same, so that a client without a bound fails its test
# rather than the machine. A gzip bomb stops when it would inflate to this much.
ENDLESS_SAFETY_LIMIT = 768 * 1024 * 1024
_BOMB_PIECE = 1024 * 1024


def _gzip_bomb() -> tuple[bytes, bytes]:
    """The start of a gzip stream and a piece to repeat after it, each inflating to 1 MiB of zeros.

    A full flush ends each piece on a byte boundary with no reference to what came before, so the
    same compressed bytes (about 1 KiB) can follow one another for as long as the client reads."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(_BOMB_PIECE)
    first = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    return first, compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)


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
        self.redirect_status = 307
        self.redirect_to = "http://127.0.0.1:9/"  # a redirect fault's Location (the request's path is appended)
        self.received = 0  # every request, whatever its path
        self.authorizations: list[str] = []  # the Authorization header of every request that had one
        self.service_accounts: dict[str, ServiceAccountKey] = {}
        self.users: dict[str, UserCredentials] = {}
        self.tokens: dict[str, IssuedToken] = {}
        self.grants: list[str] = []  # the identity of each grant, in order
        self.rejections: list[str] = []  # why each refused request was refused
        self.streams: list[Stream] = []
        self.assertions: list[str] = []  # every signed JWT received: a secret too, for an hour
        self.calls: Counter[str] = Counter()  # endpoint name -> requests it answered (or refused)
        self.providers: dict[str, FederationProvider] = {}  # audience -> workload/workforce provider
        self.workforce_users: dict[str, WorkforceUser] = {}  # refresh token -> user
        self.impersonators: dict[str, set[str]] = {}  # service account -> who may impersonate it
        self.projects: dict[str, str] = {}  # project number -> project id, for Resource Manager
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

    def add_provider(self, provider: FederationProvider) -> None:
        self.providers[provider.audience] = provider

    def add_workforce_user(self, user: WorkforceUser) -> None:
        self.workforce_users[user.refresh_token] = user

    def allow_impersonation(self, target: str, *principals: str) -> None:
        """Only these principals may impersonate `target` (a service account not listed here may be
        impersonated by anyone with a live token, as the existing tests expect)."""
        self.impersonators.setdefault(target, set()).update(principals)

    def count(self, endpoint: str) -> None:
        with self._lock:
            self.calls[endpoint] += 1

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
        elif fault in ("gzip-bomb", "redirect-endless", "redirect-gzip"):
            self._endless(redirect=fault.startswith("redirect"), gzip=fault != "redirect-endless")
        return True

    def _endless(self, *, redirect: bool, gzip: bool) -> None:
        """A body that never ends, plain or a gzip bomb that inflates 1000-fold, under a 200 or a
        redirect to `redirect_to` (a client that follows it reads the body first, as requests does)."""
        self.send_response(self.fake.redirect_status if redirect else 200)
        if redirect:
            self.send_header("Location", self.fake.redirect_to.rstrip("/") + self.path)
        self.send_header("Content-Type", "application/json")
        if gzip:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        stream = Stream()
        self.fake.streams.append(stream)
        first, piece = _gzip_bomb() if gzip else (b"", b"a" * 65536)
        inflated = _BOMB_PIECE if gzip else len(piece)
        try:
            self.wfile.write(first)
            while stream.sent < ENDLESS_SAFETY_LIMIT:
                self.wfile.write(piece)
                stream.sent += inflated  # what the client holds once it inflates it
        except OSError:  # the client went away: what a bounded client does
            pass
        stream.ended = time.monotonic()

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

    def _record(self) -> None:
        self.fake.received += 1
        if "Authorization" in self.headers:
            self.fake.authorizations.append(self.headers["Authorization"])

    def do_POST(self) -> None:
        body = self._read_body()
        self._record()
        if self._faulted():
            return
        path = urlsplit(self.path).path
        if path == "/token":
            self.fake.count("oauth2-token")
            self._token_grant(parse_qs(body.decode()))
        elif path == "/v1/token":
            self.fake.count("sts-token")
            self._sts_exchange(body)
        elif path == "/v1/oauthtoken":
            self.fake.count("sts-oauthtoken")
            self._workforce_refresh(body)
        elif path.endswith(":generateAccessToken"):
            self.fake.count("iam-generateAccessToken")
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

    def _sts_error(self, why: str, error: str, description: str) -> None:
        """STS's OAuth error shape: HTTP 400, {"error": code, "error_description": text}."""
        self.fake.reject(why)
        self._send_json(400, {"error": error, "error_description": description})

    def _sts_exchange(self, body: bytes) -> None:
        """The token exchange as google-auth's sts.Client sends it (form fields, no client auth
        unless the config has a client id), and as STS refuses it."""
        if self.headers.get("Content-Type") != "application/x-www-form-urlencoded":
            self._sts_error("STS call not form-encoded", "invalid_request", "Invalid content type.")
            return
        form = {name: values[0] for name, values in parse_qs(body.decode(), keep_blank_values=True).items()}
        if form.get("grant_type") != STS_GRANT_TYPE:
            self._sts_error(f"STS grant type {form.get('grant_type')!r}", "unsupported_grant_type",
                            "Invalid value for \"grant_type\".")
            return
        if form.get("requested_token_type") != STS_REQUESTED_TOKEN_TYPE:
            self._sts_error("STS requested token type", "invalid_request",
                            "Invalid value for \"requested_token_type\".")
            return
        # cloud-platform for a token to use; IAM's own scope is what google-auth asks for when the
        # token is only for generateAccessToken (impersonation).
        if not {CLOUD_PLATFORM_SCOPE, IAM_SCOPE} & set(form.get("scope", "").split()):
            self._sts_error(f"STS scope {form.get('scope')!r}", "invalid_scope", "Invalid scope.")
            return
        unexpected = set(form) - {"grant_type", "audience", "scope", "requested_token_type", "subject_token",
                                  "subject_token_type", "options"}
        if unexpected:
            self._sts_error(f"STS fields {sorted(unexpected)}", "invalid_request", "Unexpected parameters.")
            return
        provider = self.fake.providers.get(form.get("audience", ""))
        if provider is None:
            self._sts_error(f"STS audience {form.get('audience')!r}", "invalid_target",
                            "The target service indicated by the \"audience\" parameters is invalid. This might "
                            "either be because the pool or provider is disabled or deleted or because it "
                            "doesn't exist.")
            return
        if form.get("subject_token_type") != provider.subject_token_type:
            self._sts_error(f"STS subject token type {form.get('subject_token_type')!r}", "invalid_request",
                            "Invalid value for \"subject_token_type\".")
            return
        if provider.workforce and not self._has_user_project(form):
            self._sts_error("workforce exchange without userProject", "invalid_request",
                            "The workforce pool user project is required.")
            return
        # Surrounding whitespace is ignored: google-auth sends a token file verbatim, and the
        # documented `echo "$ID_TOKEN" > file` recipes (a trailing newline) work against STS.
        principal = provider.principal_of(form.get("subject_token", "").strip())
        if principal is None:
            self._sts_error("STS subject token refused", "invalid_grant",
                            "The incoming token has expired or is not valid for this provider.")
            return
        token = self.fake.issue(principal)
        self._send_json(200, {"access_token": token.value, "issued_token_type": STS_REQUESTED_TOKEN_TYPE,
                              "token_type": "Bearer", "expires_in": self.fake.token_lifetime})

    def _has_user_project(self, form: dict[str, str]) -> bool:
        try:
            # google-auth percent-quotes the JSON before form-encoding it.
            options = json.loads(unquote(form.get("options", "")))
        except ValueError:
            return False
        return isinstance(options, dict) and bool(options.get("userProject"))

    def _workforce_refresh(self, body: bytes) -> None:
        """STS's refresh grant for a workforce identity login: client id and secret as Basic auth."""
        form = {name: values[0] for name, values in parse_qs(body.decode()).items()}
        user = self.fake.workforce_users.get(form.get("refresh_token", ""))
        expected = "Basic " + base64.b64encode(
            f"{user.client_id}:{user.client_secret}".encode()).decode() if user else None
        if form.get("grant_type") != "refresh_token" or set(form) != {"grant_type", "refresh_token"}:
            self._sts_error("workforce refresh form", "invalid_request", "Invalid request.")
        elif user is None or self.headers.get("Authorization") != expected:
            self._sts_error("workforce refresh token or client refused", "invalid_grant",
                            "The refresh token is invalid or has expired.")
        else:
            token = self.fake.issue(user.principal)
            self._send_json(200, {"access_token": token.value, "token_type": "Bearer",
                                  "expires_in": self.fake.token_lifetime})

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
        allowed = self.fake.impersonators.get(target)
        if allowed is not None and source not in allowed:
            self.fake.reject(f"{source} may not impersonate {target}")
            self._send_json(403, {"error": {
                "code": 403, "status": "PERMISSION_DENIED",
                "message": "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not "
                           "exist)."}})
            return
        # As IAM: the lifetime asked for ("600s"), at most an hour (longer needs an organization
        # policy this stand-in does not model), the default hour when none is asked for.
        lifetime = re.fullmatch(r"([0-9]+)s", str(request.get("lifetime", "3600s")))
        if lifetime is None or not 0 < int(lifetime.group(1)) <= 3600:
            self.fake.reject(f"impersonation lifetime {request.get('lifetime')!r}")
            self._send_json(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT"}})
            return
        token = self.fake.issue(target, min(int(lifetime.group(1)), self.fake.token_lifetime))
        expire = datetime.fromtimestamp(token.expiry, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._send_json(200, {"accessToken": token.value, "expireTime": expire})

    def do_GET(self) -> None:
        self._record()
        if self._faulted():
            return
        path = urlsplit(self.path).path
        if path.startswith("/v1/projects/"):
            self._resource_manager(path.removeprefix("/v1/projects/"))
            return
        email = self.fake.metadata_email
        if self.headers.get("Metadata-Flavor") != "Google" or email is None:
            self.fake.reject("metadata request without Metadata-Flavor, or no metadata server")
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        flavor = {"Metadata-Flavor": "Google"}
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query)
        accounts = "/computeMetadata/v1/instance/service-accounts/"
        # google-auth asks by alias ("default") since 2.x's later releases, by the email it read
        # from the info path in older ones; the real server answers both, and 404 for others.
        account, _, leaf = path.removeprefix(accounts).partition("/") if path.startswith(accounts) else ("", "", "")
        if path in ("", "/"):
            self._send_json(200, {}, flavor)
        elif account and account not in ("default", email):
            self.fake.reject(f"metadata request for unknown service account {account!r}")
            self._send_text(404, "Not Found", flavor)
        elif account and leaf == "":
            self.fake.count("metadata-info")
            if query.get("recursive") == ["true"]:
                self._send_json(200, {"email": email, "aliases": ["default"], "scopes": [CLOUD_PLATFORM_SCOPE]},
                                flavor)
            else:
                # Without ?recursive=true the real server lists the directory, as text.
                self._send_text(200, "aliases\nemail\nidentity/\nscopes\ntoken\n", flavor)
        elif account and leaf == "email":
            self.fake.count("metadata-info")
            self._send_text(200, email, flavor)
        elif account and leaf == "token":
            self.fake.count("metadata-token")
            token = self.fake.issue(email)
            self._send_json(200, {"access_token": token.value, "expires_in": self.fake.token_lifetime,
                                  "token_type": "Bearer"}, flavor)
        elif path.endswith("/universe/universe-domain"):
            self.fake.count("metadata-universe")
            self._send_text(200, "googleapis.com", flavor)
        else:
            self._send_json(404, {"error": "not_found"}, flavor)

    def _resource_manager(self, number: str) -> None:
        """projects.get, which google-auth's own WIF path calls for the project id (with a token)."""
        self.fake.count("crm-projects-get")
        bearer = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.fake.identity_of(bearer) is None:
            self._send_json(401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}})
        elif number not in self.fake.projects:
            self._send_json(403, {"error": {"code": 403, "status": "PERMISSION_DENIED"}})
        else:
            self._send_json(200, {"projectNumber": number, "projectId": self.fake.projects[number],
                                  "lifecycleState": "ACTIVE"})

    def _send_text(self, status: int, text: str, headers: dict[str, str]) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/text")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
