"""A loopback stand-in for Artifact Registry's Python repositories, answering as the real one does.

Each behaviour cites its evidence, as in `../shared/notes/artifact-registry.md` (C = seen in a real
response, D = Google's documentation, S = a client's source, I = inferred): where a row is I the
stand-in picks the likely answer and says so; where nothing is known it answers either way
(`Unknowns`, both in `VARIANTS`), and the e2e tests that could depend on it run under both.

Authentication comes first, for every path (uv#13452, #3205: C):
- Basic `oauth2accesstoken:TOKEN` or `_token:TOKEN` with a live token the FakeGoogle issued (uv#9778,
  #2822: C), `Authorization: Bearer TOKEN` (rules_python#3826: C), `_json_key_base64` with the exact
  base64 of a registered key file, so `%3D` for `=` is refused (print-settings, uv#2822: C),
  `_json_key` with the key JSON (D). `__token__` and anything else: 401 (uv#9778: C), also for a
  package or repository that does not exist. The 401 body is "The request does not have valid
  authentication credentials." (poetry#7545: C); its `WWW-Authenticate` was never quoted (unknown).
Then IAM, per repository (roles/artifactregistry.reader, .writer, granted per repository):
- a known identity without the role gets 403 'Permission "artifactregistry.repositories.
  downloadArtifacts" denied on resource "projects/P/locations/L/repositories/R" (or it may not
  exist)' (uv#11244: C for the 403; the wording is IAM's, deploy-cloudrun#370: C on the REST API);
- a repository or project it cannot see, or that does not exist, gets the same 403: a 404 for a
  missing repository was never seen on the Python host (I); a repository in another location is
  not on this location's host (I).
What an authorised caller gets:
- `GET /P/R/simple/` and `/P/R/simple` (the root listing): 404 with Google's HTML error page "Error
  404 (Not Found)!!1", about 1.4 KB, no redirect (rules_python#3709, #3826, devpi#931: C).
- `GET /P/R/simple/NAME/`: the PEP 503 HTML page whatever `Accept` asks: no PEP 691 JSON (uv#1709,
  #2822: C), no PEP 658 metadata (uv#11244: C); 404 when NAME is not there (I). Links are
  `/P/R/NAME/FILE#sha256=HEX` on the same host (uv#1709, #2822: C).
- `GET /P/R/NAME/FILE` (or HEAD): 307 with a relative `Location: /artifacts-downloads/namespaces/P/
  repositories/R/downloads/OPAQUE`, OPAQUE about 3 KB of base64url (uv#13037: C). That request
  serves the file, whole (no ranges: uv#6104, #16111: C); whether it needs the credential again
  is unknown (uv#20850 saw it answer 403): `Unknowns.download_needs_credential`.
- `POST /P/R/` (the legacy upload API of twine, uv, poetry, hatch): multipart `file_upload`, each
  digest sent checked (S); accepted with a 2xx whose code was never logged (`Unknowns.upload_status`);
  a file already there is 400 "Requested entity already exists." (twine#816, #1007: C); no writer
  role is 403 (artifact-registry-python-tools#27: C); `POST /P/R/simple/` is 404 (uv#9778: C).
Repository modes (`Repository.mode` of the API, D): STANDARD_REPOSITORY serves its own packages;
REMOTE_REPOSITORY serves PyPI's public ones (`public`); VIRTUAL_REPOSITORY serves its upstreams'
packages, first upstream first. Virtual and remote repositories take no uploads (D); the status
and wording of that refusal were never quoted (400 here, I).

It records every request (`requests`: path, whose credential, status), counts logins per username
and per identity, remembers every Authorization header it refused, and can hold a download until
the token it carries has died, to stage a token expiring mid-run. `describe()` gives a repository
as the API's `repositories.get` does, with the permissions each identity holds there.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import secrets
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
from typing import Any
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
PYTHON_HOST_SUFFIX = "-python.pkg.dev"
DOWNLOADS_PREFIX = "/artifacts-downloads/namespaces/"
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
UNAUTHENTICATED_BODY = b"The request does not have valid authentication credentials."  # poetry#7545
_HTML = {"Content-Type": "text/html; charset=UTF-8"}
# The length of the opaque last segment of a download URL: about 3 KB of base64url (uv#13037).
_OPAQUE_BYTES = 2250


@dataclass(frozen=True)
class Unknowns:
    """How the stand-in answers where no public evidence says how the real one does: the tests that
    depend on these pass either way (see `VARIANTS`)."""

    download_needs_credential: bool = True
    """Whether the redirected `/artifacts-downloads/...` request needs the credential again (uv#20850
    saw it answer 403, which says IAM may be checked there, but not whether a credential is needed)."""
    challenge: str | None = 'Basic realm="https://us-central1-python.pkg.dev"'
    """The `WWW-Authenticate` value of a 401, or None for none: never quoted publicly."""
    upload_status: int = 200
    """The 2xx an accepted upload gets: twine and uv report success, no log shows the code."""


VARIANTS = {
    "strict": Unknowns(),
    "lenient": Unknowns(download_needs_credential=False, challenge=None, upload_status=201),
}
"""Both answers to every unknown: the e2e tests whose outcome could depend on one run under both."""


def google_error_page(status: int, path: str) -> bytes:
    """Google's front-end error page, as the Python host answers a root listing (about 1.4 KB,
    rules_python#3709, devpi#931)."""
    reason = {404: "Not Found"}.get(status, "Error")
    return (
        "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n"
        '  <meta name=viewport content="initial-scale=1, minimum-scale=1, width=device-width">\n'
        f"  <title>Error {status} ({reason})!!1</title>\n"
        "  <style>\n    *{margin:0;padding:0}html,code{font:15px/22px arial,sans-serif}html{background:#fff;"
        "color:#222;padding:15px}body{margin:7% auto 0;max-width:390px;min-height:180px;padding:30px 0 15px}"
        "* > body{background:url(//www.google.com/images/errors/robot.png) 100% 5px no-repeat;padding-right:"
        "205px}p{margin:11px 0 22px;overflow:hidden}ins{color:#777;text-decoration:none}a img{border:0}"
        "@media screen and (max-width:772px){body{background:none;margin-top:0;max-width:none;padding-right:0}}"
        "#logo{background:url(//www.google.com/images/branding/googlelogo/1x/googlelogo_color_150x54dp.png) "
        "no-repeat;margin-left:-5px}@media only screen and (min-resolution:192dpi){#logo{background:url(//www."
        "google.com/images/branding/googlelogo/2x/googlelogo_color_150x54dp.png) no-repeat 0% 0%/100% 100%;"
        "-moz-border-image:url(//www.google.com/images/branding/googlelogo/2x/googlelogo_color_150x54dp.png) 0}}"
        "@media only screen and (-webkit-min-device-pixel-ratio:2){#logo{background:url(//www.google.com/images/"
        "branding/googlelogo/2x/googlelogo_color_150x54dp.png) no-repeat;-webkit-background-size:100% 100%}}"
        "#logo{display:inline-block;height:54px;width:150px}\n  </style>\n"
        "  <a href=//www.google.com/><span id=logo aria-label=Google></span></a>\n"
        f"  <p><b>{status}.</b> <ins>That\u2019s an error.</ins>\n"
        f"  <p>The requested URL <code>{html.escape(path[:200])}</code> was not found on this server.  "
        "<ins>That\u2019s all we know.</ins>\n"
    ).encode()


@dataclass(frozen=True)
class Served:
    """One request and its answer: whose credential it carried (None: none let in)."""

    method: str
    path: str
    identity: str | None
    status: int


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
    token: str | None = None
    """The access token it carried (not for a `_json_key` login)."""


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer ...` header; None if it is not one."""
    if not header or not header.startswith("Bearer "):
        return None
    return header[len("Bearer "):].strip() or None


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
                 port: int = 0, location: str = DEFAULT_LOCATION, mode: str = STANDARD,
                 unknowns: Unknowns | None = None) -> None:
        self.google = google
        self.unknowns = unknowns or Unknowns()
        """The answers to what no public evidence shows (see Unknowns)."""
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
        self.requests: list[Served] = []  # every request: path, whose credential, status
        self._downloads: dict[str, tuple[str, str, str]] = {}  # opaque -> (prefix, filename, identity)
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

        `files`: its own packages (None: a standard one shares the first repository's). A
        REMOTE_REPOSITORY serves `self.public` (PyPI's packages) besides; a VIRTUAL_REPOSITORY serves
        the packages of its `upstreams` (repository names in the same project, first found wins;
        none given: the first repository, then PyPI's public packages). Neither takes uploads.
        `location` defaults to the first repository's, `project` to the registry's."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        prefix = f"/{project or self.project}/{repository}"
        with self._lock:
            self.repositories[prefix] = _Repository(
                location or self.repositories[self.prefix].location, mode,
                ({} if mode != STANDARD else self.files) if files is None else {f.filename: f for f in files},
                None if readers is None else frozenset(readers), None if writers is None else frozenset(writers),
                tuple(upstreams))
        return prefix

    def served(self, prefix: str) -> dict[str, DistFile]:
        """filename -> file for what the repository at `prefix` serves, by its mode."""
        state = self.repositories.get(prefix)
        if state is None:
            return {}
        if state.mode == REMOTE:
            return {**self.public, **state.files}
        if state.mode == VIRTUAL:
            project = prefix.split("/")[1]
            upstreams = [f"/{project}/{name}" for name in state.upstreams] or [self.prefix]
            served: dict[str, DistFile] = {} if state.upstreams else dict(self.public)
            for upstream in reversed(upstreams):  # the first upstream wins
                if upstream != prefix:
                    served.update(self.served(upstream))
            return {**served, **state.files}
        return state.files

    def _issue_download(self, prefix: str, filename: str, identity: str) -> str:
        """The opaque last segment of a download URL for this file (base64url, about 3 KB)."""
        opaque = secrets.token_urlsafe(_OPAQUE_BYTES)
        with self._lock:
            self._downloads[opaque] = (prefix, filename, identity)
        return opaque

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
        bearer = bearer_token(header)
        credentials = ("Bearer", bearer) if bearer is not None else basic_credentials(header)
        if credentials is None:
            return None
        username, password = credentials
        if username in (*TOKEN_USERNAMES, "Bearer"):
            issued = self.google.tokens.get(password)
            if issued is None or issued.expiry - time.time() <= self.min_token_life:
                return None
            return Login(username, issued.identity, password)
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
        token = bearer_token(header) or (credentials[1] if credentials else None)
        issued = self.google.tokens.get(token) if token else None
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
        length = int(self.headers.get("Content-Length", "0") or 0)
        if length > MAX_UPLOAD_BYTES:
            self.close_connection = True
            self._send(413, b"Request Entity Too Large")
            return
        body = self.rfile.read(length)
        login = self._login()
        if login is None:
            return
        path = urlsplit(self.path).path
        if self._denied(login, path, "upload"):
            return
        prefix, rest = self._split(path)
        if rest not in ("", "/"):
            # `POST .../simple/` is 404 (uv#9778): uploads go to the repository's root URL only.
            self._send(404, google_error_page(404, path), _HTML, login=login, repository=prefix)
            return
        status, message = self._upload(body, login, prefix)
        self._send(status, message.encode(), {"Content-Type": "text/plain"}, login=login, repository=prefix)

    # -- the parts -----------------------------------------------------------------------
    def _login(self) -> Login | None:
        """The request's login, or None after answering 401."""
        header = self.headers.get("Authorization")
        login = self.registry.authenticate(header)
        if login is None:
            self.registry._refuse(header)
            presented = basic_credentials(header)
            who = f"refused {presented[0][:40]}" if presented else "anonymous" if header is None else "refused"
            challenge = self.registry.unknowns.challenge
            self._send(401, UNAUTHENTICATED_BODY, {"Content-Type": "text/plain",
                                                   **({"WWW-Authenticate": challenge} if challenge else {})}, who=who)
        return login

    def _location(self) -> str | None:
        host = self.headers.get("Host", "").split(":")[0]
        return host[: -len(PYTHON_HOST_SUFFIX)] if host.endswith(PYTHON_HOST_SUFFIX) else None

    def _denied(self, login: Login, path: str, action: str) -> bool:
        """Whether IAM refused `login` here (then the 403 has been sent)."""
        denial = self.registry.denial(login, self._location(), path, action)
        if denial is None:
            return False
        status, message, prefix = denial
        self._send(status, message.encode(), {"Content-Type": "text/plain"}, login=login, repository=prefix)
        return True

    @staticmethod
    def _split(path: str) -> tuple[str, str]:
        """(/P/R, the rest of the path) for a path on the Python host."""
        project, _, rest = path.lstrip("/").partition("/")
        repository, slash, rest = rest.partition("/")
        return f"/{project}/{repository}", slash + rest

    def _serve(self, *, with_body: bool) -> None:
        path = urlsplit(self.path).path
        if path.startswith(DOWNLOADS_PREFIX):
            self._download(path, with_body=with_body)
            return
        prefix, rest = self._split(path)
        file_parts = rest.strip("/").split("/")
        is_file = len(file_parts) == 2 and file_parts[0] != "simple" and not rest.endswith("/")
        if is_file:
            self.registry._hold(file_parts[1], self.headers.get("Authorization"))
        login = self._login()
        if login is None or self._denied(login, path, "download"):
            return
        if rest in ("/simple/", "/simple"):
            # The root listing: 404 with Google's error page even for a reader (rules_python#3709, #3826).
            self._send(404, google_error_page(404, path), _HTML, login=login, with_body=with_body, repository=prefix)
        elif rest.startswith("/simple/") and rest.endswith("/") and rest.count("/") == 3:
            self._index(rest[len("/simple/"):-1], login, with_body, prefix)
        elif is_file and normalize(file_parts[0]) == file_parts[0] \
                and (dist := self.registry.served(prefix).get(file_parts[1])) is not None \
                and dist.project == file_parts[0]:
            opaque = self.registry._issue_download(prefix, dist.filename, login.identity)
            project, repository = prefix.strip("/").split("/")
            location = f"{DOWNLOADS_PREFIX}{project}/repositories/{repository}/downloads/{opaque}"
            self._send(307, b"", {"Location": location}, login=login, with_body=with_body, repository=prefix)
        else:
            self._send(404, google_error_page(404, path), _HTML, login=login, with_body=with_body, repository=prefix)

    def _download(self, path: str, *, with_body: bool) -> None:
        """`/artifacts-downloads/namespaces/P/repositories/R/downloads/OPAQUE`: the file a 307 sent here."""
        parts = path[len(DOWNLOADS_PREFIX):].split("/")
        shaped = len(parts) == 5 and parts[1] == "repositories" and parts[3] == "downloads"
        issued = self.registry._downloads.get(parts[4]) if shaped else None
        prefix = f"/{parts[0]}/{parts[2]}" if shaped else ""
        login = None
        if self.registry.unknowns.download_needs_credential:
            login = self._login()
            if login is None or self._denied(login, f"{prefix}/", "download"):
                return
        if issued is None or issued[0] != prefix:
            self._send(404, google_error_page(404, path), _HTML, login=login, with_body=with_body,
                       repository=prefix)
            return
        dist = self.registry.served(prefix).get(issued[1])
        if dist is None:
            self._send(404, google_error_page(404, path), _HTML, login=login, with_body=with_body, repository=prefix)
            return
        # No Accept-Ranges and a Range header ignored: the real one streams whole files (uv#6104).
        self._send(200, dist.content, {"Content-Type": "application/octet-stream"}, login=login,
                   with_body=with_body, repository=prefix)

    def _index(self, project: str, login: Login, with_body: bool, prefix: str) -> None:
        """A package page, PEP 503 HTML whatever Accept asks (no PEP 691 JSON, no PEP 658)."""
        name = normalize(project)
        files = sorted((f for f in self.registry.served(prefix).values() if f.project == name),
                       key=lambda f: f.filename)
        if not files:
            self._send(404, google_error_page(404, urlsplit(self.path).path), _HTML, login=login,
                       with_body=with_body, repository=prefix)
            return
        anchors = "".join(f'<a href="{html.escape(f"{prefix}/{name}/{f.filename}#sha256={f.sha256}")}">'
                          f"{html.escape(f.filename)}</a><br/>\n" for f in files)
        body = (f"<!DOCTYPE html>\n<html><head><title>Links for {html.escape(name)}</title></head><body>\n"
                f"<h1>Links for {html.escape(name)}</h1>\n{anchors}</body></html>\n").encode()
        with self.registry._lock:
            self.registry.formats["html"] += 1
        self._send(200, body, {"Content-Type": "text/html; charset=utf-8"}, login=login, with_body=with_body,
                   repository=prefix)

    def _upload(self, body: bytes, login: Login, prefix: str) -> tuple[int, str]:
        state = self.registry.repositories[prefix]
        if state.mode != STANDARD:
            # Virtual and remote repositories are read-only (Google's documentation); the real status
            # and wording were never quoted publicly (I).
            return 400, f"Uploads are not supported for a repository in {state.mode} mode."
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
        if filename in state.files:
            return 400, "Requested entity already exists."  # twine#816, #1007
        dist = DistFile(filename, data)
        try:
            filetype = dist.filetype
        except ValueError:
            return 400, "not a wheel (.whl) or sdist (.tar.gz, .zip) file name"
        sent_type = form.get("filetype")
        if sent_type is not None and sent_type[1].decode("ascii", "replace") != filetype:
            return 400, f"filetype {sent_type[1][:20]!r} does not match {filename}"
        with self.registry._lock:
            state.files[filename] = dist
            self.registry.uploads.append((filename, login.identity))
        return self.registry.unknowns.upload_status, ""

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None, *,
              login: Login | None = None, who: str = "", with_body: bool = True, repository: str = "") -> None:
        token = None
        path = urlsplit(self.path).path
        with self.registry._lock:
            self.registry.requests.append(Served(self.command, path, login.identity if login else None, status))
            if login is not None and repository:
                self.registry.seen.append((repository, login.identity, status))
        if login is not None:
            who = f"{login.username} ({login.identity})"
            token = login.token
        self.registry._record(f"{self.command} {_short(path)} -> {status} {who}", login, token)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        # A HEAD answer never has a body, refusals and 404s included: the client would read it as
        # the start of the next response on the same connection.
        if with_body and self.command != "HEAD":
            self.wfile.write(body)


def _short(path: str) -> str:
    """A path for the log: a download's ~3 KB opaque part cut to its start."""
    return path if len(path) <= 160 else path[:150] + "..."


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
