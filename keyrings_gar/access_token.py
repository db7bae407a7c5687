"""An OAuth access token as every path hands it on: its value, hidden from reprs, and its expiry."""

from __future__ import annotations

import time
from typing import NamedTuple

# A token whose expiry we are not told is treated as this short-lived, so it is never kept for long.
ASSUMED_LIFETIME = 300.0


class AccessToken(NamedTuple):
    """An OAuth access token and when it expires (seconds since the epoch, UTC)."""

    value: str
    expiry: float

    def remaining(self, now: float | None = None) -> float:
        return self.expiry - (time.time() if now is None else now)

    @property
    def fingerprint(self) -> str:
        return f"…{self.value[-4:]}"

    def __repr__(self) -> str:
        return f"AccessToken({self.fingerprint}, expires in {self.remaining():.0f} s)"
