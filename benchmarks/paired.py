"""Paired whole-process timing: run A and B alternately, take the ratio pair by pair.

A 2-core machine shared with other work drifts in speed from second to second. Timing A's runs
and then B's would compare two different machines; alternating them (A B A B ...) and dividing
each A by the B run right next to it cancels the drift, and the median of those ratios ignores
the pairs a burst of other work landed on.

Wall-clock time is what a user waits for, and it is the figure. Next to it each run's CPU time
(user + system, of the process and the processes it waited for) is recorded: when other work
competes for the cores, waiting for a core inflates wall-clock time but not CPU time, so the
CPU-time ratio shows whether a wall-clock ratio is the code or the neighbours.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple

if sys.platform != "win32":
    import resource

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

    def run(self) -> Timed:
        env = self.env
        scratch = None
        if self.fresh_cache:
            # Made before the clock starts: only the lookup is timed, not the benchmark's setup.
            scratch = tempfile.TemporaryDirectory(prefix="bench-cache-")
            env = {**env, "KEYRINGS_GAR_CACHE_DIR": str(Path(scratch.name) / "keyrings-gar")}
        try:
            cpu_before = _children_cpu()
            started = time.perf_counter()
            result = subprocess.run(list(self.argv), env=env, cwd=self.cwd, capture_output=True, text=True,
                                    timeout=120, stdin=subprocess.DEVNULL, check=False)
            elapsed = time.perf_counter() - started
            cpu = _children_cpu() - cpu_before
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
        return Timed(elapsed, cpu, result)


class Timed(NamedTuple):
    wall: float
    cpu: float
    """0.0 where the platform does not say (Windows)."""
    result: subprocess.CompletedProcess[str]


def _children_cpu() -> float:
    """CPU seconds of every child process waited for so far (the benchmark runs one at a time)."""
    if sys.platform == "win32":
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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
    a_cpu: list[float] = field(default_factory=list)
    b_cpu: list[float] = field(default_factory=list)
    yardstick_times: list[float] = field(default_factory=list)
    """A third command's times, one per pair, run right after it: a unit to count A - B in."""

    @property
    def extra_in_yardsticks(self) -> Summary:
        """(A - B) / the yardstick, pair by pair: the unit drifts with the machine as A and B do."""
        return Summary([(x - y) / z for x, y, z in zip(self.a_times, self.b_times, self.yardstick_times)])

    @property
    def ratios(self) -> Summary:
        return Summary([x / y for x, y in zip(self.a_times, self.b_times)])

    @property
    def cpu_ratios(self) -> Summary | None:
        if not all(self.b_cpu):
            return None
        return Summary([x / y for x, y in zip(self.a_cpu, self.b_cpu)])

    @property
    def a_summary(self) -> Summary:
        return Summary(self.a_times)

    @property
    def b_summary(self) -> Summary:
        return Summary(self.b_times)

    def as_dict(self) -> dict[str, object]:
        cpu = self.cpu_ratios
        return {
            "a": self.a.label, "b": self.b.label,
            "ratio": self.ratios.as_dict(),
            "a_ms": self.a_summary.as_dict(1000), "b_ms": self.b_summary.as_dict(1000),
            "cpu_ratio": cpu.as_dict() if cpu is not None else None,
            "a_cpu_ms": Summary(self.a_cpu).as_dict(1000), "b_cpu_ms": Summary(self.b_cpu).as_dict(1000),
            **({"yardstick_ms": Summary(self.yardstick_times).as_dict(1000),
                "extra_in_yardsticks": self.extra_in_yardsticks.as_dict()} if self.yardstick_times else {}),
        }


def paired(a: Command, b: Command, pairs: int, warmup: int, yardstick: Command | None = None) -> Paired:
    """Time `pairs` alternating runs of `a` and `b` after `warmup` untimed rounds of each (and of
    `yardstick`, when given, which is then timed once after each pair)."""
    for _ in range(warmup):
        for command in (a, b, *([yardstick] if yardstick else [])):
            command.run()
    result = Paired(a, b)
    for _ in range(pairs):
        for command, wall, cpu in ((a, result.a_times, result.a_cpu), (b, result.b_times, result.b_cpu)):
            timed = command.run()
            wall.append(timed.wall)
            cpu.append(timed.cpu)
        if yardstick is not None:
            result.yardstick_times.append(yardstick.run().wall)
    return result
