"""An OAuth access token as every path hands it on: its value, hidden from reprs, and its expiry."""

from __future__ import annotations

import time
from datetime import datetime, timezone  # keyring imports it already: free on a warm lookup
from typing import NamedTuple

# A token whose expiry we are not told is treated as this short-lived, so it is never kept for long.
ASSUMED_LIFETIME = 300.0


def parse_expiry(text: str) -> float:
    """Seconds since the epoch for an expiry as gcloud and IAM write it ('2026-12-07T06:35:08Z', UTC);
    ValueError for any other text."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


class AccessToken(NamedTuple):
    """An OAuth access token and when it expires (seconds since the epoch, UTC)."""

    value: str
    expiry: float

    def remaining(self) -> float:
        return self.expiry - time.time()

    @property
    def fingerprint(self) -> str:
        return f"…{self.value[-4:]}"

    def __repr__(self) -> str:
        return f"AccessToken({self.fingerprint}, expires in {self.remaining():.0f} s)"
