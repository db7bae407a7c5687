"""Whether an installer will reach keyrings.gar: the `keyring` command it runs, or the environment
it imports keyring in, must hold the plugin. A small first check for `configure`; doctor's check of
a named installer's environment is meant to replace it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .installer_settings import install_hint, install_source
from .keyring_chain import _script_python
from .redact import safe_url

PROBE_TIMEOUT = 30
# Importing the backend is what keyring's entry-point loading does; it needs google-auth's absence
# to show too, so the module itself, not just the distribution's metadata.
_PROBE = "import keyring, keyrings_gar.backend"


def _imports_plugin(python: Path) -> bool:
    try:
        result = subprocess.run([str(python), "-c", _PROBE], capture_output=True, timeout=PROBE_TIMEOUT,
                                stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0


def _command_environment(command: str) -> tuple[str, Path | None] | None:
    """(where the command is, the python it runs with) or None when it is not on PATH."""
    found = shutil.which(command)
    if found is None:
        return None
    return found, _script_python(Path(found))


def _keyring_on_path_problem(tool: str) -> str | None:
    keyring = _command_environment("keyring")
    if keyring is None:
        return f"{tool} runs the `keyring` command on PATH, and there is none: {install_hint()}"
    where, python = keyring
    if python is None or not _imports_plugin(python):
        return (f"{tool} runs the `keyring` on PATH ({safe_url(where)}), which does not load keyrings.gar: "
                f"install it there (for pipx: pipx inject --include-apps keyring {install_source()})")
    return None


def _own_environment_problem(tool: str, fix: str) -> str | None:
    """For tools that import keyring in their own environment (poetry, twine)."""
    command = _command_environment(tool)
    if command is None:
        return f"no `{tool}` on PATH to check; keyrings.gar must be installed in its environment ({fix})"
    where, python = command
    if python is None or not _imports_plugin(python):
        return f"{tool} ({safe_url(where)}) imports keyring from its own environment, which lacks keyrings.gar: {fix}"
    return None


def reach_problem(tool: str) -> str | None:
    """Why `tool` would not ask keyrings.gar, with what to install where; None when it would."""
    if tool in ("pip", "uv"):
        # pip's subprocess provider (what `configure pip` sets) and uv both run `keyring` from PATH.
        return _keyring_on_path_problem(tool)
    if tool == "poetry":
        return _own_environment_problem("poetry", f"poetry self add {install_source()}")
    if tool == "twine":
        return _own_environment_problem("twine", f"pipx inject twine {install_source()}, or pip install "
                                                 f"{install_source()} beside twine")
    if tool == "pdm":
        # pdm imports keyring from its own environment when it can, else runs the one on PATH.
        own = _own_environment_problem("pdm", f"pdm self add keyring {install_source()}")
        if own is None or _keyring_on_path_problem("pdm") is None:
            return None
        return own
    raise ValueError(tool)
