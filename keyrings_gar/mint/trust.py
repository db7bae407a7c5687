"""What a credential file is trusted with: its credentials and subject tokens go only to Google's own
token endpoints, in Google's default universe (or to hosts the user names in KEYRINGS_GAR_TOKEN_HOSTS),
and what it sends as a subject token is never a kernel file.

Credential files are committed to repositories (the GitLab recipe's `external_account` file), where a
merge request can change a `token_url` or a `credential_source.file`. The token exchange is our own
code (sts.py), so google-auth's checks, such as they are, do not apply. Everything here is
checked before anything is read or sent, on a cold lookup only: it costs a warm lookup nothing.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import SplitResult, urlsplit

from ..errors import ConfigError
from ..external_account import is_aws_source
from ..hosts import HTTPS_PORT, is_unambiguous, parse_trusted_hosts
from ..redact import shown_path, shown_text

TOKEN_HOSTS_VAR = "KEYRINGS_GAR_TOKEN_HOSTS"  # noqa: S105 - a variable's name
DEFAULT_UNIVERSE = "googleapis.com"
DEFAULT_STS_URL = "https://sts.googleapis.com/v1/token"
JWT_GRANT_URL = "https://oauth2.googleapis.com/token"
IAM_URL = "https://iamcredentials.googleapis.com/"

# Each Google endpoint by its documented names: the global one, its mTLS name, and the Private
# Service Connect name (SERVICE-ENDPOINT.p.googleapis.com, an endpoint name of 1-20 lowercase letters
# and digits); for a regional service also SERVICE.LOCATION.rep.googleapis.com, its mTLS name
# (.rep.mtls.) and its Private Service Connect name (.p.rep.), LOCATION a region (`us-east1`) or a
# jurisdiction (`us`, `eu`), as `gcloud iam workload-identity-pools create-cred-config
# --sts-location` writes them.
_LOCATION = r"[a-z]+(?:-[a-z]+[0-9]{1,2})?"


def _google_names(service: str, *, regional: bool = False) -> str:
    names = rf"{service}(?:\.mtls)?\.googleapis\.com|{service}-[a-z][a-z0-9]{{0,19}}\.p\.googleapis\.com"
    if regional:
        names += rf"|{service}\.{_LOCATION}\.(?:rep|rep\.mtls|p\.rep)\.googleapis\.com"
    return names


class _Endpoint(NamedTuple):
    """Google's hosts for one endpoint, the exact paths it takes a credential at, and the URL a fix names."""

    hosts: re.Pattern[str]
    paths: re.Pattern[str]
    example: str


# A path segment of a resource name: never `%` (an encoded `/` or `.`), never a dot segment (checked apart).
_SEGMENT = r"[A-Za-z0-9._~@+-]+"
_STS_HOSTS = re.compile(_google_names("sts", regional=True))
_ENDPOINTS: Mapping[str, tuple[_Endpoint, ...]] = {
    # A service-account key's token_uri: the JWT grant. The two old names only here, at their own path.
    "token_uri": (
        _Endpoint(re.compile(_google_names("oauth2")), re.compile(r"/token"), JWT_GRANT_URL),
        _Endpoint(re.compile(r"accounts\.google\.com"), re.compile(r"/o/oauth2/token"), JWT_GRANT_URL),
        _Endpoint(re.compile(r"www\.googleapis\.com"), re.compile(r"/oauth2/v4/token"), JWT_GRANT_URL),
    ),
    # An external_account file's token exchange (google-auth's sts.Client posts to it as written).
    "token_url": (_Endpoint(_STS_HOSTS, re.compile(r"/v1/token|/v1beta/token"), DEFAULT_STS_URL),),
    # A workforce login's refresh-token grant (external_account_authorized_user).
    "workforce_token_url": (
        _Endpoint(_STS_HOSTS, re.compile(r"/v1/oauthtoken"), "https://sts.googleapis.com/v1/oauthtoken"),
    ),
    # google-auth's IAM URL form: .../v1/projects/-/serviceAccounts/{email}:generateAccessToken.
    "service_account_impersonation_url": (
        _Endpoint(re.compile(_google_names("iamcredentials")),
                  re.compile(r"/v1/projects/-/serviceAccounts/[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*:generateAccessToken"),
                  f"{IAM_URL}v1/projects/-/serviceAccounts/EMAIL:generateAccessToken"),
    ),
    # doctor's own calls to the Artifact Registry API (never a credential file's).
    "artifact_registry_api": (
        _Endpoint(re.compile(_google_names("artifactregistry", regional=True)),
                  re.compile(rf"/v1/projects/{_SEGMENT}(?:/{_SEGMENT})*(?::[A-Za-z]+)?"),
                  "https://artifactregistry.googleapis.com/v1/projects/..."),
    ),
}
# AWS credential_source URLs: only ever the EC2 metadata server, at its IPv4 and IPv6 addresses.
_AWS_METADATA_HOSTS = frozenset({"169.254.169.254", "fd00:ec2::254"})
_AWS_URL_FIELDS = ("url", "region_url", "imdsv2_session_token_url")
_SHOWN_FIELD = {"workforce_token_url": "token_url", "artifact_registry_api": "Artifact Registry API URL",
                **{f"aws_{name}": f"credential_source.{name}" for name in _AWS_URL_FIELDS}}

# The URLs each kind of credential file sends a credential to, as the code that mints from it uses
# them: (the file's field, its endpoint). An authorized_user file's token_uri is not among them:
# google-auth always sends a user's refresh token to Google's own endpoint, whatever the file says. An
# impersonated_service_account's URL only names the target (google-auth calls its own IAM endpoint);
# its source_credentials are checked.
_URL_FIELDS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "service_account": (("token_uri", "token_uri"),),
    "external_account": (("token_url", "token_url"),
                         ("service_account_impersonation_url", "service_account_impersonation_url")),
    "external_account_authorized_user": (("token_url", "workforce_token_url"),),
}
# A subject token read from here is the machine's or this process's state, never an ID token:
# /proc/self/environ holds the job's secrets.
_KERNEL_FOLDERS = ("/proc", "/dev", "/sys")


def check_credential_file(info: Mapping[str, Any], origin: str, environ: Mapping[str, str] = os.environ) -> None:
    """ConfigError, naming the field, when `info` would send anything outside Google's default universe."""
    check_universe(info.get("universe_domain"), origin)
    for name, field in _URL_FIELDS.get(str(info.get("type")), ()):
        url = info.get(name)
        if url is not None:
            check_endpoint(url, field, origin, environ)
    source = info.get("credential_source")
    if info.get("type") == "external_account" and isinstance(source, dict):
        if is_aws_source(info):
            for name in _AWS_URL_FIELDS:
                if source.get(name) is not None:
                    check_endpoint(source[name], f"aws_{name}", origin, environ)
        elif source.get("file"):
            _check_subject_token_file(str(source["file"]), origin)
    nested = info.get("source_credentials")
    if info.get("type") == "impersonated_service_account" and isinstance(nested, dict):
        check_credential_file(nested, f"{origin} (its source_credentials)", environ)


def check_endpoint(url: object, field: str, origin: str, environ: Mapping[str, str] = os.environ) -> None:
    """ConfigError when `url` is not where a `field` (a key of _ENDPOINTS) sends: Google's endpoint for that
    field, at its exact path, over https; or any path on a host the user named in KEYRINGS_GAR_TOKEN_HOSTS.
    `origin` names where the URL came from, for the message."""
    allowed = parse_trusted_hosts(environ.get(TOKEN_HOSTS_VAR, ""))
    name = _SHOWN_FIELD.get(field, field)
    text = url if isinstance(url, str) else ""
    # What another URL parser could read with a different host (as hosts.py refuses in a service).
    try:
        parts = urlsplit(text) if is_unambiguous(text) else None
        host, port = (parts.hostname or "", parts.port) if parts else ("", None)
    except ValueError:  # `[host]` that is no IPv6 address, or a port that is not a number
        parts, host, port = None, "", None
    if not host or parts is None:
        raise ConfigError(f"{origin}: its {name} is not a URL anything can be sent to; nothing was sent. Write "
                          f"{_expected(field)} there, or your own endpoint's URL with its host in {TOKEN_HOSTS_VAR}")
    shown = host_of(text.lower(), "a host")
    at_port = f"[{host}]" if ":" in host else host
    opted_in = host in allowed or (port not in (None, HTTPS_PORT) and f"{at_port}:{port}" in allowed)
    if not opted_in:
        _check_google_endpoint(text, parts, field, f"{origin}: its {name}", shown)
    aws_metadata = field.startswith("aws_") and host in _AWS_METADATA_HOSTS
    # Plain http only to a loopback address the user named, or to the EC2 metadata address (link-local,
    # how it is reached): nothing there travels off this machine.
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and ((opted_in and _is_loopback(host)) or aws_metadata)):
        raise ConfigError(f"{origin}: its {name} is not https:// (sending to {shown}); nothing was sent. Use its "
                          "https:// URL")


def check_universe(universe: object, origin: str) -> None:
    """ConfigError when `universe` (a credential's or gcloud's) is not Google Cloud's default one."""
    if universe is None or universe in ("", DEFAULT_UNIVERSE):
        return
    shown = shown_text(str(universe), "another universe") if isinstance(universe, str) else "not a name"
    raise ConfigError(f"{origin} belongs to the universe {shown}, not Google Cloud's default ({DEFAULT_UNIVERSE}); "
                      f"nothing was sent. Use credentials from {DEFAULT_UNIVERSE}")


def host_of(url: str, what: str = "the endpoint") -> str:
    """`host[:port]` of `url`, to name it: never its userinfo, path or query (a password, request ids);
    `what` when it may hold a secret."""
    try:
        netloc = urlsplit(url).netloc.rpartition("@")[2]
    except ValueError:
        return "an unreadable URL"
    return shown_text(netloc, what)


def _check_google_endpoint(text: str, parts: SplitResult, field: str, its: str, shown: str) -> None:
    """ConfigError unless `parts` is Google's endpoint for `field`, at its exact path, with nothing after it;
    `its` names the field where it came from, `shown` the host."""
    host, fix = parts.hostname or "", f"If that is your own private endpoint, add its host to {TOKEN_HOSTS_VAR}"
    if field.startswith("aws_"):
        if host not in _AWS_METADATA_HOSTS or parts.username is not None:
            raise ConfigError(f"{its} sends a request to {shown}, which is not the EC2 metadata server "
                              "(169.254.169.254 or [fd00:ec2::254]); nothing was sent. " + fix)
        return
    endpoints = [e for e in _ENDPOINTS[field] if e.hosts.fullmatch(host)]
    if not endpoints or parts.username is not None:
        what = "Google's Artifact Registry API" if field == "artifact_registry_api" else "a Google token endpoint"
        raise ConfigError(f"{its} sends credentials to {shown}, which is not {what}; nothing was sent. Google's is "
                          f"{_expected(field)}. {fix}")
    # The path exactly as written: no query, fragment, percent-encoding or dot segment, which a server
    # could read as another path on the same host (www.googleapis.com also serves Cloud Storage uploads).
    path = parts.path
    plain = text.partition("://")[2] == parts.netloc + path and not any(c in text for c in "?#%") and \
        not any(segment in (".", "..") for segment in path.split("/"))
    if not plain or not any(e.paths.fullmatch(path) for e in endpoints):
        name = _SHOWN_FIELD.get(field, field)
        raise ConfigError(f"{its} sends credentials to {shown} at a path that is not its {name} endpoint; nothing "
                          f"was sent. Google's is {_expected(field)}. {fix}")


def _expected(field: str) -> str:
    if field.startswith("aws_"):
        return "the EC2 metadata server's http://169.254.169.254/ URL"
    return _ENDPOINTS[field][0].example


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
                              "which holds no ID token; nothing was sent. Name the file the CI job writes it to")

