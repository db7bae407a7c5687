"""A pre-minted access token handed to us by the environment: a variable, or a file we re-read.

Docker builds, Cloud Build steps and some CI systems hold a short-lived token but no key and no
gcloud. The token is used as it is: never minted, never refreshed, never written to our cache
(whoever provides it owns its life). Its expiry is unknown to us, and every message says so.

These come before every other source: setting one is the most deliberate choice a user can make,
and answering from it costs no network call. Our own variables come first; gcloud's
CLOUDSDK_AUTH_ACCESS_TOKEN and CLOUDSDK_AUTH_ACCESS_TOKEN_FILE are honoured too, as gcloud honours
them over every other login (each set empty means unset, as for gcloud). Of each pair, the value
comes before the file, as for our own variables.
"""

from __future__ import annotations

import base64
import binascii
import errno
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from .access_token import ASSUMED_LIFETIME, AccessToken
from .errors import ConfigError
from .redact import describe
from .safefile import CredentialAsPathError, expanded, file_problem, read_named_text
from .secret import standard_base64

# Names of variables, not secrets (S105 reads "TOKEN" in a name as a password).
ACCESS_TOKEN_VAR = "KEYRINGS_GAR_ACCESS_TOKEN"  # noqa: S105
ACCESS_TOKEN_FILE_VAR = "KEYRINGS_GAR_ACCESS_TOKEN_FILE"  # noqa: S105
GCLOUD_ACCESS_TOKEN_VAR = "CLOUDSDK_AUTH_ACCESS_TOKEN"  # noqa: S105
GCLOUD_ACCESS_TOKEN_FILE_VAR = "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE"  # noqa: S105
TOKEN_VARIABLES = (ACCESS_TOKEN_VAR, ACCESS_TOKEN_FILE_VAR, GCLOUD_ACCESS_TOKEN_VAR, GCLOUD_ACCESS_TOKEN_FILE_VAR)
"""Every variable a pre-minted token is taken from, in the order they are tried."""

# Google's access tokens are a few hundred bytes; anything this long is something else.
MAX_TOKEN_BYTES = 4096
# RFC 6750's b64token: what an `Authorization: Bearer` token may be made of.
_B64TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")
_FIX = "put an OAuth access token there (`gcloud auth print-access-token`)"


class ProvidedToken(NamedTuple):
    """Where a pre-minted token comes from: a variable's value, or a file a variable names."""

    variable: str
    path: Path | None
    """The file to read on every lookup; None when the variable holds the token itself."""

    @property
    def origin(self) -> str:
        """The variable, and the file it names when there is one there: a value that names
        nothing may be a token pasted into the wrong variable, and is never shown."""
        if self.path is None or not os.path.lexists(self.path):
            return self.variable
        return describe(self.variable, str(self.path))

    def read(self, environ: Mapping[str, str] = os.environ) -> AccessToken:
        """The token as it is now (the file is read again each time); ConfigError if unusable. The
        messages name the variable and what the value looks like, never the value: it may be a secret."""
        raw = environ.get(self.variable, "") if self.path is None else _read_token_file(self.path, self.variable)
        token = raw.strip()
        if not token:
            raise ConfigError(f"{self.origin} is empty; {_FIX}, or unset the variable")
        problem = _not_a_token(token)
        if problem is not None:
            raise ConfigError(f"{self.origin} does not hold an access token ({problem}); {_FIX}")
        return AccessToken(token, time.time() + ASSUMED_LIFETIME)


def find_provided_token(environ: Mapping[str, str] = os.environ) -> ProvidedToken | None:
    """The pre-minted token input in effect, or None. Only the environment is read (no I/O).

    Our own variables set but empty are reported (a CI secret that did not arrive), not skipped;
    gcloud's variables set empty mean unset, as they do for gcloud.
    """
    for variable in TOKEN_VARIABLES:
        value = environ.get(variable, "").strip()
        ours = variable in (ACCESS_TOKEN_VAR, ACCESS_TOKEN_FILE_VAR)
        if not value and not (ours and variable in environ):
            continue
        if variable in (ACCESS_TOKEN_VAR, GCLOUD_ACCESS_TOKEN_VAR):
            return ProvidedToken(variable, None)
        if not value:
            raise ConfigError(f"{variable} is set but empty; set it to the path of a file holding an access token, "
                              "or unset it")
        return ProvidedToken(variable, expanded(Path(value)))
    return None


def _read_token_file(path: Path, variable: str) -> str:
    try:
        return read_named_text(path, MAX_TOKEN_BYTES)
    except CredentialAsPathError:
        raise ConfigError(f"{variable} holds what looks like a token itself, not a path; put a token itself in "
                          f"{ACCESS_TOKEN_VAR}, or name the file that holds it") from None
    except (FileNotFoundError, NotADirectoryError):
        raise ConfigError(f"{variable} names no existing file (its value is not shown: it may be a token); write "
                          f"the token there, fix the path, or put the token itself in {ACCESS_TOKEN_VAR}") from None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:  # no path is that long: most likely a token pasted there
            raise ConfigError(f"{variable} is too long to be a path; put a token itself in {ACCESS_TOKEN_VAR}"
                              ) from None
        raise ConfigError(f"{describe(variable, str(path))} {file_problem(exc, _FIX)}") from None


def _not_a_token(token: str) -> str | None:
    """What `token` looks like instead of an access token, or None when it can be one."""
    if len(token.encode("utf-8")) > MAX_TOKEN_BYTES:
        return f"longer than {MAX_TOKEN_BYTES} bytes"
    if token.startswith(("{", "[")):
        return "it looks like JSON, such as a key file: point GOOGLE_APPLICATION_CREDENTIALS at a key file instead"
    if "-----BEGIN" in token:
        return "it looks like a PEM private key"
    if _B64TOKEN.fullmatch(token) is None:
        return "it has spaces or characters a bearer token cannot have"
    if _decodes_to_json(token):
        return "it looks like a base64-encoded key file: set KEYRINGS_GAR_JSON_KEY_BASE64 to it instead"
    return None


def _decodes_to_json(token: str) -> bool:
    """Whether `token` is base64 of a JSON object (a `_json_key_base64` secret pasted here)."""
    if "." in token:  # neither base64 nor the JSON inside it starts like a `ya29.` token
        return False
    try:
        decoded = base64.b64decode(standard_base64(token))
    except (binascii.Error, ValueError):
        return False
    return decoded.lstrip().startswith(b"{")
