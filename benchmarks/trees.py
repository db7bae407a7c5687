"""Two commits' lookups timed against each other, paired, on one venv: did a change move a figure?

    benchmarks/.venvs/harness/bin/python benchmarks/trees.py OLD NEW     # e.g. 8b19d85 HEAD

Each commit's `keyrings_gar/` is checked out into a temporary folder and put first on PYTHONPATH of
the keyrings.gar venv `benchmarks/run.py` builds (run it once first; its harness venv has what the
loopback Google needs), so that only the package's code differs between A and B: the same
interpreter, keyring, google-auth and loopback Google. Printed per case: the new / old median of
the paired wall-clock ratios, and of CPU time.
"""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import run
from paired import Command, paired
from venvs import GAR, venvs_under

PAIRS, WARMUP = 21, 3


def _tree(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", rev, "keyrings_gar"], cwd=run.REPO, capture_output=True, check=True)
    into.mkdir()
    subprocess.run(["tar", "-x"], cwd=into, input=archive.stdout, check=True)
    return into


def _on(command: Command, tree: Path, tag: str) -> Command:
    # Each tree its own cache folder: a warm lookup must find the token its own code wrote.
    cache = f"{command.env['KEYRINGS_GAR_CACHE_DIR']}-{tag}"
    env = {**command.env, "PYTHONPATH": str(tree), "KEYRINGS_GAR_CACHE_DIR": cache}
    return dataclasses.replace(command, label=f"{command.label} {tag}", env=env)


def main(old: str, new: str) -> None:
    sys.path.insert(0, str(run.REPO))
    from tests.loopback.google import FakeGoogle

    venvs = venvs_under(run.HERE / ".venvs")
    with socket.socket() as closed, tempfile.TemporaryDirectory(prefix="keyrings-gar-trees-") as scratch, \
            FakeGoogle() as fake:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: the metadata server refuses at once
        bench = run.Bench(venvs, fake, Path(scratch), closed.getsockname()[1])
        old_tree, new_tree = _tree(old, Path(scratch) / "old"), _tree(new, Path(scratch) / "new")
        cases = {
            "another host": bench.keyring_get(GAR, "other", run.OTHER_URL),
            "warm, from the token cache": bench.keyring_get(GAR, "warm", run.AR_URL),
            "cold, minting (an empty cache folder each run)": bench.keyring_get(GAR, "cold", run.AR_URL,
                                                                                 fresh_cache=True),
        }
        for name, command in cases.items():
            result = paired(_on(command, new_tree, "new"), _on(command, old_tree, "old"), PAIRS, WARMUP)
            cpu = result.cpu_ratios
            print(f"{name}: new / old {result.ratios.median:.3f} (medians {result.a_summary.median * 1000:.0f} / "
                  f"{result.b_summary.median * 1000:.0f} ms), CPU time {cpu.median if cpu else float('nan'):.3f}",
                  flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python3 benchmarks/trees.py OLD NEW")
    main(sys.argv[1], sys.argv[2])
