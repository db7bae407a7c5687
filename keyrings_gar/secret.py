"""The `_json_key_base64` secret: decoding what users paste, validating it, re-encoding it exactly."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import Any
from urllib.parse import unquote

from .errors import SecretError
from .redact import hidden, showable

# What `gcloud artifacts print-settings python` prints: the secret as a URL password.
_SECRET_IN_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://_json_key_base64:(?P<secret>[^@/]*)@", re.DOTALL)
_REQUIRED_FIELDS = ("client_email", "private_key")


class JsonKeySecret:
    """A service-account key file's bytes; `repr` and `str` show only who it is."""

    __slots__ = ("_key_json", "client_email", "private_key_id")

    def __init__(self, key_json: bytes, origin: str) -> None:
        """SecretError, naming `origin`, unless `key_json` is a service-account key file."""
        try:
            info = json.loads(key_json.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise SecretError(f"{origin} does not decode to JSON; it must encode a service-account key file") from None
        if not isinstance(info, dict) or info.get("type") != "service_account":
            kind = str(info.get("type")) if isinstance(info, dict) else type(info).__name__
            # Whatever was pasted into "type" is shown only when it cannot be part of a secret.
            shown = repr(kind) if showable(kind) else f"({hidden(kind)})"
            raise SecretError(f"{origin} holds JSON of type {shown}, not a service-account key "
                              '(expected "type": "service_account")')
        missing = [f for f in _REQUIRED_FIELDS if not isinstance(info.get(f), str) or not info[f]]
        if missing:
            raise SecretError(f"{origin} is a service-account key without {', '.join(missing)}; download a new key")
        self._key_json = key_json
        self.client_email: str = info["client_email"]
        self.private_key_id: str = str(info.get("private_key_id") or "")

    @property
    def base64(self) -> str:
        """The exact standard base64 of the key file, as Artifact Registry compares it."""
        return base64.b64encode(self._key_json).decode("ascii")

    @property
    def key_json(self) -> str:
        """The key file itself, for the `_json_key` username."""
        return self._key_json.decode("utf-8")

    def info(self) -> dict[str, Any]:
        """The parsed key, for google-auth's `from_service_account_info`."""
        parsed: dict[str, Any] = json.loads(self._key_json)
        return parsed

    @property
    def fingerprint(self) -> str:
        """Who this key is, safe to print: the email and the key id's first 8 characters."""
        key_id = self.private_key_id[:8] or "no key id"
        return f"{self.client_email} (key {key_id})"

    @property
    def content_digest(self) -> str:
        """A hash of the key bytes: a rotated key with the same id is still a new identity."""
        return hashlib.sha256(self._key_json).hexdigest()

    def __repr__(self) -> str:
        return f"JsonKeySecret({self.fingerprint})"


def decode_json_key_secret(raw: str, origin: str = "KEYRINGS_GAR_JSON_KEY_BASE64") -> JsonKeySecret:
    """Turn whatever form the user holds the secret in into the key it encodes.

    Accepted: plain base64; percent-encoded (`...%3D%3D`); wrapped at any column; unpadded or
    URL-safe; the whole `https://_json_key_base64:SECRET@host/...` URL; or the key JSON itself.
    `origin` names where the value came from; it appears in errors, the value never does.
    """
    text = raw.strip()
    if not text:
        raise SecretError(f"{origin} is empty; set it to the base64 of a service-account key file")
    if text.startswith("{"):
        # The key file pasted as it is: keep its bytes (JSON may legitimately contain `%`).
        key_json = text.encode("utf-8")
    else:
        url = _SECRET_IN_URL.match(text)
        if url is not None:
            text = url.group("secret")
        if "%" in text:
            text = unquote(text)
        try:
            key_json = base64.b64decode(standard_base64("".join(text.split())), validate=True)
        except (binascii.Error, ValueError):
            raise SecretError(f"{origin} is not base64; set it to the output of `base64 KEY.json` "
                              "(or the URL `gcloud artifacts print-settings python` prints)") from None
    return JsonKeySecret(key_json, origin)


def standard_base64(text: str) -> str:
    """`text` in standard, padded base64: URL-safe characters swapped back, padding made exact."""
    text = text.replace("-", "+").replace("_", "/").rstrip("=")
    return text + "=" * (-len(text) % 4)
