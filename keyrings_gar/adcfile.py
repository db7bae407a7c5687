"""The Application Default Credentials file: where it is, reading it, and whose identity it holds."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .config import JSON_KEY_BASE64_VAR, NO_CREDENTIALS_FIX
from .errors import ConfigError
from .external_account import EXTERNAL_ACCOUNT_AUTHORIZED_USER, FEDERATED_TYPES, impersonation_target
from .gcloud import gcloud_config_dir
from .redact import describe, refuse_pasted, shown_text
from .safefile import file_problem, read_named_file

ADC_VAR = "GOOGLE_APPLICATION_CREDENTIALS"

# A service-account key is about 2.3 KiB, an ADC or federation file less: a generous bound.
MAX_CREDENTIALS_FILE = 64 * 1024
_FEDERATION_POOL = re.compile(r"(?:workloadIdentityPools|workforcePools)/([^/]+)(?:/providers/([^/]+))?")
_ADC_PASTED_FIX = {
    "": f"put it in {JSON_KEY_BASE64_VAR} or a file",
    "a JWT": "point it at a credentials file; for workload identity federation that is the config from `gcloud "
             "iam workload-identity-pools create-cred-config`, whose credential_source.file names the file the "
             "ID token is written to",
    "an access token": "point it at a credentials file, or put a pre-minted access token in "
                       "KEYRINGS_GAR_ACCESS_TOKEN instead",
}


def gcloud_adc_path(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> Path:
    """Where `gcloud auth application-default login` writes its file (as google-auth looks)."""
    return gcloud_config_dir(environ, platform) / "application_default_credentials.json"


def adc_var_path(value: str) -> tuple[Path, str]:
    """GOOGLE_APPLICATION_CREDENTIALS as a path and how to name it; ConfigError, without the
    value, when it holds the key itself (a common CI mistake) rather than a path.

    A `~` is not expanded, as google-auth does not: the file is the one every Google tool reads.
    A leading `~` that names nothing gets its own line (quotes kept the shell from expanding it)."""
    refuse_pasted(ADC_VAR, value, _ADC_PASTED_FIX)
    origin = describe(ADC_VAR, value)
    path = Path(value)
    if value.startswith("~") and not path_exists(path):
        raise ConfigError(f"{origin} starts with a literal ~, which google-auth and gcloud do not expand (nor does "
                          "the shell inside quotes); write the full path, e.g. \"$HOME/...\"")
    return path, origin


def path_exists(path: Path) -> bool:
    """Path.exists, but False for a name the OS refuses instead of raising."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def read_adc_file(path: Path, origin: str) -> tuple[bytes, dict[str, Any]]:
    """The file's bytes and parsed content; ConfigError says what is wrong with it."""
    try:
        content = read_named_file(path, MAX_CREDENTIALS_FILE)
    except OSError as exc:
        raise ConfigError(f"{origin} {file_problem(exc, NO_CREDENTIALS_FIX)}") from None
    try:
        info = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        problem = "is empty" if not content.strip() else "is not valid JSON (truncated?)"
        raise ConfigError(f"{origin} {problem}; {NO_CREDENTIALS_FIX}") from None
    if not isinstance(info, dict) or not isinstance(info.get("type"), str):
        raise ConfigError(f"{origin} has no credential \"type\"; {NO_CREDENTIALS_FIX}")
    return content, info


def describe_identity(info: Mapping[str, Any]) -> str:
    """Who an ADC file authenticates as, without any of its secrets."""
    kind = info.get("type")
    impersonated = impersonation_target(str(info.get("service_account_impersonation_url", "")))
    if impersonated:
        return f"{impersonated} (impersonated, {kind})"
    if kind == "service_account":
        return str(info.get("client_email", "service account"))
    if kind == "authorized_user":
        account = shown_text(str(info.get("account") or ""), "an account")
        client = str(info.get("client_id", ""))[:12]
        return f"user credentials {account}".rstrip() + f" (client {client}…)"
    if kind in FEDERATED_TYPES:
        # The pool and provider from the audience: which federation this is, never a token.
        pool = _FEDERATION_POOL.search(str(info.get("audience", "")))
        where = f" ({'/'.join(part for part in pool.groups() if part)})" if pool else ""
        who = "workforce identity user" if kind == EXTERNAL_ACCOUNT_AUTHORIZED_USER else \
            "workload identity federation"
        return f"{who}{where}"
    return f"{shown_text(str(kind), 'an unknown type')} credentials"  # "type" may hold anything pasted
