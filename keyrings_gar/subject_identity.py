"""Whose a federated token is, as the token cache key names it: the claims of the subject token.

An `external_account` file says where the subject token comes from, not whose it is: the same
file (the same URL and headers, the same program, the same token file path) answers for job A in
job A and for job B in job B, so a key made of the file alone hands B the token STS issued to A.
The identity is what STS judges: the subject token. Its part of the key is a keyed digest of the
token's claims except those that change with every issuance (id, issue and expiry times), so that
a fresh ID token for the same job (GitHub mints a new one per request) still finds the cached
token, and any claim an attribute condition could test (repository, branch, environment, job)
makes another key. A token that is not a JWT (a SAML assertion, an opaque token) is keyed whole.

The digest is keyed with a random salt kept beside the cached tokens, so that a key (a cache file
name) cannot confirm a guess of the claims it was made from (which branch, which job).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
from pathlib import Path

from ._privatefiles import ensure_private_directory, read_private, write_private
from .secret import standard_base64

log = logging.getLogger("keyrings_gar")

# Claims that differ between two tokens the issuer mints for the same subject: ids, times, and
# Microsoft Entra's per-token opaque values.
PER_ISSUANCE_CLAIMS = frozenset({"jti", "iat", "nbf", "exp", "auth_time", "uti", "rh", "aio"})
SALT_FILE = "subject-salt"
_SALT_BYTES = 32
# Without a cache folder tokens are only shared within the process: a salt of its own will do.
_process_salt = os.urandom(_SALT_BYTES)  # os, not secrets: that imports random (start-up time)


def subject_identity(subject_token: str) -> bytes:
    """What in `subject_token` names the external identity: its lasting claims, or all of it."""
    parts = subject_token.strip().split(".")
    if len(parts) == 3:
        try:
            claims = json.loads(base64.b64decode(standard_base64(parts[1])))
        except ValueError:
            claims = None
        if isinstance(claims, dict):
            lasting = {name: value for name, value in claims.items() if name not in PER_ISSUANCE_CLAIMS}
            return b"jwt\0" + json.dumps(lasting, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return b"token\0" + subject_token.strip().encode("utf-8")


def subject_key(subject_token: str, cache_dir: Path | None) -> str:
    """The key part naming the identity `subject_token` is for."""
    return keyed_digest(subject_identity(subject_token), cache_dir)


def keyed_digest(data: bytes, cache_dir: Path | None) -> str:
    return hmac.new(_salt(cache_dir), data, hashlib.sha256).hexdigest()


def _salt(cache_dir: Path | None) -> bytes:
    """The salt every process of this cache shares; this process's own when there is none."""
    if cache_dir is None:
        return _process_salt
    path = cache_dir / SALT_FILE
    found = read_salt(path)
    if found is None:
        with contextlib.suppress(OSError):
            ensure_private_directory(cache_dir)
            write_private(path, os.urandom(_SALT_BYTES), once=True)
        found = read_salt(path)
    if found is None:
        log.debug("no usable %s in %s; federated tokens are cached for this process only", SALT_FILE, cache_dir)
        return _process_salt
    return found


def read_salt(path: Path) -> bytes | None:
    """The salt if `path` is our own private regular file of the right size (never a link or FIFO)."""
    data = read_private(path, _SALT_BYTES)
    return data if data is not None and len(data) == _SALT_BYTES else None
