"""The files installers read their configuration from: where pip's user file is, and reading and
replacing such a file safely (through the one safe reader; replaced in one step)."""

from __future__ import annotations

import difflib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import EditRefusedError, GarError
from ..redact import showable, shown_path
from ..safefile import FileTooLargeError, read_named_file

MAX_CONFIG_BYTES = 1024 * 1024
"""Far above any real pip.conf, .pypirc or pyproject.toml; a bigger file is not one to edit."""


@dataclass(frozen=True)
class FileChange:
    path: Path
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        return "".join(difflib.unified_diff(self.before.splitlines(keepends=True),
                                            self.after.splitlines(keepends=True),
                                            fromfile=f"{self.path} (now)", tofile=f"{self.path} (configured)"))



def read_config(path: Path) -> str:
    """The file's text, "" when it does not exist yet; refused when it is no regular file, too big,
    or not UTF-8 (the one safe reader: a FIFO planted at the name must not hang `configure`)."""
    if not showable(str(path)):
        # Every path configure reads or writes comes through here first, so later messages may name
        # it; a token pasted into PIP_CONFIG_FILE, --file or HOME is never a file name of ours.
        raise EditRefusedError(f"the file to configure ({shown_path(path)}) looks like a key or token, not a "
                               "path: check PIP_CONFIG_FILE, XDG_CONFIG_HOME, HOME and --file")
    try:
        data = read_named_file(path, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        return ""
    except FileTooLargeError:
        raise EditRefusedError(f"{path} is over {MAX_CONFIG_BYTES // 1024} KiB: not a configuration file to edit"
                               ) from None
    except OSError as exc:
        raise EditRefusedError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise EditRefusedError(f"{path} is not UTF-8 text; fix it, then run this again") from None


def write_config(change: FileChange) -> None:
    """Replace the file in one step (a reader never sees half of it), through a symlink to its
    target (dotfile managers link ~/.pypirc), keeping its permissions."""
    target = change.path.resolve() if change.path.is_symlink() else change.path
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.keyrings-gar-new")
    with temporary.open("w", encoding="utf-8", newline="") as file:
        file.write(change.after)
    if target.exists():
        temporary.chmod(target.stat().st_mode & 0o7777)
    temporary.replace(target)



def line_ending(text: str) -> str:
    """The line ending the file's first line uses: lines `configure` adds use it too (a CRLF file
    edited on Windows stays CRLF)."""
    return "\r\n" if text.split("\n", 1)[0].endswith("\r") and "\n" in text else "\n"


def pip_config_file() -> Path:
    """The file `pip config --user` edits on this platform, or PIP_CONFIG_FILE when set."""
    named = os.environ.get("PIP_CONFIG_FILE")
    if named:
        if named == os.devnull:
            raise GarError(f"PIP_CONFIG_FILE={os.devnull}: pip reads no configuration file; unset it, or "
                           "pass --file")
        return Path(named).expanduser()
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming") / "pip" / "pip.ini"
    if sys.platform == "darwin":
        legacy_mac = Path.home() / "Library" / "Application Support" / "pip"
        if legacy_mac.is_dir():  # pip keeps using this folder where it exists
            return legacy_mac / "pip.conf"
    config_home = os.environ.get("XDG_CONFIG_HOME", "").strip() or str(Path.home() / ".config")
    return Path(config_home) / "pip" / "pip.conf"
