"""What a token source is: one identity that can mint access tokens, and its token cache key.

Which source a lookup uses is search.py's order; minting from it is `mint/deadline.py`'s job and
needs google-auth. Describing a source is cheap (no network), so that a warm lookup can be
answered from the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .adcfile import MAX_CREDENTIALS_FILE, describe_identity, read_adc_file
from .config import JSON_KEY_BASE64_VAR
from .external_account import EXTERNAL_ACCOUNT, MAX_SUBJECT_TOKEN_BYTES, is_aws_source
from .gcloud import GcloudAccount
from .redact import showable, shown_path, shown_text
from .safefile import read_named_file
from .secret import JsonKeySecret

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
_SUBJECT_AT_LOOKUP = "subject token retrieved at lookup"

# How each kind of token source is minted (see mint/deadline.py).
SERVICE_ACCOUNT_KEY = "service-account-key"
ADC_FILE = "adc-file"
METADATA_SERVER = "metadata-server"
IMPERSONATED = "impersonated"
GCLOUD = "gcloud"


@dataclass(frozen=True)
class TokenSource:
    """One identity that can mint access tokens, and everything needed to mint them."""

    kind: str
    identity: str
    """Who the tokens are for, safe to print (an email, 'user credentials', ...)."""
    origin: str
    """Where the source was found (a variable, a file path, the metadata server), safe to print:
    values are described through `redact`, so a key pasted where a path belongs never shows."""
    cache_key: str
    """Changes whenever the identity could: new key, re-login, other file, other scopes."""
    info: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The parsed key or ADC file (holds secrets: never printed)."""
    via: TokenSource | None = field(default=None, repr=False, compare=False)
    """For impersonation: the source whose tokens ask IAM for the target's."""
    gcloud: GcloudAccount | None = field(default=None, repr=False, compare=False)
    """For the gcloud CLI: which installation and account to ask."""
    subject_pending: bool = field(default=False, compare=False)
    """True for a URL or executable federation source (or an impersonation over one) until its
    subject token is retrieved: only that token says whose the tokens are, so the cache key is
    not final before `with_subject_token` (see subject_identity.py)."""
    subject_token: str | None = field(default=None, repr=False, compare=False)
    """The subject token retrieved for the key, which minting then exchanges (never printed)."""


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


def source_from_adc_file(path: Path, origin: str, environ: Mapping[str, str], cache_dir: Path | None) -> TokenSource:
    content, info = read_adc_file(path, origin)
    subject = _federated_subject(info, environ, cache_dir)
    return TokenSource(
        kind=ADC_FILE,
        identity=describe_identity(info),
        origin=origin,
        cache_key=_digest(ADC_FILE, str(path.absolute()), hashlib.sha256(content).hexdigest(),
                          subject, CLOUD_PLATFORM_SCOPE),
        info=info,
        subject_pending=subject == _SUBJECT_AT_LOOKUP,
    )


def _federated_subject(info: Mapping[str, Any], environ: Mapping[str, str], cache_dir: Path | None) -> str:
    """For a federation file, what picks the external identity beyond the file itself: the
    subject token in its file, or the AWS credentials in the environment; for a URL or an
    executable, that it is only known once the token is retrieved. A committed config on a
    shared runner must not be answered with the token another job (another branch, another
    attribute condition) minted. See subject_identity.py."""
    source = info.get("credential_source") if info.get("type") == EXTERNAL_ACCOUNT else None
    if not isinstance(source, dict):
        return ""
    from .subject_identity import keyed_digest, subject_key  # only for federation files (start-up time)

    if is_aws_source(info):
        # The signed request STS receives is new every second; the credentials signing it say who.
        return keyed_digest("\0".join(environ.get(name, "") for name in (
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
            "AWS_DEFAULT_REGION")).encode("utf-8"), cache_dir)
    if isinstance(source.get("executable"), dict) or (source.get("url") and not source.get("file")):
        return _SUBJECT_AT_LOOKUP
    if source.get("file"):
        try:
            # Read on every lookup, warm ones too: a FIFO planted there must not hang them.
            content = read_named_file(str(source["file"]), MAX_SUBJECT_TOKEN_BYTES)
        except OSError:
            return "unreadable"  # minting says why
        text = content.decode("utf-8", "replace")
        try:
            token = subject_token_in(text, source.get("format"))
        except ValueError:
            token = text  # minting says what is wrong
        return subject_key(token, cache_dir)
    return ""


def subject_token_in(text: str, token_format: object) -> str:
    """The subject token in a file or URL body as credential_source.format says: all of it, or one
    JSON field. ValueError says what is wrong, to follow the body's name in a message."""
    fmt = token_format if isinstance(token_format, dict) else {}
    if fmt.get("type", "text") == "json":
        field = str(fmt.get("subject_token_field_name", ""))
        try:
            parsed = json.loads(text)
        except ValueError:
            raise ValueError("is not JSON, but the file's credential_source.format says it is") from None
        value = parsed.get(field) if isinstance(parsed, dict) else None
        if not isinstance(value, str) or not value:
            raise ValueError(f"has no {field!r} field holding the token")
        return value
    if not text.strip():
        raise ValueError("is empty: the step that writes the job's ID token did not write it")
    return text.strip()


def with_subject_token(source: TokenSource, subject_token: str, cache_dir: Path | None) -> TokenSource:
    """`source` once its subject token is retrieved: the key names whose it is, and minting
    exchanges this very token (a second retrieval could answer for someone else)."""
    from .subject_identity import subject_key  # only for federation files (start-up time)

    if source.via is not None:
        base = with_subject_token(source.via, subject_token, cache_dir)
        return replace(source, via=base, subject_pending=False,
                       cache_key=_impersonated_key(str(source.info["target_principal"]), base))
    return replace(source, subject_pending=False, subject_token=subject_token,
                   cache_key=_digest(source.cache_key, subject_key(subject_token, cache_dir)))


def metadata_host(environ: Mapping[str, str] = os.environ) -> str:
    """The metadata server google-auth asks (`host[:port]`)."""
    return environ.get("GCE_METADATA_HOST") or environ.get("GCE_METADATA_ROOT") or "metadata.google.internal"


def metadata_server_source(environ: Mapping[str, str] = os.environ) -> TokenSource:
    host = metadata_host(environ)
    return TokenSource(
        kind=METADATA_SERVER,
        identity="the metadata server's service account",
        origin=f"metadata server {shown_text(host, 'GCE_METADATA_HOST')}",
        cache_key=_digest(METADATA_SERVER, host, environ.get("GCE_METADATA_IP", ""), CLOUD_PLATFORM_SCOPE),
    )


def gcloud_source(account: GcloudAccount) -> TokenSource:
    name = account.configuration
    configuration = repr(name) if showable(name) else shown_text(name, "CLOUDSDK_ACTIVE_CONFIG_NAME")
    return TokenSource(
        kind=GCLOUD,
        identity=account.identity,
        origin=(f"gcloud CLI {shown_path(account.executable)} (configuration {configuration} "
                f"in {shown_path(account.config_dir)})"),
        # The universe too (core/universe_domain or CLOUDSDK_CORE_UNIVERSE_DOMAIN), when set: a fixed
        # universe is another source, tried at once, not held back by the failure memory.
        cache_key=_digest(GCLOUD, str(account.config_dir.absolute()), account.configuration, account.account,
                          account.impersonate or "", _override_identity(account), CLOUD_PLATFORM_SCOPE,
                          *([account.universe_domain] if account.universe_domain else [])),
        gcloud=account,
    )


def _override_identity(account: GcloudAccount) -> str:
    """What names the identity gcloud's credential file override gives its tokens: the file's
    path and content (another key written to the same path is another identity)."""
    override = account.credential_file_override
    if not override:
        return ""
    try:
        content = read_named_file(override, MAX_CREDENTIALS_FILE)  # a key or ADC file, as read_adc_file reads it
    except (OSError, ValueError):
        content = b"unreadable"  # gcloud says why when it is asked
    return _digest("credential_file_override", override, hashlib.sha256(content).hexdigest())


def impersonated_source(base: TokenSource, target: str, origin: str) -> TokenSource:
    """Tokens for `target`, asked of IAM with `base`'s tokens (which need Token Creator on it)."""
    return TokenSource(
        kind=IMPERSONATED,
        identity=f"{target} (impersonated by {base.identity})",
        origin=f"{origin}, through {base.origin}",
        cache_key=_impersonated_key(target, base),
        info={"target_principal": target},
        via=base,
        subject_pending=base.subject_pending,
    )


def _impersonated_key(target: str, base: TokenSource) -> str:
    return _digest(IMPERSONATED, target, base.cache_key, CLOUD_PLATFORM_SCOPE)
