"""Workload identity federation: an `external_account` or `external_account_authorized_user`
ADC file turned into an access token with one STS exchange (plus one IAM generateAccessToken
when the file asks for impersonation), every call through the caller's deadline transport.

google-auth's own path (load_credentials_from_dict, then refresh) also asks Cloud Resource
Manager for the project id, which costs a second STS exchange (or IAM call) and a CRM call on a
requests session of its own, outside our proxy, CA and deadline settings. Here the subject token
is read, exchanged and (optionally) impersonated, and nothing else. Only the AWS request signing
is google-auth's (its `aws` module), so the signed GetCallerIdentity request is exactly the one
STS expects from google-auth.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlencode, urlsplit

from .errors import TokenError
from .sources import CLOUD_PLATFORM_SCOPE

EXTERNAL_ACCOUNT = "external_account"
EXTERNAL_ACCOUNT_AUTHORIZED_USER = "external_account_authorized_user"
FEDERATED_TYPES = (EXTERNAL_ACCOUNT, EXTERNAL_ACCOUNT_AUTHORIZED_USER)

STS_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
STS_REQUESTED_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - a type name
AWS_SUBJECT_TOKEN_TYPE = "urn:ietf:params:aws:token-type:aws4_request"  # noqa: S105 - a type name
IAM_SCOPE = "https://www.googleapis.com/auth/iam"
ALLOW_EXECUTABLES_VAR = "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES"
_DEFAULT_STS_URL = "https://sts.googleapis.com/v1/token"
_DEFAULT_IMPERSONATION_LIFETIME = 3600
# A subject token is a JWT, a SAML assertion or a signed AWS request: a few KiB. Anything far
# larger is not one, and is not read further.
MAX_SUBJECT_TOKEN_BYTES = 256 * 1024
_EXECUTABLE_TIMEOUT_DEFAULT = 30.0
_RELOGIN_FIX = "re-run `gcloud auth application-default login --login-config=<your login config>`"


class Transport(Protocol):
    """What we need of tokens.DeadlineRequest: google-auth's transport call, and the time left."""

    def __call__(self, url: str, method: str = "GET", body: Any = None, headers: Any = None,
                 timeout: float | None = None, **kwargs: Any) -> Any: ...

    def remaining(self) -> float: ...


class Unreachable(Exception):  # noqa: N818 - it names the situation; the caller words the message
    """A federation endpoint could not be reached; `what` names it, `cause` is the transport error."""

    def __init__(self, what: str, cause: BaseException) -> None:
        super().__init__(what)
        self.what, self.cause = what, cause


def mint_federated(info: Mapping[str, Any], request: Transport,
                   environ: Mapping[str, str] = os.environ) -> tuple[str, float]:
    """An access token and its expiry (seconds since the epoch) for a federated ADC file."""
    if info.get("type") == EXTERNAL_ACCOUNT_AUTHORIZED_USER:
        return _workforce_user_token(info, request)
    audience = _required(info, "audience")
    subject_token = retrieve_subject_token(info, request, environ)
    impersonation_url = info.get("service_account_impersonation_url")
    # As google-auth: with impersonation the STS token only has to call IAM, so it asks for the
    # IAM scope; the impersonated token then carries cloud-platform.
    scope = IAM_SCOPE if impersonation_url else CLOUD_PLATFORM_SCOPE
    token, expiry = _exchange(info, request, audience, subject_token, scope)
    if impersonation_url:
        return _impersonate(info, request, str(impersonation_url), token)
    return token, expiry


def _required(info: Mapping[str, Any], name: str) -> str:
    value = info.get(name)
    if not isinstance(value, str) or not value:
        raise TokenError(f"the workload identity federation file has no {name!r}; recreate it with "
                         "`gcloud iam workload-identity-pools create-cred-config`")
    return value


# -- subject tokens ------------------------------------------------------------------------------


def retrieve_subject_token(info: Mapping[str, Any], request: Transport,
                           environ: Mapping[str, str] = os.environ) -> str:
    """The external identity's token, from the credential_source the file names."""
    source = info.get("credential_source")
    if not isinstance(source, dict):
        raise TokenError("the workload identity federation file has no credential_source; recreate it with "
                         "`gcloud iam workload-identity-pools create-cred-config`")
    if str(source.get("environment_id", "")).startswith("aws") or info.get("subject_token_type") == \
            AWS_SUBJECT_TOKEN_TYPE:
        return _aws_subject_token(info, request)
    if isinstance(source.get("executable"), dict):
        return _executable_subject_token(info, source["executable"], request, environ)
    if source.get("file"):
        text = _read_subject_token_file(str(source["file"]))
        where = f"subject token file {source['file']}"
    elif source.get("url"):
        text = _fetch_subject_token(str(source["url"]), source.get("headers"), request)
        where = f"subject token URL {_host(str(source['url']))}"
    elif "certificate" in source:
        raise TokenError("X.509 certificate workload identity federation is not supported by keyrings.gar; use "
                         "a file, URL, executable or AWS credential source")
    else:
        raise TokenError("the workload identity federation file's credential_source names no file, url, "
                         "executable or AWS environment; recreate it")
    return _extract_subject_token(text, source.get("format"), where)


def _host(url: str) -> str:
    # The host name only: the query can carry request identifiers and the userinfo a password.
    try:
        return urlsplit(url).hostname or "(no host)"
    except ValueError:
        return "(unreadable URL)"


def _read_subject_token_file(path: str) -> str:
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_SUBJECT_TOKEN_BYTES + 1)
    except FileNotFoundError:
        raise TokenError(f"subject token file {path} does not exist: the CI step that writes the job's ID "
                         "token must run before the install, in the same job") from None
    except OSError as exc:
        raise TokenError(f"subject token file {path} cannot be read ({exc.strerror}); fix its permissions") \
            from None
    if len(data) > MAX_SUBJECT_TOKEN_BYTES:
        raise TokenError(f"subject token file {path} is larger than any ID token; point credential_source.file "
                         "at the token itself")
    return data.decode("utf-8", "replace")


def _fetch_subject_token(url: str, headers: object, request: Transport) -> str:
    import google.auth.exceptions

    sent = {str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {}
    try:
        response = request(url, method="GET", headers=sent)
    except google.auth.exceptions.TransportError as exc:
        raise Unreachable(f"the subject token URL {_host(url)}", exc) from None
    if response.status != 200:
        hint = ("its request token (in the file's headers) was refused or has expired: on GitHub Actions, "
                "give the job `permissions: id-token: write` and run the auth step in the same job"
                if response.status in (401, 403) else "try again later")
        raise TokenError(f"the subject token URL {_host(url)} answered HTTP {response.status}; {hint}")
    data = response.data
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)


def _extract_subject_token(text: str, token_format: object, where: str) -> str:
    """The token from the file or URL body: all of it, or one field of its JSON."""
    fmt = token_format if isinstance(token_format, dict) else {}
    if fmt.get("type", "text") == "json":
        field = str(fmt.get("subject_token_field_name", ""))
        try:
            parsed = json.loads(text)
        except ValueError:
            raise TokenError(f"{where} is not JSON, but the file's credential_source.format says it is") from None
        value = parsed.get(field) if isinstance(parsed, dict) else None
        if not isinstance(value, str) or not value:
            raise TokenError(f"{where} has no {field!r} field holding the token")
        return value
    token = text.strip()
    if not token:
        raise TokenError(f"{where} is empty: the step that writes the job's ID token did not write it")
    return token


def _aws_subject_token(info: Mapping[str, Any], request: Transport) -> str:
    """The signed GetCallerIdentity request, built and serialized by google-auth's aws module.

    With AWS_REGION (or AWS_DEFAULT_REGION) and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY set this
    makes no network call; without them google-auth asks the EC2 metadata server, through our transport.
    """
    import google.auth.exceptions
    from google.auth import aws

    try:
        credentials = aws.Credentials.from_info(dict(info))
        return str(credentials.retrieve_subject_token(request))
    except google.auth.exceptions.TransportError as exc:
        raise Unreachable("the AWS metadata server", exc) from None
    except (google.auth.exceptions.GoogleAuthError, ValueError, KeyError, TypeError) as exc:
        raise TokenError(f"cannot sign the AWS caller-identity request ({type(exc).__name__}): set "
                         "AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for "
                         "temporary credentials), or run on EC2 with an instance role") from None


def _executable_subject_token(info: Mapping[str, Any], executable: Mapping[str, Any], request: Transport,
                              environ: Mapping[str, str]) -> str:
    """Run the executable google-auth's pluggable source names, on the same terms (opt-in, env vars)."""
    command = str(executable.get("command", ""))
    program = shlex.split(command)[0] if command.strip() else ""
    if environ.get(ALLOW_EXECUTABLES_VAR) != "1":
        raise TokenError(f"the workload identity federation file runs {program or 'an executable'} for its "
                         f"subject token, which only happens with {ALLOW_EXECUTABLES_VAR}=1; set it if you "
                         "trust that program")
    if not program:
        raise TokenError("credential_source.executable has no command; recreate the file")
    output_file = executable.get("output_file")
    if output_file:
        cached = _cached_executable_response(str(output_file))
        if cached is not None:
            return cached
    env = dict(environ)
    env.update({
        "GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE": str(info.get("audience", "")),
        "GOOGLE_EXTERNAL_ACCOUNT_TOKEN_TYPE": str(info.get("subject_token_type", "")),
        "GOOGLE_EXTERNAL_ACCOUNT_INTERACTIVE": "0",
        "GOOGLE_EXTERNAL_ACCOUNT_REVOKE": "0",
    })
    target = _impersonation_target(str(info.get("service_account_impersonation_url", "")))
    if target:
        env["GOOGLE_EXTERNAL_ACCOUNT_IMPERSONATED_EMAIL"] = target
    if output_file:
        env["GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE"] = str(output_file)
    configured = executable.get("timeout_millis")
    limit = configured / 1000 if isinstance(configured, (int, float)) and configured > 0 \
        else _EXECUTABLE_TIMEOUT_DEFAULT
    output, returncode = _run_bounded(shlex.split(command), env, min(limit, request.remaining()), program)
    if returncode != 0:
        raise TokenError(f"{program} (credential_source.executable) exited with status {returncode}")
    try:
        response = json.loads(output.decode("utf-8", "replace"))
    except ValueError:
        raise TokenError(f"{program} (credential_source.executable) printed no JSON response") from None
    return _executable_response_token(response, program)


def _cached_executable_response(path: str) -> str | None:
    """A still-valid response the executable left in its output_file, as google-auth reuses it."""
    with contextlib.suppress(OSError, ValueError, TokenError):
        with Path(path).open("rb") as handle:
            response = json.loads(handle.read(MAX_SUBJECT_TOKEN_BYTES))
        if isinstance(response, dict) and "expiration_time" in response:
            return _executable_response_token(response, path)
    return None


def _executable_response_token(response: object, program: str) -> str:
    if not isinstance(response, dict) or response.get("version") != 1 or "success" not in response:
        raise TokenError(f"{program} (credential_source.executable) printed a response without version 1 "
                         "and success fields")
    if not response["success"]:
        code = str(response.get("code", "no code"))[:60]
        raise TokenError(f"{program} (credential_source.executable) reported a failure ({code})")
    expiration = response.get("expiration_time")
    if isinstance(expiration, (int, float)) and expiration < time.time():
        raise TokenError(f"{program} (credential_source.executable) returned an expired subject token")
    token_type = response.get("token_type")
    field = {"urn:ietf:params:oauth:token-type:jwt": "id_token",
             "urn:ietf:params:oauth:token-type:id_token": "id_token",
             "urn:ietf:params:oauth:token-type:saml2": "saml_response"}.get(str(token_type))
    value = response.get(field) if field else None
    if not isinstance(value, str) or not value:
        raise TokenError(f"{program} (credential_source.executable) returned no token of a supported type")
    return value


def _run_bounded(argv: list[str], env: dict[str, str], timeout: float, program: str) -> tuple[bytes, int]:
    """stdout (at most MAX_SUBJECT_TOKEN_BYTES) and exit status; the process is killed at the deadline."""
    try:
        # A session of its own, so that killing it at the deadline ends its children too.
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    except OSError as exc:
        raise TokenError(f"cannot run {program} (credential_source.executable): {exc.strerror}") from None
    timed_out = threading.Event()

    def stop_at_deadline() -> None:
        timed_out.set()
        _kill_session(process)

    timer = threading.Timer(max(0.0, timeout), stop_at_deadline)
    timer.start()
    try:
        with process:
            # Bounded: a program that prints more than any token can hold is not answering.
            output = process.stdout.read(MAX_SUBJECT_TOKEN_BYTES + 1) if process.stdout else b""
            if len(output) > MAX_SUBJECT_TOKEN_BYTES:
                _kill_session(process)
            returncode = process.wait()
    finally:
        timer.cancel()
    if len(output) > MAX_SUBJECT_TOKEN_BYTES:
        raise TokenError(f"{program} (credential_source.executable) printed more than any subject token")
    if timed_out.is_set():
        raise TokenError(f"{program} (credential_source.executable) did not finish within {timeout:.1f} s "
                         "(its timeout_millis, or KEYRINGS_GAR_TIMEOUT)")
    return output, returncode


def _kill_session(process: subprocess.Popen[bytes]) -> None:
    import signal

    with contextlib.suppress(OSError):
        if hasattr(os, "killpg"):
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()


# -- STS and IAM ---------------------------------------------------------------------------------


def _exchange(info: Mapping[str, Any], request: Transport, audience: str, subject_token: str, scope: str
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
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    client_id, client_secret = info.get("client_id"), info.get("client_secret")
    user_project = info.get("workforce_pool_user_project")
    if user_project and not client_id:
        # As google-auth: the workforce pool user project, unless a client id identifies it.
        body["options"] = quote(json.dumps({"userProject": user_project}))
    if client_id:
        headers["Authorization"] = _basic_auth(str(client_id), str(client_secret or ""))
    token_url = str(info.get("token_url") or _DEFAULT_STS_URL)
    data = _post(request, token_url, urlencode(body).encode("utf-8"), headers, "STS")
    return _oauth_token(data, "STS")


def _workforce_user_token(info: Mapping[str, Any], request: Transport) -> tuple[str, float]:
    """A workforce identity user login: the refresh-token grant at the file's token_url."""
    for name in ("refresh_token", "token_url", "client_id", "client_secret"):
        if not info.get(name):
            raise TokenError(f"the workforce identity login file has no {name!r}; {_RELOGIN_FIX}")
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "Authorization": _basic_auth(str(info["client_id"]), str(info["client_secret"]))}
    body = urlencode({"grant_type": "refresh_token", "refresh_token": str(info["refresh_token"])}).encode("utf-8")
    data = _post(request, str(info["token_url"]), body, headers, "the workforce identity token endpoint")
    return _oauth_token(data, "the workforce identity token endpoint")


def _impersonate(info: Mapping[str, Any], request: Transport, url: str, sts_token: str) -> tuple[str, float]:
    """One IAM generateAccessToken call for the file's service account, with the STS token."""
    options = info.get("service_account_impersonation")
    lifetime = options.get("token_lifetime_seconds") if isinstance(options, dict) else None
    body = {"delegates": None, "scope": [CLOUD_PLATFORM_SCOPE],
            "lifetime": f"{int(lifetime) if lifetime else _DEFAULT_IMPERSONATION_LIFETIME}s"}
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {sts_token}"}
    target = _impersonation_target(url) or "the service account"
    data = _post(request, url, json.dumps(body).encode("utf-8"), headers, f"IAM (impersonating {target})")
    token, expire_time = data.get("accessToken"), data.get("expireTime")
    if not isinstance(token, str) or not isinstance(expire_time, str):
        raise TokenError(f"IAM (impersonating {target}) answered without a token; try again later")
    try:
        expiry = datetime.strptime(expire_time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        raise TokenError(f"IAM (impersonating {target}) answered with an unreadable expiry") from None
    return token, expiry


def _impersonation_target(url: str) -> str:
    marker = "/serviceAccounts/"
    if marker not in url:
        return ""
    return url.rsplit(marker, 1)[1].split(":", 1)[0]


def _basic_auth(client_id: str, client_secret: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")


def _post(request: Transport, url: str, body: bytes, headers: dict[str, str], what: str) -> dict[str, Any]:
    import google.auth.exceptions

    try:
        response = request(url, method="POST", body=body, headers=headers)
    except google.auth.exceptions.TransportError as exc:
        raise Unreachable(what, exc) from None
    data = response.data
    try:
        parsed = json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
    except (ValueError, UnicodeDecodeError):
        parsed = None
    if not isinstance(parsed, dict):
        raise TokenError(f"{what} answered HTTP {response.status} with something other than JSON (a proxy's "
                         "page?); check HTTPS_PROXY and NO_PROXY, or try again later")
    if response.status != 200:
        raise TokenError(_refusal(what, response.status, parsed))
    return parsed


def _oauth_token(data: Mapping[str, Any], what: str) -> tuple[str, float]:
    token, expires_in = data.get("access_token"), data.get("expires_in")
    if not isinstance(token, str) or not token:
        raise TokenError(f"{what} answered without an access token; try again later")
    try:
        lifetime = float(expires_in) if expires_in is not None else 300.0
    except (TypeError, ValueError):
        lifetime = 300.0
    return token, time.time() + lifetime


def _refusal(what: str, status: int, body: Mapping[str, Any]) -> str:
    """Why STS or IAM said no, as the cause a user can fix; never their description text."""
    error = body.get("error")
    if isinstance(error, dict):
        # IAM: {"error": {"code": 403, "status": "PERMISSION_DENIED", ...}}
        code = str(error.get("status", status))[:40]
        if code == "PERMISSION_DENIED" or status == 403:
            return (f"{what} was denied ({code}): the workload identity pool's principal needs "
                    "roles/iam.workloadIdentityUser (or Service Account Token Creator) on that service account, "
                    "and the IAM Service Account Credentials API must be enabled")
        return f"{what} refused the request ({code})"
    code = str(error or f"HTTP {status}")[:60]
    if code == "invalid_grant":
        if what.startswith("the workforce"):
            return f"{what} refused the login (invalid_grant: expired or revoked); {_RELOGIN_FIX}"
        return (f"{what} refused the subject token (invalid_grant): it has expired, or is not the one the "
                "provider expects (its issuer, audience or attribute condition); fetch a fresh ID token in the "
                "same job, and check the provider's attribute condition")
    if code in ("invalid_request", "invalid_target", "unauthorized_client", "invalid_client"):
        return (f"{what} rejected the audience or provider ({code}): check that the file's audience names an "
                "existing, enabled workload identity pool provider "
                "(//iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/ID)")
    return f"{what} refused the request ({code}); try again later"
