"""Subject tokens from a file or a URL, as google-auth's identity_pool reads them: the external
identity's own token (all of the body, or one JSON field), every read bounded and every failure
named. The executable (pluggable.py) and AWS (aws.py) kinds have modules of their own."""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import urlsplit

import google.auth.exceptions

from ..errors import TokenError, Unreachable
from ..redact import shown_path
from ..safefile import CredentialAsPathError, FileTooLargeError, NotARegularFileError, read_named_file
from ..sources import subject_token_in

# A subject token is a JWT, a SAML assertion or a signed AWS request: a few KiB. Anything far
# larger is not one, and is not read further.
MAX_SUBJECT_TOKEN_BYTES = 256 * 1024


class Transport(Protocol):
    """What we need of transport.DeadlineRequest: google-auth's transport call, and the time left."""

    def __call__(self, url: str, method: str = "GET", body: Any = None, headers: Any = None,
                 timeout: float | None = None, **kwargs: Any) -> Any: ...

    def remaining(self) -> float: ...


def host_of(url: str) -> str:
    # The host name only: the query can carry request identifiers and the userinfo a password.
    try:
        return urlsplit(url).hostname or "(no host)"
    except ValueError:
        return "(unreadable URL)"


def read_subject_token_file(path: str) -> str:
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


def fetch_subject_token(url: str, headers: object, request: Transport) -> str:
    sent = {str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {}
    try:
        response = request(url, method="GET", headers=sent)
    except google.auth.exceptions.TransportError as exc:
        raise Unreachable(f"the subject token URL {host_of(url)}", exc) from None
    if response.status != 200:
        hint = ("its request token (in the file's headers) was refused or has expired: on GitHub Actions, "
                "give the job `permissions: id-token: write` and run the auth step in the same job"
                if response.status in (401, 403) else "try again later")
        raise TokenError(f"the subject token URL {host_of(url)} answered HTTP {response.status}; {hint}")
    data = response.data
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)


def extract_subject_token(text: str, token_format: object, where: str) -> str:
    """The token from the file or URL body: all of it, or one field of its JSON."""
    try:
        return subject_token_in(text, token_format)
    except ValueError as exc:
        raise TokenError(f"{where} {exc}") from None
