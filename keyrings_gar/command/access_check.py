"""`doctor --check-access`: what an installer asks the repository, then what the Artifact Registry API
(registry_api.py) says about it, with the same identity, and what the answers mean.

A minted token proves only that Google knows the identity; whether Artifact Registry lets it read
this repository, or a pre-minted token is still alive, only the registry can say. Installers never
read the root listing (`/P/R/simple/`), which answers 404 to everyone: the check GETs a package page,
as an installer does (`--package NAME`, else a name no repository holds, whose 404 proves the read as
a 200 does). The API then tells the mode, whether the identity may upload (without uploading), and a
missing repository from a missing role. An API refusal is a warning: it never fails a proven read.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
from pathlib import Path
from typing import Any, NamedTuple

import google.auth.exceptions

from ..config import load_settings, trusted_hosts
from ..config_entries import TOKEN_USERNAMES
from ..configfile import entry_for
from ..errors import GarError
from ..hosts import RepositoryTarget, parse_service
from ..lookup import access_token, credential_for
from ..mint.transport import DeadlineRequest, RedirectRefusedError
from ..provided import find_provided_token
from ..redact import scrubbed
from ..search import PRE_MINTED, find_json_key, find_token_source
from ..sources import source_from_secret
from .index_rule import Repository
from .only_index import only_index_places
from .registry_api import READER_ROLE, STANDARD, UPLOAD_PERMISSION, ApiAnswer, mode_name, repository_facts

WRITER_ROLE = "roles/artifactregistry.writer"
DOWNLOAD, UPLOAD = "download", "upload"
PROBE_PACKAGE = "keyrings-gar-access-probe"  # a name of ours that no repository holds
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,255}")
_PACKAGE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,200}[A-Za-z0-9])?")


class AccessAnswer(NamedTuple):
    """What the registry answered and what that means for the user."""
    status: int
    ok: bool
    text: str
    api: ApiAnswer | None = None
    warnings: tuple[str, ...] = ()


def add_access_check(report: dict[str, Any], url: str, purpose: str = DOWNLOAD, package: str | None = None) -> None:
    """Add to doctor's `report` (for `url`, already found to work) what the registry answers to the
    credential a lookup would give; a refusal becomes a problem and the report fails."""
    problems: list[str] = report["problems"]
    try:
        repository = _repository(url, package)
        answer = check_access(repository, report.get("credential") or {}, purpose, package)
    except GarError as exc:
        problems.append(str(exc))
    else:
        api = answer.api
        report["access"] = {"url": repository.page_url(package or PROBE_PACKAGE), "status": answer.status,
                            "ok": answer.ok, "purpose": purpose, "text": answer.text,
                            "api": None if api is None else {
                                **api._asdict(), "permissions": None if api.permissions is None else
                                sorted(api.permissions)}}
        report["warnings"].extend(answer.warnings)
        if api is not None and api.mode == STANDARD:
            report["warnings"].extend(_standard_as_only_index(repository))
        if not answer.ok:
            problems.append(answer.text)
    report["ok"] = not problems


def api_token(target: RepositoryTarget, username: str, password: str) -> tuple[str, str | None]:
    """A bearer token of the identity `username`/`password` is for (the token itself, or one minted from the
    json key secret: the key never goes to the API), and the project its calls are billed to as google-auth
    picks it: GOOGLE_CLOUD_QUOTA_PROJECT, else the file's quota_project_id (None: the credential's own)."""
    settings = load_settings()
    entry = entry_for(target)
    if username in TOKEN_USERNAMES:
        token = password
        source = None if find_provided_token() is not None else find_token_source(settings, entry=entry)
    else:
        secret = find_json_key(settings, entry=entry)
        if secret is None:
            raise GarError("no json key secret to mint a token from")
        source = source_from_secret(secret)
        token = access_token(source, settings).value
    quota = os.environ.get("GOOGLE_CLOUD_QUOTA_PROJECT", "").strip() or (
        str(source.info.get("quota_project_id") or "") if source is not None else "")
    return token, quota or None


def _repository(url: str, package: str | None) -> Repository:
    if package is not None and _PACKAGE.fullmatch(package) is None:
        raise GarError("--package takes a project name (letters, digits, `.`, `_`, `-`)")
    target = parse_service(url, trusted_hosts())
    repository = Repository.from_target(target) if target is not None else None
    if repository is None:
        raise GarError("--check-access needs the repository's URL, "
                       "https://LOCATION-python.pkg.dev/PROJECT/REPOSITORY/simple/")
    return repository


def check_access(repository: Repository, credential: dict[str, Any], purpose: str, package: str | None
                 ) -> AccessAnswer:
    """GET `package`'s page with a lookup's credential, then ask the API with its identity, and explain
    both for `purpose`; `credential` is doctor's report of the credential's source and identity."""
    login = _login(repository)
    timeout = load_settings().timeout
    page = repository.page_url(package or PROBE_PACKAGE)
    status = _page_status(page, repository.host, login, timeout)
    if status == 401:
        return AccessAnswer(status, False, _refused(credential))
    api = repository_facts(repository, lambda: api_token(repository.target, *login), timeout)
    if status in (200, 404):
        return _readable(repository, status, credential, purpose, api)
    if status == 403 and api.missing:
        listing = f"gcloud artifacts repositories list --project={repository.project} --location={repository.location}"
        return AccessAnswer(status, False, f"Artifact Registry has no repository {repository.repository} in project "
                                           f"{repository.project} at {repository.location} (the package page answered "
                                           "HTTP 403, and the Artifact Registry API 404): check the URL against "
                                           f"`{listing}`", api)
    if status == 403:
        return AccessAnswer(status, False, _denied(repository, credential, purpose), api, _api_warning(api, status))
    if 300 <= status < 400:
        return AccessAnswer(status, False, f"{page} answered with a redirect (HTTP {status}), which Artifact "
                                           "Registry never sends for a package page: not followed; check the proxy "
                                           "or host in between", api)
    return AccessAnswer(status, False, f"Artifact Registry answered HTTP {status} for {page}; "
                                       "if it is 5xx, try again later", api)


def _readable(repository: Repository, status: int, credential: dict[str, Any], purpose: str,
              api: ApiAnswer) -> AccessAnswer:
    """A package page answered 200 or 404: the identity reads the repository; may it upload too?"""
    kind = f"a {mode_name(api.mode)} repository, " if api.mode else ""
    read = (f"Artifact Registry lets this credential read {repository.index_url} ({kind}a package page answered "
            f"HTTP {status})")
    warnings = _api_warning(api, status)
    if purpose != UPLOAD:
        return AccessAnswer(status, True, read, api, warnings)
    if api.mode is not None and api.mode != STANDARD:
        return AccessAnswer(status, False, f"{repository.resource} is a {mode_name(api.mode)} repository, which takes "
                                           "no uploads: publish to the standard repository behind it (`gcloud "
                                           f"artifacts repositories describe {repository.repository} "
                                           f"--project={repository.project} --location={repository.location}` "
                                           "lists its upstreams)", api)
    if api.permissions is None:
        return AccessAnswer(status, True, f"{read}; whether it may upload is unknown (see the warning)", api,
                            warnings or ("the Artifact Registry API was not asked, so uploading is not checked",))
    if UPLOAD_PERMISSION in api.permissions:
        return AccessAnswer(status, True, f"{read}, and may upload to it ({UPLOAD_PERMISSION}, asked with "
                                          "testIamPermissions: nothing was uploaded)", api, warnings)
    return AccessAnswer(status, False, _denied(repository, credential, UPLOAD, page_status=status), api, warnings)


def _standard_as_only_index(repository: Repository) -> list[str]:
    return [f"{place} makes {repository.repository}, a standard repository (its own packages only), the only index: "
            "public packages will not be found; remove that setting and add it beside PyPI (`keyrings-gar configure "
            "TOOL URL --standard`), or make a virtual repository in front of it the only index"
            for place in only_index_places(repository.index_url, Path.cwd())]


def _api_warning(api: ApiAnswer, status: int) -> tuple[str, ...]:
    """The API's refusal as a warning; after a 403 page only when it says more than the 403 does."""
    if api.problem is None or (status == 403 and "SERVICE_DISABLED" not in api.problem):
        return ()
    return (api.problem,)


def _page_status(page: str, host: str, login: tuple[str, str], timeout: float) -> int:
    """The status of one GET, through the user's proxy and CA bundle; the bounded transport follows
    no redirect (a credential must not go elsewhere) and reports one as its status here."""
    class StatusOnly(DeadlineRequest):
        def _read(self, response: Any) -> bytes:  # noqa: ARG002 - the body is not wanted
            return b""

    basic = base64.b64encode(":".join(login).encode()).decode("ascii")
    with contextlib.closing(StatusOnly(timeout)) as request:
        try:
            return request(page, "GET", headers={"Authorization": f"Basic {basic}", "Accept": "text/html"}).status
        except RedirectRefusedError as exc:
            return exc.status  # the transport follows no redirect, and neither does this check
        except google.auth.exceptions.TransportError as exc:
            raise GarError(f"could not reach {host}: {scrubbed(str(exc), 400)}; check the network, "
                           "HTTPS_PROXY and the CA bundle (REQUESTS_CA_BUNDLE, SSL_CERT_FILE)") from None


def _refused(credential: dict[str, Any]) -> str:
    """401: the registry does not take the credential at all; the fix depends on where it came from."""
    source = credential.get("token_source") or {}
    secret = credential.get("secret")
    if source.get("kind") == PRE_MINTED:
        return (f"Artifact Registry refused the pre-minted token from {source['origin']} (HTTP 401): it has "
                "expired (tokens live about an hour) or is no OAuth access token with the cloud-platform scope; "
                "put a fresh `gcloud auth print-access-token` there, or unset it so that keyrings.gar mints its own")
    if secret is not None:
        # Whether the registry needs the key file's exact bytes is not known: both causes are named.
        return (f"Artifact Registry refused the _json_key_base64 secret of {secret['email']} (key "
                f"{secret['key_id'] or 'without id'}) (HTTP 401): either the key or its service account was deleted "
                "or disabled (create a new key: `gcloud iam service-accounts keys create`), or the secret is not "
                "the base64 of the key file as it was created (set it to `base64 -w0 KEY.json`)")
    who = f"{source.get('identity')} ({source.get('kind')}: {source.get('origin')})" if source else "this identity"
    return (f"Artifact Registry refused the token of {who} (HTTP 401): it was revoked, or the account disabled; "
            "run `keyrings-gar cache clear` and check again, then log in again with that source")


def _denied(repository: Repository, credential: dict[str, Any], purpose: str, page_status: int = 403) -> str:
    """403 (or the API's testIamPermissions without the upload permission after a read answered
    `page_status`): a known identity without the role; name both and the command that grants it."""
    role = WRITER_ROLE if purpose == UPLOAD else READER_ROLE
    source = credential.get("token_source") or {}
    secret = credential.get("secret")
    identity = secret["email"] if secret is not None else str(source.get("identity") or "this identity")
    location = f" --location={repository.location}" if repository.location else ""
    grant = (f"gcloud artifacts repositories add-iam-policy-binding {repository.repository} "
             f"--project={repository.project}{location} --member={_member(identity)} --role={role}")
    if page_status != 403:
        return (f"{identity} may read but not upload to {repository.resource} (testIamPermissions: no "
                f"{UPLOAD_PERMISSION}; nothing was uploaded): it lacks {role}; an administrator of the repository "
                f"grants it: {grant}")
    direction = "to" if purpose == UPLOAD else "from"
    return (f"{identity} may not {purpose} {direction} {repository.resource} (HTTP 403): it lacks {role} on that "
            "repository, or the project or repository does not exist (Artifact Registry does not say which); an "
            f"administrator of the repository grants it: {grant}")


def _member(identity: str) -> str:
    """IAM's name for an identity as doctor describes it; a placeholder when it names no email."""
    if identity.startswith(("principal://", "principalSet://")):
        return identity
    email = _EMAIL.search(identity)
    if email is None:
        return "MEMBER"
    kind = "serviceAccount" if email.group().endswith(".gserviceaccount.com") else "user"
    return f"{kind}:{email.group()}"


def _login(repository: Repository) -> tuple[str, str]:
    """The (username, password) a lookup answers for `repository.target`, as for any of its URLs."""
    found = credential_for(repository.target, None)
    if found is None:
        url = repository.index_url
        raise GarError(f"no credential for {url}; `keyrings-gar doctor {url}` says why")
    return found.username, found.password


def api_facts(repository: Repository) -> ApiAnswer:
    """What the API says about `repository`, asked with `_login`'s identity (for `configure`)."""
    return repository_facts(repository, lambda: api_token(repository.target, *_login(repository)),
                            load_settings().timeout)
