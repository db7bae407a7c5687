"""Subject tokens from a file or a URL, as google-auth's identity_pool reads them: the external
identity's own token (all of the body, or one JSON field), every read bounded and every failure
named. The executable (pluggable.py) and AWS (aws.py) kinds have modules of their own."""

from __future__ import annotations

import google.auth.exceptions

from ..errors import TokenError
from ..external_account import MAX_SUBJECT_TOKEN_BYTES
from ..redact import shown_path
from ..safefile import file_problem, read_named_file
from ..sources import subject_token_in
from .transport import DeadlineRequest, unreachable
from .trust import host_of


def read_subject_token_file(path: str, token_format: object) -> str:
    try:
        data = read_named_file(path, MAX_SUBJECT_TOKEN_BYTES)
    except OSError as exc:
        # Missing, most often: the step that writes the token has not run (yet, or in this job).
        raise TokenError(f"subject token file {shown_path(path)} {file_problem(exc)}: the step that writes the "
                         "job's ID token must run first, in the same job") from None
    return _extracted(data, token_format, f"subject token file {shown_path(path)}")


def fetch_subject_token(url: str, headers: object, token_format: object, request: DeadlineRequest) -> str:
    sent = {str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {}
    try:
        response = request(url, method="GET", headers=sent)
    except google.auth.exceptions.TransportError as exc:
        raise unreachable(exc, f"the subject token URL {host_of(url)}") from None
    if response.status != 200:
        hint = ("its request token (in the file's headers) was refused or expired: on GitHub Actions, give "
                "the job `permissions: id-token: write`" if response.status in (401, 403) else "try again later")
        raise TokenError(f"the subject token URL {host_of(url)} answered HTTP {response.status}; {hint}")
    return _extracted(response.data, token_format, f"subject token URL {host_of(url)}")


def _extracted(body: bytes, token_format: object, where: str) -> str:
    try:
        return subject_token_in(body.decode("utf-8", "replace"), token_format)
    except ValueError as exc:
        raise TokenError(f"{where} {exc}") from None
