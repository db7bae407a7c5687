"""A loopback stand-in for the Artifact Registry API (`artifactregistry.googleapis.com/v1`), answering
from the FakeRegistry's own model of its repositories, as the real API answers about them. Evidence
(D: Google's documentation, C: a public report quoting the answer, I: inferred; ../shared/notes/
artifact-registry.md has the sources):

- `GET /v1/projects/P/locations/L/repositories/R`: the repository (`name`, `format`, `mode`) for an
  identity that holds `artifactregistry.repositories.get` there (the reader role grants it) (D).
- Without that permission: 403 PERMISSION_DENIED "Permission '...' denied on resource '...' (or it
  may not exist)." (C: deploy-cloudrun#370). A repository that does not exist (or is in another
  location) gets the same 403, except for an identity that may see the project
  (`project_viewers`, None: everyone), which gets 404 NOT_FOUND "Requested entity was not found."
  (I: Google's APIs answer 404 to who may list the parent; not seen quoted for Artifact Registry).
- `POST /v1/projects/P/locations/L/repositories/R:testIamPermissions` with `{"permissions": [...]}`:
  the subset the identity holds (D), `{}` when none (Google's JSON omits an empty list), also for a
  repository that does not exist (I: IAM's general rule, an empty set rather than 404).
- A Bearer token the FakeGoogle issued, alive, or 401 UNAUTHENTICATED (D).
- The API not enabled in the caller's quota project (`disabled`, unless the request's
  `x-goog-user-project` is in `enabled_in`): 403 PERMISSION_DENIED with the
  `SERVICE_DISABLED` ErrorInfo and the message gcloud quotes ("Artifact Registry API has not been
  used in project ... before or it is disabled") (C).

It records every request (`requests`: method, path, identity), never a token.
"""
from __future__ import annotations

import json
import re
import threading
from http.server import ThreadingHTTPServer
from typing import Any

from .registry import FakeRegistry
from .serving import BackgroundServer, QuietHandler

API_HOST = "artifactregistry.googleapis.com"
CONSUMER_PROJECT_NUMBER = "123456789012"
_RESOURCE = re.compile(r"/v1/projects/([^/]+)/locations/([^/]+)/repositories/([^/:]+)(:testIamPermissions)?")


class FakeArtifactRegistryApi(BackgroundServer):
    """The API over the registry's repositories. Use as a context manager or start()/stop()."""

    _server: _Server

    def __init__(self, registry: FakeRegistry, host: str = "127.0.0.1", port: int = 0) -> None:
        self.registry = registry
        self.disabled = False
        """The API is not enabled in the caller's project: every call gets SERVICE_DISABLED."""
        self.enabled_in: set[str] = set()
        """Quota projects (`x-goog-user-project`) where the API is enabled even when `disabled`."""
        self.project_viewers: frozenset[str] | None = None
        """Who may see the project (and so learn that a repository does not exist); None: everyone."""
        self.requests: list[tuple[str, str, str]] = []  # (method, path, identity or "anonymous")
        self._lock = threading.Lock()
        self._server = _Server((host, port), _Handler)
        self._server.api = self

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def answer(self, method: str, path: str, authorization: str | None, body: bytes, quota_project: str | None = None
               ) -> tuple[int, dict[str, Any]]:
        """(status, JSON body) for one request, as the real API answers it; `quota_project` is the
        request's `x-goog-user-project`."""
        token = authorization[len("Bearer "):].strip() if authorization and authorization.startswith("Bearer ") else ""
        identity = self.registry.google.identity_of(token) if token else None
        with self._lock:
            self.requests.append((method, path, identity or "anonymous"))
        if identity is None:
            return _error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 "
                          "access token, login cookie or other valid authentication credential.")
        if self.disabled and quota_project not in self.enabled_in:
            return _service_disabled()
        match = _RESOURCE.fullmatch(path)
        if match is None or (method, bool(match.group(4))) not in (("GET", False), ("POST", True)):
            return _error(404, "NOT_FOUND", "The requested URL was not found on this server.")
        project, location, repository, test = match.groups()
        view = self.registry.describe(project, repository)
        name = f"projects/{project}/locations/{location}/repositories/{repository}"
        if (view is None or view.location != location) and test:
            return 200, {}
        if view is None or view.location != location:
            if self.project_viewers is None or identity in self.project_viewers:
                return _error(404, "NOT_FOUND", "Requested entity was not found.")
            return _denied("artifactregistry.repositories.get", name)
        assert view is not None
        held = view.permissions(identity)
        if test:
            try:
                asked = json.loads(body or b"{}").get("permissions", [])
            except (ValueError, AttributeError):
                return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
            granted = [p for p in asked if p in held]
            return 200, ({"permissions": granted} if granted else {})
        if "artifactregistry.repositories.get" not in held:
            return _denied("artifactregistry.repositories.get", name)
        return 200, {"name": name, "format": "PYTHON", "mode": view.mode,
                     "createTime": "2025-01-01T00:00:00Z", "updateTime": "2025-01-01T00:00:00Z"}


def _error(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
           ) -> tuple[int, dict[str, Any]]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return code, {"error": error}


def _denied(permission: str, name: str) -> tuple[int, dict[str, Any]]:
    return _error(403, "PERMISSION_DENIED", f"Permission '{permission}' denied on resource "
                  f"'//artifactregistry.googleapis.com/{name}' (or it may not exist).")


def _service_disabled() -> tuple[int, dict[str, Any]]:
    number = CONSUMER_PROJECT_NUMBER
    url = f"https://console.developers.google.com/apis/api/artifactregistry.googleapis.com/overview?project={number}"
    return _error(403, "PERMISSION_DENIED",
                  f"Artifact Registry API has not been used in project {number} before or it is disabled. Enable it "
                  f"by visiting {url} then retry. If you enabled this API recently, wait a few minutes for the "
                  "action to propagate to our systems and retry.",
                  [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED",
                    "domain": "googleapis.com",
                    "metadata": {"service": "artifactregistry.googleapis.com", "consumer": f"projects/{number}"}}])


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: FakeArtifactRegistryApi


class _Handler(QuietHandler):
    server: _Server

    def do_GET(self) -> None:
        self._answer(b"")

    def do_POST(self) -> None:
        self._answer(self.rfile.read(int(self.headers.get("Content-Length", "0") or 0)))

    def _answer(self, body: bytes) -> None:
        status, data = self.server.api.answer(self.command, self.path.split("?")[0],
                                              self.headers.get("Authorization"), body,
                                              self.headers.get("x-goog-user-project"))
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
