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
import subprocess
import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

from .errors import TokenError
from .redact import shown_path
from .safefile import CredentialAsPathError, FileTooLargeError, NotARegularFileError, read_named_file

AWS_SUBJECT_TOKEN_TYPE = "urn:ietf:params:aws:token-type:aws4_request"  # noqa: S105 - a type name
ALLOW_EXECUTABLES_VAR = "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES"
# A subject token is a JWT, a SAML assertion or a signed AWS request: a few KiB. Anything far
# larger is not one, and is not read further.
MAX_SUBJECT_TOKEN_BYTES = 256 * 1024
_EXECUTABLE_TIMEOUT_DEFAULT = 30.0


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
    if str(source.get("environment_id", "")).startswith("aws") or info.get("subject_token_type") == \
            AWS_SUBJECT_TOKEN_TYPE:
        return _aws_subject_token(info, request)
    if isinstance(source.get("executable"), dict):
        return _executable_subject_token(info, source["executable"], request, environ)
    if source.get("file"):
        text = _read_subject_token_file(str(source["file"]))
        where = f"subject token file {shown_path(str(source['file']))}"
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
    target = impersonation_target(str(info.get("service_account_impersonation_url", "")))
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
        response = json.loads(read_named_file(path, MAX_SUBJECT_TOKEN_BYTES))
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


def impersonation_target(url: str) -> str:
    marker = "/serviceAccounts/"
    if marker not in url:
        return ""
    return url.rsplit(marker, 1)[1].split(":", 1)[0]
