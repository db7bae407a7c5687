"""Where a token comes from: which identity a lookup uses, found without importing google-auth.

Finding the source is cheap (environment, one small file read) so that a warm lookup can be
answered from the cache; minting a token from it is `tokens.py`'s job and needs google-auth.
The order is Application Default Credentials' own: the json key secret we were given first,
then GOOGLE_APPLICATION_CREDENTIALS, then gcloud's ADC file, then the metadata server.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import JSON_KEY_BASE64_VAR, Settings
from .errors import ConfigError
from .secret import JsonKeySecret, decode_json_key_secret, parse_service_account_key

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
ADC_VAR = "GOOGLE_APPLICATION_CREDENTIALS"

# How each kind of token source is minted (see tokens.py).
SERVICE_ACCOUNT_KEY = "service-account-key"
ADC_FILE = "adc-file"
METADATA_SERVER = "metadata-server"

_IMPERSONATION_TARGET = re.compile(r"/serviceAccounts/([^/:]+):generateAccessToken")
_ADC_LOGIN_FIX = (
    "run `gcloud auth application-default login`, point GOOGLE_APPLICATION_CREDENTIALS at a key "
    f"file, or set {JSON_KEY_BASE64_VAR}"
)


@dataclass(frozen=True)
class TokenSource:
    """One identity that can mint access tokens, and everything needed to mint them."""

    kind: str
    identity: str
    """Who the tokens are for, safe to print (an email, 'user credentials', ...)."""
    origin: str
    """Where the source was found (a variable, a file path, the metadata server)."""
    cache_key: str
    """Changes whenever the identity could: new key, re-login, other file, other scopes."""
    info: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The parsed key or ADC file (holds secrets: never printed)."""


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def source_from_secret(secret: JsonKeySecret, origin: str = JSON_KEY_BASE64_VAR) -> TokenSource:
    """Tokens minted from the json key itself, so the long-lived key never goes to the registry."""
    return TokenSource(
        kind=SERVICE_ACCOUNT_KEY,
        identity=secret.client_email,
        origin=origin,
        cache_key=_digest(SERVICE_ACCOUNT_KEY, secret.client_email, secret.private_key_id,
                          secret.content_digest, CLOUD_PLATFORM_SCOPE),
        info=secret.info(),
    )


def gcloud_adc_path(environ: Mapping[str, str] = os.environ) -> Path:
    """Where `gcloud auth application-default login` writes its file (as google-auth looks)."""
    config_dir = environ.get("CLOUDSDK_CONFIG")
    if config_dir:
        return Path(config_dir) / "application_default_credentials.json"
    if sys.platform == "win32":
        appdata = environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
        return Path(appdata) / "gcloud" / "application_default_credentials.json"
    return Path.home() / ".config" / "gcloud" / "application_default_credentials.json"


def adc_file(environ: Mapping[str, str] = os.environ) -> tuple[Path, str] | None:
    """The ADC file in effect and how it was found, or None when there is none."""
    explicit = environ.get(ADC_VAR)
    if explicit:
        return Path(explicit).expanduser(), f"{ADC_VAR}={explicit}"
    well_known = gcloud_adc_path(environ)
    if well_known.is_file():
        return well_known, f"gcloud ADC file {well_known}"
    return None


def read_adc_file(path: Path, origin: str) -> tuple[bytes, dict[str, Any]]:
    """The file's bytes and parsed content; ConfigError says what is wrong with it."""
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{origin}: file not found; {_ADC_LOGIN_FIX}") from None
    except OSError as exc:
        raise ConfigError(f"{origin}: cannot read it ({exc.strerror}); fix its permissions") from None
    try:
        info = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        problem = "is empty" if not content.strip() else "is not valid JSON (truncated?)"
        raise ConfigError(f"{origin} {problem}; {_ADC_LOGIN_FIX}") from None
    if not isinstance(info, dict) or not isinstance(info.get("type"), str):
        raise ConfigError(f"{origin} has no credential \"type\"; {_ADC_LOGIN_FIX}")
    return content, info


def describe_identity(info: Mapping[str, Any]) -> str:
    """Who an ADC file authenticates as, without any of its secrets."""
    kind = info.get("type")
    impersonation = _IMPERSONATION_TARGET.search(str(info.get("service_account_impersonation_url", "")))
    if impersonation:
        return f"{impersonation.group(1)} (impersonated, {kind})"
    if kind == "service_account":
        return str(info.get("client_email", "service account"))
    if kind == "authorized_user":
        account = info.get("account") or ""
        client = str(info.get("client_id", ""))[:12]
        return f"user credentials {account}".rstrip() + f" (client {client}…)"
    if kind == "external_account":
        return f"workload identity federation ({str(info.get('audience', ''))[-60:]})"
    return f"{kind} credentials"


def source_from_adc_file(path: Path, origin: str) -> TokenSource:
    content, info = read_adc_file(path, origin)
    return TokenSource(
        kind=ADC_FILE,
        identity=describe_identity(info),
        origin=origin,
        cache_key=_digest(ADC_FILE, str(path.absolute()), hashlib.sha256(content).hexdigest(),
                          CLOUD_PLATFORM_SCOPE),
        info=info,
    )


def metadata_server_source(environ: Mapping[str, str] = os.environ) -> TokenSource:
    host = environ.get("GCE_METADATA_HOST") or environ.get("GCE_METADATA_ROOT") or "metadata.google.internal"
    return TokenSource(
        kind=METADATA_SERVER,
        identity="the metadata server's service account",
        origin=f"metadata server {host}",
        cache_key=_digest(METADATA_SERVER, host, environ.get("GCE_METADATA_IP", ""), CLOUD_PLATFORM_SCOPE),
    )


def find_token_source(settings: Settings, environ: Mapping[str, str] = os.environ) -> TokenSource:
    """The identity a token lookup uses, in Application Default Credentials' order."""
    if settings.json_key_secret is not None:
        return source_from_secret(decode_json_key_secret(settings.json_key_secret))
    found = adc_file(environ)
    if found is not None:
        return source_from_adc_file(*found)
    return metadata_server_source(environ)


def find_json_key(settings: Settings, environ: Mapping[str, str] = os.environ) -> JsonKeySecret | None:
    """The secret for `_json_key_base64`: the variable, else a service-account ADC key file."""
    if settings.json_key_secret is not None:
        return decode_json_key_secret(settings.json_key_secret)
    explicit = environ.get(ADC_VAR)
    if not explicit:
        return None
    origin = f"{ADC_VAR}={explicit}"
    content, info = read_adc_file(Path(explicit).expanduser(), origin)
    if info.get("type") != "service_account":
        return None
    return JsonKeySecret(content, parse_service_account_key(content, origin))
