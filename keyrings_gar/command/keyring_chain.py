"""Which keyring backend answers: keyring's chain, whether keyrings.gar is in it and viable, where
Google's own plugin sits, and which `keyring` command installers on PATH would run.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import keyring
from keyring.backends.chainer import ChainerBackend
from keyring.util import platform_

from ..backend import GarKeyring
from ..redact import describe, scrubbed
from .environments import script_interpreter, uninstall_command
from .installer_settings import install_hint

GOOGLE_PLUGIN_DISTRIBUTION = "keyrings.google-artifactregistry-auth"
GOOGLE_PLUGIN_MODULE = "keyrings.gauth"

Report = dict[str, Any]


def keyring_chain_report(problems: list[str], notes: list[str]) -> Report:
    configured = (describe("PYTHON_KEYRING_BACKEND", os.environ["PYTHON_KEYRING_BACKEND"])
                  if os.environ.get("PYTHON_KEYRING_BACKEND")
                  else f"default-keyring in {Path(platform_.config_root()) / 'keyringrc.cfg'}")
    plugin_installed = installed_version(GOOGLE_PLUGIN_DISTRIBUTION) is not None
    try:
        active = keyring.get_keyring()
    except Exception as exc:  # noqa: BLE001 - keyring's own start-up failing is the diagnosis itself
        # keyring's message may quote PYTHON_KEYRING_BACKEND's value: scrubbed of anything secret-like.
        message = scrubbed(str(exc), 120)
        problems.append(f"keyring itself cannot start ({type(exc).__name__}: {message}); fix or remove {configured}")
        return {"active": None, "chain": [], "keyrings_gar": {"loaded": False, "viable": False, "priority": None,
                                                              "problem": None},
                "google_plugin": {"installed": plugin_installed, "in_chain": False},
                "answers_first": None, "keyring_on_path": shutil.which("keyring"),
                "keyring_on_path_is_this_environment": False}
    chain = list(active.backends) if isinstance(active, ChainerBackend) else [active]
    try:
        viable, gar_priority, why = True, float(GarKeyring.priority), None
    except Exception as exc:  # noqa: BLE001 - keyring's own viability test: priority raises when not viable
        viable, gar_priority, why = False, None, str(exc)
    gar_index = next((i for i, b in enumerate(chain) if isinstance(b, GarKeyring)), None)
    google_index = next((i for i, b in enumerate(chain) if type(b).__module__ == GOOGLE_PLUGIN_MODULE), None)
    if not viable:
        problems.append(f"keyrings.gar cannot run here ({why}); `pip install google-auth` in keyring's environment")
    elif gar_index is None:
        problems.append(f"keyring uses {_backend_name(active)} alone ({configured}), so it never asks "
                        "keyrings.gar; remove that setting to let keyring chain its backends")
    placed = sorted((i, name) for i, name in ((gar_index, "keyrings.gar"), (google_index, GOOGLE_PLUGIN_DISTRIBUTION))
                    if i is not None)
    first = placed[0][1] if placed else None
    if google_index is not None:
        has_pip = importlib.util.find_spec("pip") is not None  # in this environment, keyring's here
        # A problem, not a note: the message says why.
        problems.append(f"Google's {GOOGLE_PLUGIN_DISTRIBUTION} is installed too: keyring asks it whenever "
                        "keyrings.gar has no answer, and it hands a token to any *.pkg.dev URL (http:// too) or "
                        "raises, turning keyring off for the rest of a pip run; remove it: "
                        f"`{uninstall_command(Path(sys.executable), GOOGLE_PLUGIN_DISTRIBUTION, has_pip=has_pip)}`")
    keyring_command = shutil.which("keyring")
    same = keyring_command is not None and script_interpreter(Path(keyring_command)) == Path(sys.executable)
    if keyring_command is None:
        notes.append(f"no `keyring` command on PATH: pip's subprocess provider and uv need one ({install_hint()})")
    elif not same:
        notes.append(f"the `keyring` on PATH ({keyring_command}) runs in another environment than this command; "
                     "check that `keyring --list-backends` there shows keyrings_gar.backend.GarKeyring")
    return {
        "active": _backend_name(active),
        "chain": [{"backend": _backend_name(b), "priority": float(b.priority)} for b in chain],
        "keyrings_gar": {"loaded": gar_index is not None, "viable": viable, "priority": gar_priority,
                         "problem": why},
        "google_plugin": {"installed": google_index is not None or plugin_installed,
                          "in_chain": google_index is not None},
        "answers_first": first,
        "keyring_on_path": keyring_command,
        "keyring_on_path_is_this_environment": same,
    }


def _backend_name(backend: object) -> str:
    kind = type(backend)
    return f"{kind.__module__}.{kind.__qualname__}"


def installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
