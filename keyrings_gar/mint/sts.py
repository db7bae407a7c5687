"""Workload identity federation: an `external_account` or `external_account_authorized_user`
ADC file turned into an access token with one STS exchange (plus one IAM generateAccessToken
when the file asks for impersonation), every call through the caller's deadline transport.

google-auth's own path (load_credentials_from_dict, then refresh) also asks Cloud Resource
Manager for the project id, which costs a second STS exchange (or IAM call) and a CRM call on a
requests session of its own, outside our proxy, CA and deadline settings. Here the subject token
is read (identity_pool.py, pluggable.py, aws.py), exchanged and (optionally) impersonated, and nothing else.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import google.auth.exceptions

from ..access_token import ASSUMED_LIFETIME, parse_expiry
from ..errors import RefusedError, TokenError
from ..external_account import (
    AWS_SUBJECT_TOKEN_TYPE,
    EXTERNAL_ACCOUNT_AUTHORIZED_USER,
    impersonation_target,
    is_aws_source,
)
from ..sources import CLOUD_PLATFORM_SCOPE
from .aws import aws_subject_token
from .identity_pool import fetch_subject_token, read_subject_token_file
from .pluggable import executable_subject_token
from .transport import DeadlineRequest, unreachable
from .trust import DEFAULT_STS_URL

STS_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
STS_REQUESTED_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - a type name
IAM_SCOPE = "https://www.googleapis.com/auth/iam"
_DEFAULT_IMPERSONATION_LIFETIME = 3600
# google-auth's test for a workforce pool (external_account.is_workforce_pool).
_WORKFORCE_AUDIENCE = re.compile(r"//iam\.googleapis\.com/locations/[^/]+/workforcePools/")
_RELOGIN_FIX = "re-run `gcloud auth application-default login --login-config=<your login config>`"
_RECREATE_FIX = "recreate it with `gcloud iam workload-identity-pools create-cred-config`"

def mint_federated(info: Mapping[str, Any], request: DeadlineRequest, subject_token: str | None) -> tuple[str, float]:
    """An access token and its expiry (seconds since the epoch) for a federated ADC file, for
    `subject_token` when it was retrieved already (its cache key names it), else for a new one."""
    if info.get("type") == EXTERNAL_ACCOUNT_AUTHORIZED_USER:
        return _workforce_user_token(info, request)
    audience = info.get("audience")
    if not isinstance(audience, str) or not audience:
        raise TokenError(f"the workload identity federation file has no 'audience'; {_RECREATE_FIX}")
    if info.get("workforce_pool_user_project") and not _WORKFORCE_AUDIENCE.match(audience):
        # google-auth refuses this file when it loads it: a workload pool has no user project.
        raise TokenError("the workload identity federation file sets workforce_pool_user_project, but its audience "
                         f"names a workload identity pool: remove workforce_pool_user_project, or {_RECREATE_FIX}")
    if subject_token is None:
        subject_token = retrieve_subject_token(info, request)
    impersonation_url = info.get("service_account_impersonation_url")
    # As google-auth: with impersonation the STS token only has to call IAM, so it asks for the
    # IAM scope; the impersonated token then carries cloud-platform.
    scope = IAM_SCOPE if impersonation_url else CLOUD_PLATFORM_SCOPE
    token, expiry = _exchange(info, request, audience, subject_token, scope)
    if impersonation_url:
        return _impersonate(info, request, str(impersonation_url), token)
    return token, expiry


def retrieve_subject_token(info: Mapping[str, Any], request: DeadlineRequest) -> str:
    """The external identity's token, from the credential_source the file names."""
    source = info.get("credential_source")
    if not isinstance(source, dict):
        raise TokenError(f"the workload identity federation file has no credential_source; {_RECREATE_FIX}")
    if is_aws_source(info):
        return aws_subject_token(info, request, os.environ)
    if isinstance(source.get("executable"), dict):
        return executable_subject_token(info, source["executable"], request, os.environ)
    if source.get("file"):
        return read_subject_token_file(str(source["file"]), source.get("format"))
    if source.get("url"):
        return fetch_subject_token(str(source["url"]), source.get("headers"), source.get("format"), request)
    if "certificate" in source:
        # Minting needs mutual TLS to sts.mtls.googleapis.com with the workload's certificate, which
        # our transport does not present; gcloud does, and its login is a source of ours.
        raise TokenError("X.509 certificate workload identity federation (credential_source.certificate) needs "
                         "mutual TLS: run `gcloud auth login --cred-file=FILE` and set `token = gcloud` in the entry")
    raise TokenError("the workload identity federation file's credential_source names no file, url, "
                     f"executable or AWS environment; {_RECREATE_FIX}")


def _exchange(info: Mapping[str, Any], request: DeadlineRequest, audience: str, subject_token: str, scope: str
              ) -> tuple[str, float]:
    """One STS token exchange, form-encoded as google-auth's sts.Client sends it."""
    body: dict[str, str] = {
        "grant_type": STS_GRANT_TYPE,
        "audience": audience,
        "scope": scope,
        "requested_token_type": STS_REQUESTED_TOKEN_TYPE,
        "subject_token": subject_token,
        "subject_token_type": str(info.get("subject_token_type", "")),
    }
    user_project = info.get("workforce_pool_user_project")
    if user_project and not info.get("client_id"):
        # As google-auth: the workforce pool user project, unless a client id identifies it.
        body["options"] = quote(json.dumps({"userProject": user_project}))
    try:
        data = _post_form(request, str(info.get("token_url") or DEFAULT_STS_URL), body, info, "STS")
    except RefusedError as exc:
        raise _sts_refusal(info, exc) from None
    return _oauth_token(data, "STS")


def _sts_refusal(info: Mapping[str, Any], refused: RefusedError) -> RefusedError:
    """What an STS error code means for this file, with the fix that fits it."""
    code = refused.code
    if code == "invalid_grant" and info.get("subject_token_type") == AWS_SUBJECT_TOKEN_TYPE:
        why = ("refused the signed AWS request (invalid_grant): AWS did not accept the credentials (AWS_ACCESS_KEY_ID, "
               "its secret, AWS_SESSION_TOKEN), or the provider's attribute condition excludes this role; check the "
               "job's AWS credentials")
    elif code == "invalid_grant":
        why = ("refused the subject token (invalid_grant): it expired, or its issuer, audience or attribute condition "
               "does not match the provider; fetch a fresh ID token in the same job")
    elif code == "invalid_request" and _WORKFORCE_AUDIENCE.match(str(info.get("audience", ""))) \
            and not info.get("client_id") and not info.get("workforce_pool_user_project"):
        why = ("refused the exchange (invalid_request): the workforce identity config has no "
               "workforce_pool_user_project; recreate it with `gcloud iam workforce-pools create-cred-config ... "
               "--workforce-pool-user-project=PROJECT_NUMBER`")
    elif code in ("invalid_request", "invalid_target", "unauthorized_client", "invalid_client"):
        why = (f"rejected the audience or provider ({code}): the file's audience must name an enabled provider "
               "(//iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/ID)")
    else:
        return refused
    return RefusedError(refused.endpoint, code, why)


def _workforce_user_token(info: Mapping[str, Any], request: DeadlineRequest) -> tuple[str, float]:
    """A workforce identity user login: the refresh-token grant at the file's token_url."""
    for name in ("refresh_token", "token_url", "client_id", "client_secret"):
        if not info.get(name):
            raise TokenError(f"the workforce identity login file has no {name!r}; {_RELOGIN_FIX}")
    body = {"grant_type": "refresh_token", "refresh_token": str(info["refresh_token"])}
    what = "the workforce identity token endpoint"
    try:
        return _oauth_token(_post_form(request, str(info["token_url"]), body, info, what), what)
    except RefusedError as exc:
        if exc.code != "invalid_grant":
            raise
        raise RefusedError(what, exc.code, f"refused the login (invalid_grant: expired or revoked); {_RELOGIN_FIX}"
                           ) from None


def _impersonate(info: Mapping[str, Any], request: DeadlineRequest, url: str, sts_token: str) -> tuple[str, float]:
    """One IAM generateAccessToken call for the file's service account, with the STS token."""
    options = info.get("service_account_impersonation")
    lifetime = options.get("token_lifetime_seconds") if isinstance(options, dict) else None
    body = {"delegates": None, "scope": [CLOUD_PLATFORM_SCOPE],
            "lifetime": f"{int(lifetime) if lifetime else _DEFAULT_IMPERSONATION_LIFETIME}s"}
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {sts_token}"}
    what = f"IAM (impersonating {impersonation_target(url) or 'the service account'})"
    data = _post(request, url, json.dumps(body).encode("utf-8"), headers, what)
    token, expire_time = data.get("accessToken"), data.get("expireTime")
    if not isinstance(token, str) or not isinstance(expire_time, str):
        raise TokenError(f"{what} answered without a token; try again later")
    try:
        expiry = parse_expiry(expire_time)
    except ValueError:
        raise TokenError(f"{what} answered with an unreadable expiry") from None
    return token, expiry


def _post_form(request: DeadlineRequest, url: str, body: Mapping[str, str], info: Mapping[str, Any], what: str
               ) -> dict[str, Any]:
    """A form POST as google-auth's OAuth clients send it: the file's client id and secret, if any, as Basic auth."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if info.get("client_id"):
        client = f"{info['client_id']}:{info.get('client_secret') or ''}"
        headers["Authorization"] = "Basic " + base64.b64encode(client.encode()).decode("ascii")
    return _post(request, url, urlencode(body).encode("utf-8"), headers, what)


def _post(request: DeadlineRequest, url: str, body: bytes, headers: dict[str, str], what: str) -> dict[str, Any]:
    try:
        response = request(url, method="POST", body=body, headers=headers)
    except google.auth.exceptions.TransportError as exc:
        raise unreachable(exc, what) from None
    try:
        parsed = json.loads(response.data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        parsed = None
    if not isinstance(parsed, dict):
        raise TokenError(f"{what} answered HTTP {response.status} with something other than JSON (a proxy's "
                         "page?); check HTTPS_PROXY and NO_PROXY, or try again later")
    if response.status != 200:
        raise _refusal(what, response.status, parsed)
    return parsed


def _oauth_token(data: Mapping[str, Any], what: str) -> tuple[str, float]:
    token, expires_in = data.get("access_token"), data.get("expires_in")
    if not isinstance(token, str) or not token:
        raise TokenError(f"{what} answered without an access token; try again later")
    try:
        lifetime = float(expires_in) if expires_in is not None else ASSUMED_LIFETIME
    except (TypeError, ValueError):
        lifetime = ASSUMED_LIFETIME
    return token, time.time() + lifetime


def _refusal(what: str, status: int, body: Mapping[str, Any]) -> RefusedError:
    """Why STS or IAM said no, as the cause a user can fix; never their description text."""
    error = body.get("error")
    if isinstance(error, dict):
        # IAM: {"error": {"code": 403, "status": "PERMISSION_DENIED", ...}}
        code = str(error.get("status", status))[:40]
        if code == "PERMISSION_DENIED" or status == 403:
            return RefusedError(what, code, f"was denied ({code}): grant the pool's principal "
                                "roles/iam.workloadIdentityUser on that service account, and enable the IAM Service "
                                "Account Credentials API")
        return RefusedError(what, code, f"refused the request ({code})")
    code = str(error or f"HTTP {status}")[:60]
    return RefusedError(what, code, f"refused the request ({code}); try again later")
