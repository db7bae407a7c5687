"""What keyring loads in another interpreter's environment, asked by running that interpreter with a
small probe (bounded in time and output), never by importing anything from it here; which
interpreter a console script runs with; and which tool (pipx, uv tool) manages an environment."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NamedTuple

from ..programs import OutputTooLargeError, ProgramTimeoutError, run_bounded
from ..safefile import read_regular_file

OK, PROBLEM, NOTE = "ok", "problem", "note"
PROBE_TIMEOUT = 30.0
_OUTPUT_LIMIT = 64 * 1024
_GAR_BACKEND = "keyrings_gar.backend.GarKeyring"

# Runs in the installer's interpreter (any Python 3 poetry or pdm runs on): what keyring loads there.
_PROBE = r"""
import json, sys
found = {}
try:
    from importlib import metadata
except ImportError:
    metadata = None
tool = sys.argv[1] if len(sys.argv) > 1 else ""
for name in ("keyring", "keyrings.gar", "pip", "hishel") + ((tool,) if tool in ("pdm", "poetry", "twine") else ()):
    found[name] = None
    for spelling in (name, name.replace(".", "_")):  # Python 3.9 does not normalise the name
        try:
            found[name] = found[name] or (metadata.version(spelling) if metadata else None)
        except Exception:
            pass
try:
    import keyring
    active = keyring.get_keyring()
    found["chain"] = [type(b).__module__ + "." + type(b).__qualname__ for b in getattr(active, "backends", [active])]
except Exception as exc:
    found["error"] = type(exc).__name__
if tool == "pdm" and found["pdm"]:
    # pdm's HTTP session module, which every pdm command that reaches an index imports: pdm 2.26.3 and
    # later subclass hishel.SyncSqliteStorage there, which hishel 2 no longer has.
    try:
        import pdm.models.session
    except Exception as exc:
        found["tool_error"] = (type(exc).__name__ + ": " + str(exc))[:200]
print(json.dumps(found))
"""


class Finding(NamedTuple):
    """One thing found about an installer's way to keyring: OK, a PROBLEM (with its fix) or a NOTE."""

    level: str
    text: str


class Environment(NamedTuple):
    """What the probe found in one interpreter's environment."""

    python: Path
    versions: dict[str, str | None]
    chain: list[str]
    error: str | None
    tool_error: str | None = None
    """Why the installer's own code fails to import there (pdm only), as `Type: message`."""

    @property
    def loads_plugin(self) -> bool:
        return _GAR_BACKEND in self.chain


def probe(python: Path, env: dict[str, str], tool: str) -> Environment | Finding:
    """What keyring loads in `python`'s environment, as that interpreter sees it; for `tool` pdm also
    whether pdm's own code imports there."""
    # -I: the current folder and PYTHONPATH could hold another keyring than the installer's.
    try:
        finished = run_bounded([str(python), "-I", "-c", _PROBE, tool], PROBE_TIMEOUT, _OUTPUT_LIMIT, env,
                               keep_stderr=False)
    except ProgramTimeoutError:
        return Finding(PROBLEM, f"{python} did not answer within {PROBE_TIMEOUT:g} s")
    except OutputTooLargeError:
        return Finding(PROBLEM, f"{python} printed more than {_OUTPUT_LIMIT // 1024} KiB instead of the check's answer")
    except OSError as exc:
        return Finding(PROBLEM, f"cannot run {python}: {exc.strerror}")
    text = finished.stdout.decode("utf-8", "replace")
    try:
        found: dict[str, Any] = json.loads(text.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return Finding(PROBLEM, f"the interpreter it runs with, {python}, did not answer as a Python 3 would")
    versions = {name: found.get(name) for name in ("keyring", "keyrings.gar", "pip", "hishel", tool)}
    return Environment(python, versions, [str(name) for name in found.get("chain") or []], found.get("error"),
                       found.get("tool_error"))


def script_interpreter(script: Path) -> Path | None:
    """The interpreter a console script runs with: its `#!` line, the `exec` line pip writes under
    `#!/bin/sh` when that path is too long for `#!`, else a python beside it (Windows launchers)."""
    try:
        # The safe reader, as for every file we read: a FIFO planted on PATH must not hang doctor.
        head = read_regular_file(script, 4096)
    except OSError:
        return None
    lines = head.split(b"\n", 2)
    if head.startswith(b"#!"):
        first = lines[0][2:].decode("utf-8", "replace").strip()
        if first.endswith("/sh") and len(lines) > 1:
            match = re.match(rb"'''exec' \"?([^\"' ]+)", lines[1])
            if match and match.group(1).startswith(b"/"):
                return Path(match.group(1).decode("utf-8", "replace"))
        elif first.startswith("/"):  # a bare name would be looked up on PATH, current folder included
            interpreter = first.split(" ")[0]
            if not interpreter.endswith("/env"):
                return Path(interpreter)
    for name in ("python", "python3", "python.exe"):
        beside = script.parent / name
        if beside.exists():
            return beside
    return None


PIPX, UV_TOOL = "pipx", "uv tool"


def managed_by(python: Path, default: str) -> tuple[str | None, str]:
    """Which tool manages the venv of `python` (PIPX, UV_TOOL or None) and the venv's name there
    (`default` when the path does not say): it, not pip, must change what is installed there."""
    parts = python.parts
    for manager, marker, folder in ((PIPX, "pipx", "venvs"), (UV_TOOL, "uv", "tools")):
        if marker in parts and folder in parts:
            at = parts.index(folder) + 1
            return manager, parts[at] if at < len(parts) - 1 else default
    return None, default


def uninstall_command(python: Path, distribution: str, *, has_pip: bool) -> str:
    """The command that removes `distribution` from the environment of `python`, without a prompt
    (pip's `Proceed (Y/n)?` dies with EOFError where nothing can answer)."""
    manager, venv = managed_by(python, "keyring")
    if manager == PIPX:
        return f"pipx runpip {venv} uninstall -y {distribution}"
    if manager == UV_TOOL or not has_pip:
        return f"uv pip uninstall --python {python} {distribution}"
    return f"{python} -m pip uninstall -y {distribution}"
