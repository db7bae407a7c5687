"""The executable subject token: the program an `external_account` file names, run on google-auth's
pluggable source's terms (the opt-in variable, the timeout bounds, the variables it passes, the
response on stdout or in output_file), through the bounded runner gcloud uses."""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
import time
from collections.abc import Mapping
from typing import Any

from ..errors import TokenError
from ..external_account import MAX_SUBJECT_TOKEN_BYTES, impersonation_target
from ..programs import OutputTooLargeError, ProgramTimeoutError, find_executable, run_bounded
from ..redact import shown_path
from ..safefile import file_problem, read_named_file
from .transport import DeadlineRequest

ALLOW_EXECUTABLES_VAR = "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES"
# As google-auth's pluggable source: 30 s when timeout_millis is absent (or 0), else 5 s to 2 min or refused.
_EXECUTABLE_TIMEOUT_DEFAULT = 30.0
_EXECUTABLE_TIMEOUT_MILLIS_MIN = 5_000
_EXECUTABLE_TIMEOUT_MILLIS_MAX = 120_000


def executable_subject_token(info: Mapping[str, Any], executable: Mapping[str, Any], request: DeadlineRequest,
                              environ: Mapping[str, str]) -> str:
    argv = _executable_argv(str(executable.get("command", "")))
    program = argv[0]
    who = f"{program} (credential_source.executable)"
    limit = _executable_timeout(executable.get("timeout_millis"))
    if environ.get(ALLOW_EXECUTABLES_VAR) != "1":
        raise TokenError(f"the workload identity federation file runs {program}, which only happens with "
                         f"{ALLOW_EXECUTABLES_VAR}=1; set it if you trust that program")
    output_file = str(executable.get("output_file") or "")
    if output_file:
        cached = _cached_executable_response(output_file)
        if cached is not None:
            return cached
    argv[0] = _program_path(program, environ)
    output = _run_executable(argv, _executable_environ(info, output_file, environ), min(limit, request.remaining()),
                             who)
    no_json = f"{who} printed no JSON response"
    if not output.strip() and output_file:
        # As google-auth: a program may answer in its output_file alone.
        said = f"{who} printed nothing, and its output_file {shown_path(output_file)}"
        no_json = f"{said} holds no JSON response"
        try:
            output = read_named_file(output_file, MAX_SUBJECT_TOKEN_BYTES)
        except OSError as exc:
            raise TokenError(f"{said} {file_problem(exc)}") from None
    try:
        response = json.loads(output.decode("utf-8", "replace"))
    except ValueError:
        raise TokenError(no_json) from None
    return _executable_response_token(response, who)


def _executable_argv(command: str) -> list[str]:
    try:
        argv = shlex.split(command)
    except ValueError:
        raise TokenError("credential_source.executable.command has an unclosed quote; recreate the file") from None
    if not argv:
        raise TokenError("credential_source.executable has no command; recreate the file")
    return argv


def _executable_timeout(timeout_millis: object) -> float:
    if not timeout_millis:
        return _EXECUTABLE_TIMEOUT_DEFAULT
    if not isinstance(timeout_millis, (int, float)) or not \
            _EXECUTABLE_TIMEOUT_MILLIS_MIN <= timeout_millis <= _EXECUTABLE_TIMEOUT_MILLIS_MAX:
        shown = timeout_millis if isinstance(timeout_millis, (int, float)) else type(timeout_millis).__name__
        raise TokenError(f"credential_source.executable.timeout_millis is {shown}, not "
                         f"{_EXECUTABLE_TIMEOUT_MILLIS_MIN} to {_EXECUTABLE_TIMEOUT_MILLIS_MAX} as google-auth "
                         "requires; fix it, or leave it out for 30 s")
    return timeout_millis / 1000


def _program_path(program: str, environ: Mapping[str, str]) -> str:
    """A bare name from an absolute PATH entry only (as gcloud is found): never `./name` through an
    empty PATH entry. A path, absolute as Google's docs ask or relative, is the file's own choice."""
    if "/" in program or (sys.platform == "win32" and "\\" in program):
        return program
    found = find_executable(program, environ)
    if found is None:
        raise TokenError(f"{program} (credential_source.executable) is not in any absolute PATH entry; write its "
                         "absolute path in the command")
    return found


def _executable_environ(info: Mapping[str, Any], output_file: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The program's environment: ours, plus the variables google-auth's pluggable source sets."""
    target = impersonation_target(str(info.get("service_account_impersonation_url", "")))
    env = {
        **environ,
        "GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE": str(info.get("audience", "")),
        "GOOGLE_EXTERNAL_ACCOUNT_TOKEN_TYPE": str(info.get("subject_token_type", "")),
        # google-auth's external_account_id: the impersonated account, else empty.
        "GOOGLE_EXTERNAL_ACCOUNT_ID": target,
        "GOOGLE_EXTERNAL_ACCOUNT_INTERACTIVE": "0",
        "GOOGLE_EXTERNAL_ACCOUNT_REVOKE": "0",
    }
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


def _executable_response_token(response: object, who: str) -> str:
    if not isinstance(response, dict) or response.get("version") != 1 or "success" not in response:
        raise TokenError(f"{who} printed a response without version 1 and success fields")
    if not response["success"]:
        code = str(response.get("code", "no code"))[:60]
        raise TokenError(f"{who} reported a failure ({code})")
    expiration = response.get("expiration_time")
    if isinstance(expiration, (int, float)) and expiration < time.time():
        raise TokenError(f"{who} returned an expired subject token")
    field = {"urn:ietf:params:oauth:token-type:jwt": "id_token",
             "urn:ietf:params:oauth:token-type:id_token": "id_token",
             "urn:ietf:params:oauth:token-type:saml2": "saml_response"}.get(str(response.get("token_type")))
    value = response.get(field) if field else None
    if not isinstance(value, str) or not value:
        raise TokenError(f"{who} returned no token of a supported type")
    return value


def _run_executable(argv: list[str], env: dict[str, str], timeout: float, who: str) -> bytes:
    """stdout (at most MAX_SUBJECT_TOKEN_BYTES), through the runner gcloud uses: killed at the
    deadline, and never waited on for a child it leaves holding its output."""
    try:
        # stderr is the program's own diagnostics, as long as it likes: neither read nor bounded.
        stdout, _stderr, returncode = run_bounded(argv, timeout, MAX_SUBJECT_TOKEN_BYTES, env, keep_stderr=False)
    except OSError as exc:
        raise TokenError(f"cannot run {who}: {exc.strerror}") from None
    except OutputTooLargeError:
        raise TokenError(f"{who} printed more than any subject token") from None
    except ProgramTimeoutError:
        raise TokenError(f"{who} did not finish within {timeout:.1f} s (its timeout_millis, or KEYRINGS_GAR_TIMEOUT)"
                         ) from None
    if returncode != 0:
        raise TokenError(f"{who} exited with status {returncode}")
    return stdout
