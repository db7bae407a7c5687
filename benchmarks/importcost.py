"""What a lookup imports: which modules, which heavy ones, and what `python -X importtime` says they cost.

Two caveats of `-X importtime` shape how it is used here. It reports only imports made by an
`import` statement, not `importlib.import_module`, which is how keyring loads plugins from their
entry points: the plugin module itself would be missing, so the probe imports it by statement
first. And single runs are noisy: every figure is the median over several runs.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Must not be imported by a lookup keyrings.gar answers from its cache, nor by one for another host.
HEAVY = ("google.auth", "google.oauth2", "requests", "urllib3", "cryptography")

_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")

# Run inside a benchmark venv: one lookup, then the modules it left behind.
_PROBE = """
import sys, json
{preimport}
import keyring
keyring.get_password(sys.argv[1], sys.argv[2])
print(json.dumps(sorted(sys.modules)))
"""


@dataclass(frozen=True)
class ImportRow:
    module: str
    depth: int
    self_us: float
    cumulative_us: float


def parse_importtime(stderr: str) -> list[ImportRow]:
    rows = []
    for line in stderr.splitlines():
        match = _LINE.match(line)
        if match:
            self_us, cumulative_us, indent, module = match.groups()
            rows.append(ImportRow(module, (len(indent) - 1) // 2, float(self_us), float(cumulative_us)))
    return rows


def probe(python: str, env: Mapping[str, str], cwd: Path, lookup: tuple[str, str], *, runs: int,
          preimport: Sequence[str] = ()) -> tuple[list[str], list[ImportRow]]:
    """The modules loaded by one lookup, and per-module median import times over `runs` runs."""
    code = _PROBE.format(preimport="\n".join(f"import {m}" for m in ("keyring.backend", *preimport)))
    modules: list[str] = []
    samples: dict[str, list[ImportRow]] = {}
    for _ in range(runs):
        result = subprocess.run([python, "-X", "importtime", "-c", code, *lookup], env=dict(env),
                                cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise SystemExit(f"benchmark: import probe failed: {result.stderr.strip()[-600:]}")
        modules = json.loads(result.stdout.splitlines()[-1])
        for row in parse_importtime(result.stderr):
            samples.setdefault(row.module, []).append(row)
    rows = [
        ImportRow(name, found[0].depth, statistics.median(r.self_us for r in found),
                  statistics.median(r.cumulative_us for r in found))
        for name, found in samples.items()
    ]
    return modules, rows


def heavy_modules(modules: Sequence[str]) -> dict[str, bool]:
    """For each heavy package: whether it (or any submodule) was imported."""
    return {heavy: any(m == heavy or m.startswith(heavy + ".") for m in modules) for heavy in HEAVY}


def top_cumulative(rows: Sequence[ImportRow], count: int, max_depth: int = 0) -> list[ImportRow]:
    """The costliest imports at the top of the tree (what a lookup's own statements pulled in)."""
    return sorted((r for r in rows if r.depth <= max_depth), key=lambda r: r.cumulative_us, reverse=True)[:count]
