"""Test service-account keys and user ADC files (real RSA keys, generated per run)."""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass(frozen=True)
class ServiceAccountKey:
    """A service-account key file as Google issues it, with its public half for verification."""

    email: str
    key_id: str = field(repr=False)
    key_json: bytes = field(repr=False)  # a failing test's report must not print the key
    public_key: rsa.RSAPublicKey = field(repr=False)

    @property
    def info(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.key_json)
        return parsed

    @property
    def base64(self) -> str:
        return base64.b64encode(self.key_json).decode("ascii")

    @property
    def private_key_pem(self) -> str:
        return str(self.info["private_key"])


def make_service_account_key(email: str, token_uri: str, *, padded: bool = True) -> ServiceAccountKey:
    """A key whose base64 ends in `=` (unless `padded` is False), so that any percent-encoding
    mistake on the way to the registry shows up as a 401."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    key_id = secrets.token_hex(20)
    project = email.split("@")[1].split(".", maxsplit=1)[0]
    info = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": key_id,
        "private_key": pem,
        "client_email": email,
        "client_id": str(secrets.randbelow(10**20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com",
    }
    key_json = (json.dumps(info, indent=2) + "\n").encode("utf-8")
    # Pad with trailing spaces inside the file until the base64 ends the way we want.
    while (len(key_json) % 3 != 0) != padded:
        key_json = key_json[:-1] + b" \n"
    return ServiceAccountKey(email, key_id, key_json, private_key.public_key())


@dataclass(frozen=True)
class UserCredentials:
    """What `gcloud auth application-default login` writes (type authorized_user)."""

    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    account: str = ""

    def adc_json(self, token_uri: str) -> str:
        """The ADC file, with `token_uri` pointing refresh grants at the loopback endpoint."""
        return json.dumps({
            "account": self.account,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
            "type": "authorized_user",
            "token_uri": token_uri,
            "universe_domain": "googleapis.com",
        })


def make_user_credentials(account: str = "dev@example.com") -> UserCredentials:
    return UserCredentials(
        client_id=f"{secrets.randbelow(10**12)}-fake.apps.googleusercontent.com",
        client_secret="d-FL95Q" + secrets.token_urlsafe(12),
        refresh_token="1//0g" + secrets.token_urlsafe(40),
        account=account,
    )
