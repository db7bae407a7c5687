"""A loopback stand-in for one Artifact Registry Python repository, as strict as the real one.

- `GET /PROJECT/REPO/simple/` and `/simple/NAME/`: the PEP 503 index, or PEP 691 JSON when the
  client's Accept header asks for it; `GET /PROJECT/REPO/files/NAME/FILE`: the files.
- `POST /PROJECT/REPO/`: the legacy upload API that twine, uv, poetry and hatch speak (multipart form,
  `:action=file_upload`): wheels and sdists, each digest sent checked; an uploaded file is served from
  then on.
- Every request needs HTTP Basic auth exactly as Artifact Registry takes it: `_json_key_base64` with
  the exact base64 of a registered key file (so `%3D` for `=` is refused), `_json_key` with the key
  JSON, `oauth2accesstoken` or `_token` with a live token issued by the FakeGoogle. Anything else
  (no credential, an expired or unknown token) gets 401 with a `WWW-Authenticate: Basic` challenge.
- Then IAM, as Artifact Registry answers a known identity: 403 without a role on the repository
  (reader to download, writer to upload) and for a project it cannot see, with Google's wording
  "Permission ... denied on resource ... (or it may not exist)"; 404 for a repository that does not
  exist in a project the identity can see.

It counts logins per username and per identity, remembers every Authorization header it refused,
and can hold a download until the token it carries has died, to stage a token expiring mid-run.
More repositories of the project can share the host (`add_repository`), each readable only by the
identities given, as IAM grants `artifactregistry.reader` per repository: anyone else's valid
credential gets 403, as Artifact Registry answers it.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from hashlib import blake2b, md5, sha256
from http.server import ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import urlsplit

from .google import FakeGoogle
from .keys import ServiceAccountKey
from .serving import BackgroundServer, QuietHandler
from .wheels import DistFile, normalize

TOKEN_USERNAMES = ("oauth2accesstoken", "_token")
PEP691_JSON = "application/vnd.pypi.simple.v1+json"
HOLD_LIMIT_SECONDS = 30.0
# A held request is let go this long after its token died here: the client minted its view of the
# expiry a few milliseconds after the token endpoint did, and must agree that the token is dead.
HOLD_MARGIN_SECONDS = 1.0
READER, WRITER = "reader", "writer"
# The API's `Repository.mode` values (artifactregistry v1).
STANDARD, VIRTUAL, REMOTE = "STANDARD_REPOSITORY", "VIRTUAL_REPOSITORY", "REMOTE_REPOSITORY"
MODES = (STANDARD, VIRTUAL, REMOTE)
DEFAULT_LOCATION = "us-central1"
GET_PERMISSION = "artifactregistry.repositories.get"
DOWNLOAD_PERMISSION = "artifactregistry.repositories.downloadArtifacts"
UPLOAD_PERMISSION = "artifactregistry.repositories.uploadArtifacts"
# The permission each role grants that the Python API checks (roles/artifactregistry.reader, .writer).
_PERMISSIONS = {"download": DOWNLOAD_PERMISSION, "upload": UPLOAD_PERMISSION}


@dataclass(frozen=True)
class RepositoryView:
    """One repository as the Artifact Registry API describes it, with its IAM policy."""

    project: str
    location: str
    repository: str
    mode: str
    """STANDARD_REPOSITORY, VIRTUAL_REPOSITORY or REMOTE_REPOSITORY."""
    readers: frozenset[str] | None
    """Who holds roles/artifactregistry.reader (or writer) here; None: every valid credential."""
    writers: frozenset[str] | None
    """Who holds roles/artifactregistry.writer here; None: every valid credential."""
    upstreams: tuple[str, ...] = ()
    """A virtual repository's upstream repositories in the same project, by priority."""

    @property
    def name(self) -> str:
        """The API's resource name: projects/P/locations/L/repositories/R."""
        return f"projects/{self.project}/locations/{self.location}/repositories/{self.repository}"

    @property
    def prefix(self) -> str:
        """Its URL path on the Python host: /P/R."""
        return f"/{self.project}/{self.repository}"

    def permissions(self, identity: str) -> frozenset[str]:
        """The Artifact Registry permissions `identity` holds here, as `testIamPermissions` answers:
        `get` and `downloadArtifacts` from the reader role, `uploadArtifacts` too from the writer
        role. IAM knows nothing of modes: a writer on a virtual repository holds `uploadArtifacts`,
        though the repository refuses every upload."""
        if self.readers is not None and identity not in self.readers:
            return frozenset()
        held = {GET_PERMISSION, DOWNLOAD_PERMISSION}
        if self.writers is None or identity in self.writers:
            held.add(UPLOAD_PERMISSION)
        return frozenset(held)


@dataclass
class _Repository:
    """A repository's mutable state inside the registry."""

    location: str
    mode: str
    files: dict[str, DistFile]
    readers: frozenset[str] | None = None
    writers: frozenset[str] | None = None
    upstreams: tuple[str, ...] = ()


@dataclass(frozen=True)
class Login:
    """A request the registry let in: the username it came with and whose credential it was."""

    username: str
    identity: str


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(username, password) from an `Authorization: Basic ...` header; None if it is not one."""
    if not header or not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header[len("Basic "):].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    username, colon, password = decoded.partition(":")
    return (username, password) if colon else None


class FakeRegistry(BackgroundServer):
    """The server and its state. Use as a context manager or call start()/stop()."""

    _server: _Server

    def __init__(self, google: FakeGoogle, *, project: str = "acme-prod", repository: str = "team-repo",
                 files: Iterable[DistFile] = (), min_token_life: float = 0.0, host: str = "127.0.0.1",
                 port: int = 0, location: str = DEFAULT_LOCATION, mode: str = STANDARD) -> None:
        self.google = google
        self.project = project
        self.prefix = f"/{project}/{repository}"
        self.min_token_life = min_token_life
        """Tokens with this many seconds of life or fewer are refused as expired."""
        self.files: dict[str, DistFile] = {f.filename: f for f in files}
        """The first repository's own files."""
        self.public: dict[str, DistFile] = {}
        """PyPI's public packages, as a remote repository (and a virtual one above it) serves them."""
        self.repositories: dict[str, _Repository] = {self.prefix: _Repository(location, mode, self.files)}
        """URL path prefix (/P/R) -> the repository's state."""
        self.json_keys: dict[str, ServiceAccountKey] = {}
        self.logins: Counter[str] = Counter()
        self.identities: Counter[str] = Counter()
        self.accepted_tokens: set[str] = set()
        self.refused: list[str] = []  # every Authorization header presented and refused
        self.anonymous = 0  # requests without credentials (an installer's first try)
        self.uploads: list[tuple[str, str]] = []  # (filename, identity)
        self.formats: Counter[str] = Counter()  # "json" / "html" index pages served
        self.log: list[str] = []  # "GET path -> status username", never a credential
        self.seen: list[tuple[str, str, int]] = []  # (repository prefix, identity, status) per request
        self._holds: set[str] = set()
        self._lock = threading.Lock()
        self._server = _Server((host, port), _Handler)
        self._server.registry = self

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    # -- configuration -------------------------------------------------------------------
    def add_json_key(self, key: ServiceAccountKey) -> None:
        """Accept this key's exact base64 for `_json_key_base64` and its JSON for `_json_key`."""
        self.json_keys[key.email] = key

    def add_repository(self, repository: str, readers: Iterable[str] | None = None, *, mode: str = STANDARD,
                       location: str | None = None, project: str | None = None,
                       files: Iterable[DistFile] | None = None, upstreams: Iterable[str] = (),
                       writers: Iterable[str] | None = None) -> str:
        """Another repository on this host, readable only by `readers` (every valid credential when
        None), as IAM grants `artifactregistry.reader` per repository; its URL path prefix.

        `files`: its own packages (None: it shares the first repository's). A REMOTE_REPOSITORY
        serves `self.public` (PyPI's packages); a VIRTUAL_REPOSITORY serves the packages of its
        `upstreams` (repository names in the same project, first found wins) and takes no uploads.
        `location` defaults to the first repository's, `project` to the registry's."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        prefix = f"/{project or self.project}/{repository}"
        with self._lock:
            self.repositories[prefix] = _Repository(
                location or self.repositories[self.prefix].location, mode,
                self.files if files is None else {f.filename: f for f in files},
                None if readers is None else frozenset(readers), None if writers is None else frozenset(writers),
                tuple(upstreams))
        return prefix

    def describe(self, project: str, repository: str) -> RepositoryView | None:
        """The repository as the API's `repositories.get` describes it; None if there is none."""
        state = self.repositories.get(f"/{project}/{repository}")
        if state is None:
            return None
        return RepositoryView(project, state.location, repository, state.mode, state.readers, state.writers,
                              state.upstreams)

    def restrict(self, readers: Iterable[str], repository: str | None = None) -> None:
        """Only `readers` may read the repository (default the first): others' valid credentials get
        403, as for a repository the identity cannot see."""
        with self._lock:
            self._state(repository).readers = frozenset(readers)

    def hide(self, identity: str, repository: str | None = None) -> None:
        """Make the repository (default the first) one `identity` cannot see: it holds no role there."""
        with self._lock:
            state = self._state(repository)
            if state.readers is None:
                raise ValueError("restrict() the repository to its readers first")
            state.readers = state.readers - {identity}
            state.writers = None if state.writers is None else state.writers - {identity}

    def grant(self, identity: str, role: str | None, repository: str | None = None) -> None:
        """Give `identity` READER or WRITER on the repository (default the first), or no role (None);
        from the first grant on, identities granted nothing hold no role there."""
        with self._lock:
            state = self._state(repository)
            readers = set(state.readers or ())
            writers = set(state.writers or ())
            readers.discard(identity)
            writers.discard(identity)
            if role in (READER, WRITER):
                readers.add(identity)
            if role == WRITER:
                writers.add(identity)
            state.readers, state.writers = frozenset(readers), frozenset(writers)

    def _state(self, repository: str | None) -> _Repository:
        return self.repositories[self.prefix if repository is None else f"/{self.project}/{repository}"]

    def hold_until_token_expires(self, filename: str) -> None:
        """Hold the first request for `filename` until the token it carries has expired (plus
        HOLD_MARGIN_SECONDS, at most HOLD_LIMIT_SECONDS), as if the download had queued behind a
        long build: the token then dies between two requests of one install."""
        self._holds.add(filename)

    # -- checks --------------------------------------------------------------------------
    def denial(self, login: Login, location: str | None, path: str, action: str) -> tuple[int, str, str] | None:
        """(status, message, repository prefix) when IAM stops `login` from `action` ("download"
        or "upload") at `path` in `location` (None: a host that names none, such as a loopback
        front), as Artifact Registry answers; None when it may."""
        project, _, rest = path.lstrip("/").partition("/")
        repository = rest.split("/", 1)[0]
        prefix = f"/{project}/{repository}"
        state = self.repositories.get(prefix)
        location = location or (state.location if state else DEFAULT_LOCATION)
        resource = f"projects/{project}/locations/{location}/repositories/{repository}"
        denied = (403, f'Permission "{_PERMISSIONS[action]}" denied on resource "{resource}" (or it may not exist)',
                  prefix)
        if state is None or state.location != location:
            # IAM does not tell whoever asks whether a project or repository exists.
            return denied
        view = self.describe(project, repository)
        assert view is not None
        if _PERMISSIONS[action] not in view.permissions(login.identity):
            return denied
        return None

    def authenticate(self, header: str | None) -> Login | None:
        """Who `header` authenticates, exactly as Artifact Registry checks it; None if nobody."""
        credentials = basic_credentials(header)
        if credentials is None:
            return None
        username, password = credentials
        if username in TOKEN_USERNAMES:
            issued = self.google.tokens.get(password)
            if issued is None or issued.expiry - time.time() <= self.min_token_life:
                return None
            return Login(username, issued.identity)
        for key in self.json_keys.values():
            if username == "_json_key_base64" and password == key.base64:
                return Login(username, key.email)
            if username == "_json_key" and _same_json(password, key.info):
                return Login(username, key.email)
        return None

    def refused_credentials(self) -> list[tuple[str, str]]:
        """The (username, password) pairs of every refused Basic header."""
        return [c for c in map(basic_credentials, self.refused) if c is not None]

    def _record(self, line: str, login: Login | None = None, token: str | None = None) -> None:
        with self._lock:
            self.log.append(line)
            if login is not None:
                self.logins[login.username] += 1
                self.identities[login.identity] += 1
                if token is not None:
                    self.accepted_tokens.add(token)

    def _refuse(self, header: str | None) -> None:
        with self._lock:
            if header is None:
                self.anonymous += 1
            else:
                self.refused.append(header)

    def _hold(self, filename: str, header: str | None) -> None:
        with self._lock:
            if filename not in self._holds:
                return
            self._holds.discard(filename)
        credentials = basic_credentials(header)
        issued = self.google.tokens.get(credentials[1]) if credentials else None
        if issued is None:
            return
        deadline = time.monotonic() + HOLD_LIMIT_SECONDS
        while issued.expiry - time.time() > self.min_token_life - HOLD_MARGIN_SECONDS \
                and time.monotonic() < deadline:
            time.sleep(0.05)


def _same_json(text: str, expected: dict[str, Any]) -> bool:
    try:
        return bool(json.loads(text) == expected)
    except ValueError:
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    registry: FakeRegistry


class _Handler(QuietHandler):
    server: _Server

    @property
    def registry(self) -> FakeRegistry:
        return self.server.registry

    def do_GET(self) -> None:
        self._serve(with_body=True)

    def do_HEAD(self) -> None:
        self._serve(with_body=False)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        login = self._login()
        if login is None:
            return
        path = urlsplit(self.path).path
        if self._denied(login, path, "upload"):
            return
        if path.rstrip("/") != self.registry.prefix:
            self._send(404, b"not found", login=login)
            return
        status, message = self._upload(body, login)
        self._send(status, message.encode(), login=login)

    # -- the parts -----------------------------------------------------------------------
    def _login(self) -> Login | None:
        """The request's login, or None after answering 401."""
        header = self.headers.get("Authorization")
        login = self.registry.authenticate(header)
        if login is None:
            self.registry._refuse(header)
            presented = basic_credentials(header)
            who = f"refused {presented[0][:40]}" if presented else "anonymous" if header is None else "refused"
            self._send(401, b"Unauthorized", {"WWW-Authenticate": 'Basic realm="Artifact Registry"'}, who=who)
        return login

    def _denied(self, login: Login, path: str, action: str) -> bool:
        """Whether IAM refused `login` here (then the 403 or 404 has been sent)."""
        host = self.headers.get("Host", "").split(":")[0]
        location = host[: -len("-python.pkg.dev")] if host.endswith("-python.pkg.dev") else None
        denial = self.registry.denial(login, location, path, action)
        if denial is None:
            return False
        status, message, prefix = denial
        self._send(status, message.encode(), {"Content-Type": "text/plain"}, login=login, repository=prefix)
        return True

    def _serve(self, *, with_body: bool) -> None:
        path = urlsplit(self.path).path
        prefix = self.registry.prefix
        if path.startswith(f"{prefix}/files/"):
            self.registry._hold(path.rsplit("/", 1)[-1], self.headers.get("Authorization"))
        login = self._login()
        if login is None or self._denied(login, path, "download"):
            return
        prefix = next((p for p in self.registry.repositories if path.startswith(p + "/")), prefix)
        rest = path[len(prefix):] if path.startswith(prefix + "/") else None
        if rest == "/simple/":
            self._index(None, login, with_body, prefix)
        elif rest is not None and rest.startswith("/simple/") and rest.endswith("/"):
            self._index(rest[len("/simple/"):-1], login, with_body, prefix)
        elif rest is not None and rest.startswith("/files/"):
            dist = self.registry.files.get(rest.rsplit("/", 1)[-1])
            if dist is None:
                self._send(404, b"not found", login=login)
            else:
                self._send(200, dist.content, {"Content-Type": "application/octet-stream"}, login=login,
                           with_body=with_body, repository=prefix)
        else:
            self._send(404, b"not found", login=login)

    def _index(self, project: str | None, login: Login, with_body: bool, prefix: str | None = None) -> None:
        prefix = prefix or self.registry.prefix
        files = sorted(self.registry.files.values(), key=lambda f: f.filename)
        wants_json = PEP691_JSON in self.headers.get("Accept", "")
        if project is None:
            names = sorted({f.project for f in files})
            data: Any = {"meta": {"api-version": "1.0"}, "projects": [{"name": n} for n in names]}
            links = [(f"{n}/", n) for n in names]
        else:
            name = normalize(project)
            files = [f for f in files if f.project == name]
            if not files:
                self._send(404, b"not found", login=login)
                return
            urls = [f"{prefix}/files/{name}/{f.filename}#sha256={f.sha256}" for f in files]
            data = {"meta": {"api-version": "1.0"}, "name": name,
                    "files": [{"filename": f.filename, "url": url.split("#")[0], "hashes": {"sha256": f.sha256}}
                              for f, url in zip(files, urls)]}
            links = [(url, f.filename) for f, url in zip(files, urls)]
        with self.registry._lock:
            self.registry.formats["json" if wants_json else "html"] += 1
        if wants_json:
            body = json.dumps(data).encode()
            content_type = PEP691_JSON
        else:
            anchors = "".join(f'<a href="{html.escape(href)}">{html.escape(text)}</a><br/>\n' for href, text in links)
            body = ("<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.0\">"
                    f"</head><body>\n{anchors}</body></html>\n").encode()
            content_type = "text/html; charset=utf-8"
        self._send(200, body, {"Content-Type": content_type}, login=login, with_body=with_body, repository=prefix)

    def _upload(self, body: bytes, login: Login) -> tuple[int, str]:
        form = _multipart_form(self.headers.get("Content-Type", ""), body)
        action = form.get(":action")
        content = form.get("content")
        if action is None or action[1] != b"file_upload" or content is None or not content[0]:
            return 400, "expected a file_upload with content"
        filename, data = content
        # twine, uv, poetry and hatch send md5, sha256 and blake2_256 (some send fewer): each one sent
        # must match, as the real upload API checks them.
        for field, digest in _DIGESTS.items():
            sent = form.get(field)
            if sent is not None and sent[1].decode("ascii", "replace").lower() != digest(data):
                return 400, f"{field} does not match the content"
        if filename in self.registry.files:
            return 409, "file already exists"
        dist = DistFile(filename, data)
        try:
            filetype = dist.filetype
        except ValueError:
            return 400, "not a wheel (.whl) or sdist (.tar.gz, .zip) file name"
        sent_type = form.get("filetype")
        if sent_type is not None and sent_type[1].decode("ascii", "replace") != filetype:
            return 400, f"filetype {sent_type[1][:20]!r} does not match {filename}"
        with self.registry._lock:
            self.registry.files[filename] = dist
            self.registry.uploads.append((filename, login.identity))
        return 200, "OK"

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None, *,
              login: Login | None = None, who: str = "", with_body: bool = True, repository: str = "") -> None:
        token = None
        if login is not None and repository:
            with self.registry._lock:
                self.registry.seen.append((repository, login.identity, status))
        if login is not None:
            who = f"{login.username} ({login.identity})"
            if login.username in TOKEN_USERNAMES:
                token = cast("tuple[str, str]", basic_credentials(self.headers.get("Authorization")))[1]
        self.registry._record(f"{self.command} {urlsplit(self.path).path} -> {status} {who}", login, token)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        # A HEAD answer never has a body, refusals and 404s included: the client would read it as
        # the start of the next response on the same connection.
        if with_body and self.command != "HEAD":
            self.wfile.write(body)


_DIGESTS: dict[str, Callable[[bytes], str]] = {
    "md5_digest": lambda data: md5(data, usedforsecurity=False).hexdigest(),
    "sha256_digest": lambda data: sha256(data).hexdigest(),
    "blake2_256_digest": lambda data: blake2b(data, digest_size=32).hexdigest(),
}


def _multipart_form(content_type: str, body: bytes) -> dict[str, tuple[str, bytes]]:
    """name -> (filename or "", bytes) for a multipart/form-data body."""
    if not content_type.startswith("multipart/form-data"):
        return {}
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    form: dict[str, tuple[str, bytes]] = {}
    if not isinstance(message, EmailMessage):
        return form
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            form[name] = (part.get_filename() or "", payload)
    return form
