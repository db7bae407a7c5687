"""Paired whole-process timing: run A and B alternately, take the ratio pair by pair.

A 2-core machine shared with other work drifts in speed from second to second. Timing A's runs
and then B's would compare two different machines; alternating them (A B A B ...) and dividing
each A by the B run right next to it cancels the drift, and the median of those ratios ignores
the pairs a burst of other work landed on.
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


class WrongResultError(Exception):
    """A run did not do what the benchmark thinks it measures (no token, a foreign token, ...)."""


# Raises WrongResultError when a run did not do what is measured.
Check = Callable[["subprocess.CompletedProcess[str]"], None]


@dataclass
class Command:
    """One thing to time: a process and what its result must look like."""

    label: str
    argv: Sequence[str]
    env: dict[str, str]
    check: Check
    cwd: Path
    """Never the checkout: `python -c` puts the working directory on sys.path, and keyring would
    find keyrings.gar there (its build leaves metadata in the checkout) in every venv."""
    fresh_cache: bool = False
    """Give every run its own empty token cache (a cold lookup)."""

    def run(self) -> tuple[float, subprocess.CompletedProcess[str]]:
        env = self.env
        scratch = None
        if self.fresh_cache:
            # Made before the clock starts: only the lookup is timed, not the benchmark's setup.
            scratch = tempfile.TemporaryDirectory(prefix="bench-cache-")
            env = {**env, "KEYRINGS_GAR_CACHE_DIR": str(Path(scratch.name) / "keyrings-gar")}
        try:
            started = time.perf_counter()
            result = subprocess.run(list(self.argv), env=env, cwd=self.cwd, capture_output=True, text=True,
                                    timeout=120, stdin=subprocess.DEVNULL, check=False)
            elapsed = time.perf_counter() - started
        finally:
            if scratch is not None:
                scratch.cleanup()
        try:
            self.check(result)
        except WrongResultError as exc:
            raise SystemExit(
                f"benchmark: {self.label} did not do what is measured ({exc}); exit {result.returncode}, "
                f"stderr: {result.stderr.strip()[-400:]!r}"
            ) from None
        return elapsed, result


@dataclass
class Summary:
    """Median, min and max of a list of numbers."""

    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def as_dict(self, scale: float = 1.0) -> dict[str, object]:
        return {"median": self.median * scale, "min": self.low * scale, "max": self.high * scale,
                "values": [v * scale for v in self.values]}


@dataclass
class Paired:
    a: Command
    b: Command
    a_times: list[float] = field(default_factory=list)
    b_times: list[float] = field(default_factory=list)

    @property
    def ratios(self) -> Summary:
        return Summary([x / y for x, y in zip(self.a_times, self.b_times)])

    @property
    def a_summary(self) -> Summary:
        return Summary(self.a_times)

    @property
    def b_summary(self) -> Summary:
        return Summary(self.b_times)

    def as_dict(self) -> dict[str, object]:
        return {
            "a": self.a.label, "b": self.b.label,
            "ratio": self.ratios.as_dict(),
            "a_ms": self.a_summary.as_dict(1000), "b_ms": self.b_summary.as_dict(1000),
        }


def paired(a: Command, b: Command, pairs: int, warmup: int) -> Paired:
    """Time `pairs` alternating runs of `a` and `b` after `warmup` untimed rounds of each."""
    for _ in range(warmup):
        a.run()
        b.run()
    result = Paired(a, b)
    for _ in range(pairs):
        result.a_times.append(a.run()[0])
        result.b_times.append(b.run()[0])
    return result
