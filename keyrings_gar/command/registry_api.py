"""The Artifact Registry API asked about one repository: its mode (`repositories.get`) and which
Python permissions the identity holds there (`testIamPermissions`), for `doctor --check-access` and
`configure`. The Python host itself tells neither: its root listing answers 404 to everyone.

Each call carries the token of the identity a lookup would use, through the bounded transport (one
deadline, a size bound, no redirect followed), to Google's API host or the one
KEYRINGS_GAR_API_ENDPOINT names (checked by trust.check_endpoint before anything is sent).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import google.auth.exceptions

from ..errors import ConfigError, GarError
from ..mint.transport import DeadlineRequest
from ..mint.trust import check_endpoint
from ..redact import scrubbed
from .index_rule import Repository

API_ENDPOINT_VAR = "KEYRINGS_GAR_API_ENDPOINT"
DEFAULT_API_ENDPOINT = "https://artifactregistry.googleapis.com"
STANDARD = "STANDARD_REPOSITORY"
DOWNLOAD_PERMISSION = "artifactregistry.repositories.downloadArtifacts"
UPLOAD_PERMISSION = "artifactregistry.repositories.uploadArtifacts"
READER_ROLE = "roles/artifactregistry.reader"


class ApiAnswer(NamedTuple):
    """What the API said about a repository; None where it could not say (`problem` says why)."""

    mode: str | None
    """STANDARD_REPOSITORY, VIRTUAL_REPOSITORY or REMOTE_REPOSITORY."""
    permissions: frozenset[str] | None
    """Of DOWNLOAD_PERMISSION and UPLOAD_PERMISSION, those the identity holds there."""
    missing: bool = False
    """The API says the repository does not exist (it answers so only to who may see the project)."""
    problem: str | None = None


def mode_name(mode: str) -> str:
    """`standard` for STANDARD_REPOSITORY, as users and gcloud's --mode flag call it."""
    return mode.removesuffix("_REPOSITORY").lower()


def _json(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _refusal(status: int, answer: Mapping[str, Any], project: str) -> str:
    """Why `repositories.get` answered `status`, with the fix for its cause."""
    error = answer.get("error")
    listed = error.get("details") if isinstance(error, dict) else None
    details = [d for d in listed if isinstance(d, dict)] if isinstance(listed, list) else []
    disabled = [d.get("metadata") for d in details if d.get("reason") == "SERVICE_DISABLED"]
    if disabled:
        consumer = next((str(m.get("consumer", "")) for m in disabled if isinstance(m, dict)), "")
        where = scrubbed(consumer.removeprefix("projects/")[:40]) or project
        return (f"the Artifact Registry API is not enabled in project {where}, where this identity's calls are "
                f"billed (HTTP 403 SERVICE_DISABLED); enable it: `gcloud services enable "
                f"artifactregistry.googleapis.com --project={where}`, or bill them to a project where it is "
                "(GOOGLE_CLOUD_QUOTA_PROJECT, or `gcloud auth application-default set-quota-project PROJECT`)")
    if status == 403:
        return ("the Artifact Registry API refused this identity (HTTP 403): it lacks "
                f"artifactregistry.repositories.get there ({READER_ROLE} grants it), or the "
                "repository does not exist")
    if status == 401:
        return "the Artifact Registry API refused this identity's token (HTTP 401)"
    return f"the Artifact Registry API answered HTTP {status}; if it is 5xx, try again later"


def repository_facts(repository: Repository, api_token: Callable[[], tuple[str, str | None]], timeout: float
                     ) -> ApiAnswer:
    """`repositories.get` and `testIamPermissions` for `repository`, with the token `api_token` gives,
    billed to the project it names, if any (`x-goog-user-project`, as google-auth sends it)."""
    if not repository.location:
        return ApiAnswer(None, None, problem=f"{repository.host} names no location (a host from KEYRINGS_GAR_HOSTS), "
                                             "so the Artifact Registry API cannot be asked about the repository")
    try:
        token, quota_project = api_token()
    except GarError as exc:
        return ApiAnswer(None, None, problem=f"no token to ask the Artifact Registry API with: {exc}")
    endpoint = os.environ.get(API_ENDPOINT_VAR, "").strip()
    url = f"{(endpoint or DEFAULT_API_ENDPOINT).rstrip('/')}/v1/{repository.resource}"
    try:
        check_endpoint(url, "artifact_registry_api", API_ENDPOINT_VAR if endpoint else "the Artifact Registry API URL")
    except ConfigError as exc:
        return ApiAnswer(None, None, problem=str(exc))
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if quota_project:
        headers["x-goog-user-project"] = quota_project
    body = json.dumps({"permissions": [DOWNLOAD_PERMISSION, UPLOAD_PERMISSION]}).encode()
    with contextlib.closing(DeadlineRequest(timeout)) as request:  # one deadline for both calls
        try:
            got = request(url, "GET", headers=headers)
            tested = request(f"{url}:testIamPermissions", "POST", body=body,
                             headers={**headers, "Content-Type": "application/json"})
        except google.auth.exceptions.TransportError as exc:
            return ApiAnswer(None, None, problem=f"the Artifact Registry API could not be asked "
                                                 f"({scrubbed(str(exc))}); check the network and HTTPS_PROXY")
    mode = _json(got.data).get("mode") if got.status == 200 else None
    held = _json(tested.data).get("permissions") if tested.status == 200 else None
    permissions = frozenset(p for p in held if isinstance(p, str)) if isinstance(held, list) else (
        frozenset() if tested.status == 200 else None)
    if isinstance(mode, str):
        return ApiAnswer(mode, permissions)
    if got.status == 404:
        return ApiAnswer(None, permissions, missing=True)
    return ApiAnswer(None, permissions, problem=_refusal(got.status, _json(got.data), repository.project))
