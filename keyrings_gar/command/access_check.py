"""`doctor --check-access`: one authenticated request to the repository, and what its answer means.

A token that google-auth minted proves only that Google knows the identity; whether Artifact
Registry lets that identity read this repository, and whether a pre-minted token is still alive, only
the registry can say. One GET of the repository's simple index answers both, with the credential a
lookup would give the installer, and the status is turned into the fix for its cause.
"""

from __future__ import annotations

import base64
import re
from typing import Any, NamedTuple

from ..errors import GarError
from ..hosts import RepositoryTarget
from ..redact import scrubbed

READER_ROLE = "roles/artifactregistry.reader"
WRITER_ROLE = "roles/artifactregistry.writer"
DOWNLOAD, UPLOAD = "download", "upload"
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,255}")


class Repository(NamedTuple):
    """The parts of a repository URL that Artifact Registry's answers are about."""

    host: str
    location: str
    project: str
    repository: str

    @classmethod
    def from_target(cls, target: RepositoryTarget) -> Repository | None:
        """None when the URL does not name both a project and a repository (a bare host)."""
        segments = target.repository_path.split("/")[1:]
        if len(segments) < 2:
            return None
        return cls(target.host, target.location, segments[0], segments[1])

    @property
    def index_url(self) -> str:
        return f"https://{self.host}/{self.project}/{self.repository}/simple/"

    @property
    def resource(self) -> str:
        return f"projects/{self.project}/locations/{self.location or 'LOCATION'}/repositories/{self.repository}"


class AccessAnswer(NamedTuple):
    """What the registry answered (None: no answer) and what that means for the user."""

    status: int | None
    ok: bool
    text: str


def add_access_check(report: dict[str, Any], url: str, purpose: str = DOWNLOAD) -> None:
    """Add to doctor's `report` (for `url`, already found to work) what the registry answers to the
    credential a lookup would give; a refusal becomes a problem and the report fails."""
    problems: list[str] = report["problems"]
    try:
        repository, answer = _lookup_and_check(url, report.get("credential") or {}, purpose)
    except GarError as exc:
        problems.append(str(exc))
    else:
        report["access"] = {"url": repository.index_url, "status": answer.status, "ok": answer.ok,
                            "purpose": purpose, "text": answer.text}
        if not answer.ok:
            problems.append(answer.text)
    report["ok"] = not problems


def _lookup_and_check(url: str, credential: dict[str, Any], purpose: str) -> tuple[Repository, AccessAnswer]:
    # Here, not at the top: `doctor` without --check-access never needs them.
    from ..backend import credential_for
    from ..config import load_settings, trusted_hosts
    from ..hosts import parse_service

    target = parse_service(url, trusted_hosts())
    repository = Repository.from_target(target) if target is not None else None
    if target is None or repository is None:
        raise GarError("--check-access needs the repository's URL, "
                       "https://LOCATION-python.pkg.dev/PROJECT/REPOSITORY/simple/")
    login = credential_for(target, None)
    if login is None:
        raise GarError("no credential to check: a lookup for this URL answers nothing")
    answer = check_access(repository, (login.username, login.password), credential, purpose=purpose,
                          timeout=load_settings().timeout)
    return repository, answer


def check_access(repository: Repository, login: tuple[str, str], credential: dict[str, Any], *,
                 purpose: str = DOWNLOAD, timeout: float) -> AccessAnswer:
    """GET the repository's index with the lookup's credential, `login` (username, password), and
    explain the status. `credential` is doctor's credential report: which source and identity
    the credential is from.
    """
    status = _index_status(repository, login, timeout)
    if status == 200:
        upload = (f"; uploading needs {WRITER_ROLE}, which only an upload can prove"
                  if purpose == UPLOAD else "")
        return AccessAnswer(status, True, f"Artifact Registry accepts this credential for {repository.index_url} "
                                          f"(HTTP 200){upload}")
    if status == 401:
        return AccessAnswer(status, False, _refused(credential))
    if status == 403:
        return AccessAnswer(status, False, _denied(repository, credential, purpose))
    if status == 404:
        where = f"at {repository.location}" if repository.location else f"behind {repository.host}"
        listing = (f"gcloud artifacts repositories list --project={repository.project}"
                   + (f" --location={repository.location}" if repository.location else ""))
        return AccessAnswer(status, False, f"Artifact Registry has no repository {repository.repository} in project "
                                           f"{repository.project} {where} (HTTP 404): check the location, project "
                                           f"and repository in the URL against `{listing}`")
    if 300 <= status < 400:
        return AccessAnswer(status, False, f"{repository.index_url} answered with a redirect (HTTP {status}), which "
                                           "Artifact Registry never sends for an index: not followed, as a credential "
                                           "must not go elsewhere; check the proxy or host in between")
    return AccessAnswer(status, False, f"Artifact Registry answered HTTP {status} for {repository.index_url}; "
                                       "if it is 5xx, try again later")


def _index_status(repository: Repository, login: tuple[str, str], timeout: float) -> int:
    """The status of one GET, through the user's proxy and CA bundle; the bounded transport follows
    no redirect (a credential must not go elsewhere) and reports one as its status here."""
    # Here, not at the top: only this check pays for requests and google-auth (start-up time).
    import google.auth.exceptions

    from ..transport import DeadlineRequest, RedirectRefusedError

    class StatusOnly(DeadlineRequest):
        """The bounded transport, reading no body: an index mirroring PyPI is tens of megabytes,
        and only the status answers the question."""

        def _read(self, response: Any) -> bytes:  # noqa: ARG002 - the body is not wanted
            return b""

    basic = base64.b64encode(":".join(login).encode()).decode("ascii")
    request = StatusOnly(timeout)
    try:
        response = request(repository.index_url, "GET", headers={"Authorization": f"Basic {basic}",
                                                                   "Accept": "text/html"})
    except RedirectRefusedError as exc:
        return exc.status  # the transport follows no redirect, and neither does this check
    except google.auth.exceptions.TransportError as exc:
        raise GarError(f"could not reach {repository.host}: {scrubbed(str(exc), 400)}; check the network, "
                       "HTTPS_PROXY and the CA bundle (REQUESTS_CA_BUNDLE, SSL_CERT_FILE)") from None
    finally:
        request.close()
    return response.status


def _refused(credential: dict[str, Any]) -> str:
    """401: the registry does not take the credential at all; the fix depends on where it came from."""
    source = credential.get("token_source") or {}
    secret = credential.get("secret")
    if source.get("kind") == "pre-minted token":
        return (f"Artifact Registry refused the pre-minted token from {source['origin']} (HTTP 401): it has "
                "expired (an access token lives about an hour) or is not an OAuth access token (an ID token, "
                "or one without the cloud-platform scope); put a fresh `gcloud auth print-access-token` there, "
                "or unset it so that keyrings.gar mints and refreshes its own")
    if secret is not None:
        return (f"Artifact Registry refused the _json_key_base64 secret of {secret['email']} (key "
                f"{secret['key_id'] or 'without id'}) (HTTP 401): the key or its service account was deleted or "
                "disabled; create a new key (`gcloud iam service-accounts keys create`) and set it again")
    who = f"{source.get('identity')} ({source.get('kind')}: {source.get('origin')})" if source else "this identity"
    return (f"Artifact Registry refused the token of {who} (HTTP 401): it was revoked, or the account disabled; "
            "run `keyrings-gar cache clear` and check again, and if it persists, log in again with that source")


def _denied(repository: Repository, credential: dict[str, Any], purpose: str) -> str:
    """403: a known identity without the role; name both and the command that grants it."""
    role = WRITER_ROLE if purpose == UPLOAD else READER_ROLE
    source = credential.get("token_source") or {}
    secret = credential.get("secret")
    identity = secret["email"] if secret is not None else str(source.get("identity") or "this identity")
    location = f" --location={repository.location}" if repository.location else ""
    grant = (f"gcloud artifacts repositories add-iam-policy-binding {repository.repository} "
             f"--project={repository.project}{location} --member={_member(identity)} --role={role}")
    direction = "to" if purpose == UPLOAD else "from"
    return (f"{identity} may not {purpose} {direction} {repository.resource} (HTTP 403): it lacks {role} on that "
            "repository, or the project or repository does not exist (Artifact Registry does not tell an "
            f"identity without access which); someone who administers the repository can grant it: {grant}")


def _member(identity: str) -> str:
    """IAM's name for an identity as doctor describes it; a placeholder when it names no email."""
    if identity.startswith(("principal://", "principalSet://")):
        return identity
    email = _EMAIL.search(identity)
    if email is None:
        return "MEMBER"
    kind = "serviceAccount" if email.group().endswith(".gserviceaccount.com") else "user"
    return f"{kind}:{email.group()}"
