"""What an `external_account` (workload or workforce identity federation) file says, parsed once:
its types, whether its subject token is a signed AWS request, and the account it impersonates.
Plain parsing, no I/O: discovery (the cache key) and minting both read the file through it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

EXTERNAL_ACCOUNT = "external_account"
EXTERNAL_ACCOUNT_AUTHORIZED_USER = "external_account_authorized_user"
FEDERATED_TYPES = (EXTERNAL_ACCOUNT, EXTERNAL_ACCOUNT_AUTHORIZED_USER)
AWS_SUBJECT_TOKEN_TYPE = "urn:ietf:params:aws:token-type:aws4_request"  # noqa: S105 - a type name
# A subject token is a JWT, a SAML assertion or a signed AWS request: a few KiB. Anything far
# larger is not one, and is not read further (by discovery's cache key or by minting).
MAX_SUBJECT_TOKEN_BYTES = 256 * 1024


def is_aws_source(info: Mapping[str, Any]) -> bool:
    """Whether an external_account file's subject token is a signed AWS request (as google-auth decides)."""
    source = info.get("credential_source")
    return (isinstance(source, dict) and str(source.get("environment_id", "")).startswith("aws")) or \
        info.get("subject_token_type") == AWS_SUBJECT_TOKEN_TYPE


def impersonation_target(url: str) -> str:
    """The service account a `service_account_impersonation_url` names; "" when it names none."""
    _, marker, target = url.rpartition("/serviceAccounts/")
    return target.split(":", 1)[0] if marker else ""
