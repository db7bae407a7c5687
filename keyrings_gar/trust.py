"""What a credential file is trusted with: its credentials and subject tokens go only to Google's own
token endpoints, in Google's default universe (or to hosts the user names in KEYRINGS_GAR_TOKEN_HOSTS),
and what it sends as a subject token is never a kernel file.

Credential files are committed to repositories (the GitLab recipe's `external_account` file), where a
merge request can change a `token_url` or a `credential_source.file`. The token exchange is our own
code (federation.py), so google-auth's checks, such as they are, do not apply. Everything here is
checked before anything is read or sent, on a cold lookup only: it costs a warm lookup nothing.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError
from .hosts import parse_trusted_hosts
from .redact import shown_path, shown_text

TOKEN_HOSTS_VAR = "KEYRINGS_GAR_TOKEN_HOSTS"  # noqa: S105 - a variable's name
DEFAULT_UNIVERSE = "googleapis.com"

# Google's token, STS and IAM credentials endpoints as Google documents them: the global name, its
# mTLS name, and the Private Service Connect name (SERVICE-ENDPOINT.p.googleapis.com, an endpoint name
# of 1-20 lowercase letters and digits); plus the token URIs older key files carry
# (accounts.google.com/o/oauth2/token, www.googleapis.com/oauth2/v4/token).
_GOOGLE_TOKEN_HOST = re.compile(
    r"(?:sts|iamcredentials|oauth2)(?:\.mtls)?\.googleapis\.com"
    r"|(?:sts|iamcredentials|oauth2)-[a-z][a-z0-9]{0,19}\.p\.googleapis\.com"
    r"|accounts\.google\.com|www\.googleapis\.com")

# The URLs each kind of credential file sends a credential to, as the code that mints from it uses
# them. An authorized_user file's token_uri is not among them: google-auth always sends a user's
# refresh token to Google's own endpoint, whatever the file says. An impersonated_service_account's
# URL only names the target (google-auth calls its own IAM endpoint); its source_credentials are checked.
_URL_FIELDS: Mapping[str, tuple[str, ...]] = {
    "service_account": ("token_uri",),
    "external_account": ("token_url", "service_account_impersonation_url"),
    "external_account_authorized_user": ("token_url",),
}
# A subject token read from here is the machine's or this process's state, never an ID token:
# /proc/self/environ holds the job's secrets.
_KERNEL_FOLDERS = ("/proc", "/dev", "/sys")
# A gcloud configuration is a few lines of properties.


def check_credential_file(info: Mapping[str, Any], origin: str, environ: Mapping[str, str] = os.environ) -> None:
    """ConfigError, naming the field, when `info` would send anything outside Google's default universe."""
    check_universe(info.get("universe_domain"), origin)
    allowed = parse_trusted_hosts(environ.get(TOKEN_HOSTS_VAR, ""))
    for name in _URL_FIELDS.get(str(info.get("type")), ()):
        url = info.get(name)
        if url is not None:
            _check_url(url, name, origin, allowed)
    source = info.get("credential_source")
    if info.get("type") == "external_account" and isinstance(source, dict) and source.get("file"):
        _check_subject_token_file(str(source["file"]), origin)
    nested = info.get("source_credentials")
    if info.get("type") == "impersonated_service_account" and isinstance(nested, dict):
        check_credential_file(nested, f"{origin} (its source_credentials)", environ)


def check_universe(universe: object, origin: str) -> None:
    """ConfigError when `universe` (a credential's or gcloud's) is not Google Cloud's default one."""
    if universe is None or universe in ("", DEFAULT_UNIVERSE):
        return
    shown = shown_text(str(universe), "another universe") if isinstance(universe, str) else "not a name"
    raise ConfigError(f"{origin} belongs to the universe {shown}, not Google Cloud's default ({DEFAULT_UNIVERSE}), "
                      "where keyrings.gar knows Artifact Registry's hosts; nothing was sent. Use credentials "
                      f"from {DEFAULT_UNIVERSE}")


def _check_url(url: object, name: str, origin: str, allowed: frozenset[str]) -> None:
    text = url if isinstance(url, str) else ""
    # What another URL parser could read with a different host (as hosts.py refuses in a service).
    parts = urlsplit(text) if text.isascii() and text.isprintable() and not any(c in text for c in " \\") else None
    try:
        host, netloc = (parts.hostname or "", parts.netloc.rpartition("@")[2].lower()) if parts else ("", "")
    except ValueError:  # a port that is not a number
        host = netloc = ""
    if not host or parts is None:
        raise ConfigError(f"{origin}: its {name} is not a URL a credential can be sent to; recreate the file "
                          "with gcloud")
    shown = shown_text(netloc, "a host")
    opted_in = host in allowed or netloc in allowed
    if not _GOOGLE_TOKEN_HOST.fullmatch(host) and not opted_in:
        raise ConfigError(f"{origin}: its {name} sends credentials to {shown}, which is not a Google token "
                          "endpoint; nothing was sent. Recreate the file with gcloud, or, if that host is your "
                          f"own private endpoint, add it to {TOKEN_HOSTS_VAR}")
    # Plain http only to a loopback address the user named: nothing there travels off this machine.
    if parts.scheme.lower() != "https" and not (parts.scheme.lower() == "http" and opted_in and _is_loopback(host)):
        raise ConfigError(f"{origin}: its {name} is not https:// (sending to {shown}), and a credential never "
                          "travels without TLS; nothing was sent. Use its https:// URL")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_subject_token_file(path: str, origin: str) -> None:
    try:
        # Symlinks resolved: a link committed beside the config can point anywhere.
        real = os.path.realpath(path)
    except (OSError, ValueError):
        return  # reading it says why
    for folder in _KERNEL_FOLDERS:
        if os.sep == "/" and (real == folder or real.startswith(folder + "/")):
            raise ConfigError(f"{origin}: its credential_source.file {shown_path(Path(path))} is under {folder}, "
                              "which holds no ID token; nothing was read or sent. Point it at the file the CI "
                              "step writes the job's ID token to")



# The hosts each kind of endpoint (beside the token endpoints) may be called at with a token.
_ENDPOINT_HOSTS: Mapping[str, re.Pattern[str]] = {
    "artifact_registry_api": re.compile(r"artifactregistry\.googleapis\.com"),
}


def check_endpoint(url: str, kind: str, origin: str, environ: Mapping[str, str] = os.environ) -> None:
    """ConfigError unless `url` is https:// at Google's host for `kind` under /v1/projects/, or at a
    host the user named in KEYRINGS_GAR_TOKEN_HOSTS (there plain http only on loopback): a token
    is sent there."""
    allowed = parse_trusted_hosts(environ.get(TOKEN_HOSTS_VAR, ""))
    plain = url.isascii() and url.isprintable() and not any(c in url for c in " \\")
    try:
        parts = urlsplit(url) if plain else None
        host, netloc = ((parts.hostname or "").lower(), parts.netloc.rpartition("@")[2].lower()) if parts else ("", "")
    except ValueError:  # a port that is not a number
        parts, host, netloc = None, "", ""
    if parts is None or not host:
        raise ConfigError(f"{origin} is not a URL a token can be sent to; unset it")
    shown = shown_text(netloc, "a host")
    opted_in = host in allowed or netloc in allowed
    if not opted_in and not (_ENDPOINT_HOSTS[kind].fullmatch(host) and parts.path.startswith("/v1/projects/")):
        raise ConfigError(f"{origin} sends a token to {shown}, which is not Google's {kind.replace('_', ' ')}; "
                          f"nothing was sent. Unset it, or add that host to {TOKEN_HOSTS_VAR}")
    if parts.scheme.lower() != "https" and not (parts.scheme.lower() == "http" and opted_in and _is_loopback(host)):
        raise ConfigError(f"{origin} is not https:// (sending to {shown}), and a token never travels without "
                          "TLS; nothing was sent. Use its https:// URL")
