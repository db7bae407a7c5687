"""Showing values that may hold secrets: URLs without their userinfo, times without tokens."""

from __future__ import annotations

import re
from datetime import datetime, timezone


def safe_url(url: str) -> str:
    """A URL as it may be shown: any `user:password@` replaced (gcloud puts the secret there)."""
    return re.sub(r"(?<=//)[^/?#@]*:[^/?#@]*@", "***@", url)[:300]


def iso_time(seconds: float) -> str:
    """Seconds since the epoch as UTC ISO 8601, for expiries in reports."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
