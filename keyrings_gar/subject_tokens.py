"""Subject tokens for workload identity federation: the external identity's own token, read from
the credential_source of an `external_account` file as google-auth reads it (a file, a URL, an
executable, or a signed AWS request), with every read bounded and every failure named. Only
the AWS request signing is google-auth's (its `aws` module), so the signed GetCallerIdentity
request is exactly the one STS expects from google-auth.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
import time
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

from .errors import TokenError
from .programs import OutputTooLargeError, ProgramTimeoutError, find_executable, run_bounded
from .redact import shown_path
from .safefile import CredentialAsPathError, FileTooLargeError, NotARegularFileError, read_named_file

AWS_SUBJECT_TOKEN_TYPE = "urn:ietf:params:aws:token-type:aws4_request"  # noqa: S105 - a type name
ALLOW_EXECUTABLES_VAR = "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES"
# A subject token is a JWT, a SAML assertion or a signed AWS request: a few KiB. Anything far
# larger is not one, and is not read further.
MAX_SUBJECT_TOKEN_BYTES = 256 * 1024
# As google-auth's pluggable source: 30 s when timeout_millis is absent, else 5 s to 2 min or refused.
_EXECUTABLE_TIMEOUT_DEFAULT = 30.0
_EXECUTABLE_TIMEOUT_MILLIS_MIN = 5_000
_EXECUTABLE_TIMEOUT_MILLIS_MAX = 120_000


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


def retrieve_subject_token(info: Mapping[str, Any], request: Transport,
                           environ: Mapping[str, str] = os.environ) -> str:
    """The external identity's token, from the credential_source the file names."""
    source = info.get("credential_source")
    if not isinstance(source, dict):
        raise TokenError("the workload identity federation file has no credential_source; recreate it with "
                         "`gcloud iam workload-identity-pools create-cred-config`")
    if is_aws_source(info):
        return _aws_subject_token(info, request, environ)
    if isinstance(source.get("executable"), dict):
        return _executable_subject_token(info, source["executable"], request, environ)
    if source.get("file"):
        text = _read_subject_token_file(str(source["file"]))
        where = f"subject token file {shown_path(str(source['file']))}"
    elif source.get("url"):
        text = _fetch_subject_token(str(source["url"]), source.get("headers"), request)
        where = f"subject token URL {_host(str(source['url']))}"
    elif "certificate" in source:
        # Minting needs mutual TLS to sts.mtls.googleapis.com with the workload's certificate, which
        # our transport does not present; gcloud does, and its login is a source of ours.
        raise TokenError("X.509 certificate workload identity federation (credential_source.certificate) needs "
                         "mutual TLS, which keyrings.gar does not do: run `gcloud auth login --cred-file=FILE` "
                         "and set `token = gcloud` in the repository's entry")
    else:
        raise TokenError("the workload identity federation file's credential_source names no file, url, "
                         "executable or AWS environment; recreate it")
    return _extract_subject_token(text, source.get("format"), where)


def is_aws_source(info: Mapping[str, Any]) -> bool:
    """Whether an external_account file's subject token is a signed AWS request (as google-auth decides)."""
    source = info.get("credential_source")
    return (isinstance(source, dict) and str(source.get("environment_id", "")).startswith("aws")) or \
        info.get("subject_token_type") == AWS_SUBJECT_TOKEN_TYPE


def _host(url: str) -> str:
    # The host name only: the query can carry request identifiers and the userinfo a password.
    try:
        return urlsplit(url).hostname or "(no host)"
    except ValueError:
        return "(unreadable URL)"


def _read_subject_token_file(path: str) -> str:
    shown = f"subject token file {shown_path(path)}"
    try:
        data = read_named_file(path, MAX_SUBJECT_TOKEN_BYTES)
    except FileNotFoundError:
        raise TokenError(f"{shown} does not exist: the CI step that writes the job's ID "
                         "token must run before the install, in the same job") from None
    except CredentialAsPathError:
        # `--credential-source-file="$ID_TOKEN"` writes the token's value where its file's name belongs.
        raise TokenError("the workload identity federation file's credential_source.file holds what looks like a "
                         "token itself, not a path: recreate it with --credential-source-file naming the file the "
                         "CI job writes its ID token to") from None
    except NotARegularFileError:
        raise TokenError(f"{shown} cannot be read (a folder, a FIFO or a device, not a regular file); "
                         "point credential_source.file at the token file itself") from None
    except FileTooLargeError:
        raise TokenError(f"{shown} is larger than any ID token; point credential_source.file "
                         "at the token itself") from None
    except OSError as exc:
        raise TokenError(f"{shown} cannot be read ({exc.strerror}); fix its permissions") from None
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


def _aws_subject_token(info: Mapping[str, Any], request: Transport, environ: Mapping[str, str]) -> str:
    """The signed GetCallerIdentity request, built and serialized by google-auth's aws module.

    With AWS_REGION (or AWS_DEFAULT_REGION) and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY set this
    makes no network call; without them google-auth asks the EC2 metadata server, through our transport.
    """
    import google.auth.exceptions

    # AWS issues temporary keys (ASIA...) as three values; signed without the third, STS can only
    # say the grant is invalid. Said here, before anything is sent, with the fix that fits.
    if environ.get("AWS_ACCESS_KEY_ID", "").startswith("ASIA") and environ.get("AWS_SECRET_ACCESS_KEY") \
            and not environ.get("AWS_SESSION_TOKEN"):
        raise TokenError("AWS_ACCESS_KEY_ID is a temporary key (ASIA…), which AWS accepts only with its session "
                         "token, and AWS_SESSION_TOKEN is not set: set it too (the role's credentials come as three "
                         "values)")
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
    """Run the executable google-auth's pluggable source names, on the same terms: the file's
    timeout_millis within google-auth's bounds, the opt-in variable, the variables it passes, and
    the response on stdout or else in output_file."""
    argv = _executable_argv(str(executable.get("command", "")))
    program = argv[0]
    limit = _executable_timeout(executable.get("timeout_millis"))
    if environ.get(ALLOW_EXECUTABLES_VAR) != "1":
        raise TokenError(f"the workload identity federation file runs {program} for its subject token, which "
                         f"only happens with {ALLOW_EXECUTABLES_VAR}=1; set it if you trust that program")
    output_file = str(executable.get("output_file") or "")
    if output_file:
        cached = _cached_executable_response(output_file)
        if cached is not None:
            return cached
    argv[0] = _program_path(program, environ)
    output = _run_executable(argv, _executable_environ(info, output_file, environ),
                             min(limit, request.remaining()), program)
    if not output.strip() and output_file:
        # As google-auth: a program may answer in its output_file alone.
        return _executable_response_token(_read_executable_response(output_file, program), program)
    try:
        response = json.loads(output.decode("utf-8", "replace"))
    except ValueError:
        raise TokenError(f"{program} (credential_source.executable) printed no JSON response") from None
    return _executable_response_token(response, program)


def _executable_argv(command: str) -> list[str]:
    try:
        argv = shlex.split(command)
    except ValueError:
        raise TokenError("credential_source.executable.command cannot be split into words (an unclosed quote); "
                         "recreate the file") from None
    if not argv:
        raise TokenError("credential_source.executable has no command; recreate the file")
    return argv


def _executable_timeout(timeout_millis: object) -> float:
    """Seconds, as google-auth reads timeout_millis: absent or 0 is 30 s; else 5 s to 2 min."""
    if not timeout_millis:
        return _EXECUTABLE_TIMEOUT_DEFAULT
    if isinstance(timeout_millis, bool) or not isinstance(timeout_millis, (int, float)) or not \
            _EXECUTABLE_TIMEOUT_MILLIS_MIN <= timeout_millis <= _EXECUTABLE_TIMEOUT_MILLIS_MAX:
        shown = timeout_millis if isinstance(timeout_millis, (int, float)) else type(timeout_millis).__name__
        raise TokenError(f"credential_source.executable.timeout_millis is {shown}, and google-auth accepts only "
                         f"{_EXECUTABLE_TIMEOUT_MILLIS_MIN} to {_EXECUTABLE_TIMEOUT_MILLIS_MAX} (5 s to 2 min); "
                         "set it in that range, or leave it out for 30 s")
    return timeout_millis / 1000


def _program_path(program: str, environ: Mapping[str, str]) -> str:
    """A bare name from an absolute PATH entry only (as gcloud is found): never `./name` through an
    empty PATH entry. A path, absolute as Google's docs ask or relative, is the file's own choice."""
    if "/" in program or (sys.platform == "win32" and "\\" in program):
        return program
    found = find_executable(program, environ)
    if found is None:
        raise TokenError(f"{program} (credential_source.executable) is not in any absolute PATH entry; write its "
                         "absolute path in the file's command")
    return found


def _executable_environ(info: Mapping[str, Any], output_file: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The program's environment: ours, plus the variables google-auth's pluggable source sets."""
    target = impersonation_target(str(info.get("service_account_impersonation_url", "")))
    env = dict(environ)
    env.update({
        "GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE": str(info.get("audience", "")),
        "GOOGLE_EXTERNAL_ACCOUNT_TOKEN_TYPE": str(info.get("subject_token_type", "")),
        # google-auth's external_account_id: the impersonated account, else empty.
        "GOOGLE_EXTERNAL_ACCOUNT_ID": target,
        "GOOGLE_EXTERNAL_ACCOUNT_INTERACTIVE": "0",
        "GOOGLE_EXTERNAL_ACCOUNT_REVOKE": "0",
    })
    if info.get("service_account_impersonation_url"):
        env["GOOGLE_EXTERNAL_ACCOUNT_IMPERSONATED_EMAIL"] = target
    if output_file:
        env["GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE"] = output_file
    return env


def _cached_executable_response(path: str) -> str | None:
    """A still-valid response the executable left in its output_file, as google-auth reuses it."""
    with contextlib.suppress(OSError, ValueError, TokenError):
        response = json.loads(read_named_file(path, MAX_SUBJECT_TOKEN_BYTES))
        if isinstance(response, dict) and "expiration_time" in response:
            return _executable_response_token(response, path)
    return None


def _read_executable_response(path: str, program: str) -> object:
    try:
        data = read_named_file(path, MAX_SUBJECT_TOKEN_BYTES)
    except FileTooLargeError:
        raise TokenError(f"{program} (credential_source.executable) left more than any subject token in its "
                         "output_file") from None
    except OSError:
        raise TokenError(f"{program} (credential_source.executable) printed nothing and left no readable "
                         "response in its output_file") from None
    try:
        return json.loads(data.decode("utf-8", "replace"))
    except ValueError:
        raise TokenError(f"{program} (credential_source.executable) printed nothing, and its output_file holds "
                         "no JSON response") from None


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


def _run_executable(argv: list[str], env: dict[str, str], timeout: float, program: str) -> bytes:
    """stdout (at most MAX_SUBJECT_TOKEN_BYTES), through the runner gcloud uses: killed at the
    deadline, and never waited on for a child it leaves holding its output."""
    try:
        # stderr is the program's own diagnostics, as long as it likes: neither read nor bounded.
        stdout, _stderr, returncode = run_bounded(argv, timeout, MAX_SUBJECT_TOKEN_BYTES, env, keep_stderr=False)
    except OSError as exc:
        raise TokenError(f"cannot run {program} (credential_source.executable): {exc.strerror}") from None
    except OutputTooLargeError:
        raise TokenError(f"{program} (credential_source.executable) printed more than any subject token") from None
    except ProgramTimeoutError:
        raise TokenError(f"{program} (credential_source.executable) did not finish within {timeout:.1f} s "
                         "(its timeout_millis, or KEYRINGS_GAR_TIMEOUT)") from None
    if returncode != 0:
        raise TokenError(f"{program} (credential_source.executable) exited with status {returncode}")
    return stdout


def impersonation_target(url: str) -> str:
    marker = "/serviceAccounts/"
    if marker not in url:
        return ""
    return url.rsplit(marker, 1)[1].split(":", 1)[0]
