"""Which of pip's own settings would win over what `configure pip` writes, read the way pip reads
them (pip/_internal/configuration.py): its files in the order global, user (the legacy
`~/.pip/pip.conf` first, then the file `pip config --user` edits, whose values win), site (the
environment's own pip.conf), then PIP_CONFIG_FILE, then PIP_* variables over every file; and in
each, a command's own section (`[install]`) over `[global]`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import EditRefusedError
from ..redact import shown_path, shown_text
from .ini_edit import ini_values
from .shown import safe_url
from .tool_files import pip_config_file, read_config

WRITTEN = ("index-url", "extra-index-url", "keyring-provider")
"""The options `configure pip` writes in `[global]`."""


def legacy_user_file() -> Path:
    """pip's older per-user file, which it still reads before the one `pip config --user` edits."""
    return Path.home() / ("pip" if sys.platform == "win32" else ".pip") / ("pip.ini" if sys.platform == "win32"
                                                                           else "pip.conf")


def pip_overrides(path: Path, written: set[str]) -> list[str]:
    """One line for each setting that would keep pip from using the options `written` to `path`,
    or that pip would still add beside them."""
    found = [_variable(key, written) for key in WRITTEN]
    legacy = legacy_user_file()
    if not os.environ.get("PIP_CONFIG_FILE") and path == pip_config_file() and path != legacy:
        found.extend(_legacy(legacy, path, written))
    return [line for line in found if line]


def _shown(key: str, values: list[str]) -> str:
    if key == "keyring-provider":
        return " ".join(shown_text(value, "a value") for value in values)
    return " ".join(safe_url(value) for value in values)


def _variable(key: str, written: set[str]) -> str:
    name = "PIP_" + key.upper().replace("-", "_")
    values = os.environ.get(name, "").split()
    if not values:
        return ""
    shown = f"{name}={_shown(key, values)}"
    if key in written:
        return (f"{shown} in the environment overrides the {key} written here (pip takes PIP_* variables over "
                f"every file); unset {name} where it is set")
    if key == "extra-index-url" and "index-url" in written:
        return (f"{shown} in the environment adds indexes beside the only index written here: pip takes the "
                f"highest version from any (dependency confusion); unset {name}")
    return ""


def _legacy(legacy: Path, path: Path, written: set[str]) -> list[str]:
    try:
        text = read_config(legacy)
        values = {(section, key): ini_values(text, section, key, str(legacy))
                  for section in ("global", "install") for key in WRITTEN}
    except EditRefusedError as exc:
        return [f"pip also reads {shown_path(legacy)}, its older user file: {exc}"]
    lines = []
    for (section, key), found in values.items():
        if not found:
            continue
        setting = f"{shown_path(legacy)} sets [{section}] {key} = {_shown(key, found)}"
        if section == "install":
            lines.append(f"{setting}: for `pip install` it wins over [global] in any file, overriding the {key} "
                         f"written here; remove it from {shown_path(legacy)}")
        elif key in written:
            lines.append(f"{setting}: pip reads that older user file first and {shown_path(path)} after it, whose "
                         f"value wins, so that {key} is no longer used; remove it there to keep one place")
        elif key == "extra-index-url" and "index-url" in written:
            lines.append(f"{setting}: pip still reads it and adds those indexes beside the repository written here "
                         "as the only index, taking the highest version from any (dependency confusion); remove it")
    return lines
