"""The AWS subject token: a GetCallerIdentity request signed by google-auth's own `aws` module, so
that it is exactly the request STS expects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import google.auth.exceptions
from google.auth import aws

from ..errors import TokenError
from .transport import DeadlineRequest, unreachable


def aws_subject_token(info: Mapping[str, Any], request: DeadlineRequest, environ: Mapping[str, str]) -> str:
    """With AWS_REGION (or AWS_DEFAULT_REGION) and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY set this makes no
    network call; without them google-auth asks the EC2 metadata server, through our transport."""
    # AWS issues temporary keys (ASIA...) as three values; signed without the third, STS can only
    # say the grant is invalid. Said here, before anything is sent, with the fix that fits.
    if environ.get("AWS_ACCESS_KEY_ID", "").startswith("ASIA") and environ.get("AWS_SECRET_ACCESS_KEY") \
            and not environ.get("AWS_SESSION_TOKEN"):
        raise TokenError("AWS_ACCESS_KEY_ID is a temporary key (ASIA…) and AWS_SESSION_TOKEN is not set: set it "
                         "too (a role's credentials are three values)")
    try:
        credentials = aws.Credentials.from_info(dict(info))
        return str(credentials.retrieve_subject_token(request))
    except google.auth.exceptions.TransportError as exc:
        raise unreachable(exc, "the AWS metadata server") from None
    except (google.auth.exceptions.GoogleAuthError, ValueError, KeyError, TypeError) as exc:
        raise TokenError(f"cannot sign the AWS caller-identity request ({type(exc).__name__}): set AWS_REGION, "
                         "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or run on EC2 with "
                         "an instance role") from None
