"""The files installers read their configuration from: where pip's user file is, and reading and
replacing such a file safely (through the one safe reader; replaced in one step)."""

from __future__ import annotations

import contextlib
import difflib
import os
import secrets
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import EditRefusedError, GarError
from ..redact import showable, shown_path
from ..safefile import NotARegularFileError, file_problem, read_named_text
from .shown import config_line

MAX_CONFIG_BYTES = 1024 * 1024
"""Far above any real pip.conf, .pypirc or pyproject.toml; a bigger file is not one to edit."""


@dataclass(frozen=True)
class FileChange:
    path: Path
    before: str
    after: str
    new_mode: int = 0o666
    """The mode a file created new gets (less the umask): pip, uv, pdm and poetry create theirs
    with a plain open(); twine's ~/.pypirc may hold passwords, so 0600."""
    project: Path | None = None
    """The project folder the file must stay inside (a cloned repository's pyproject.toml)."""

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        """The unified diff, each line of the existing file shown through the redactor (a .pypirc
        or pip.conf beside our lines may hold a password or a token); our own lines hold none."""
        lines = difflib.unified_diff(self.before.splitlines(keepends=True), self.after.splitlines(keepends=True),
                                     fromfile=f"{shown_path(self.path)} (now)",
                                     tofile=f"{shown_path(self.path)} (configured)")
        return "".join(line if line[:1] == "+" else config_line(line) for line in lines)


def read_config(path: Path, project: Path | None = None) -> str:
    """The file's text, "" when it does not exist yet; refused when it is no regular file, too big,
    or not UTF-8 (the one safe reader: a FIFO planted at the name must not hang `configure`), or
    when write_config would refuse to replace it, so that --dry-run refuses what a run would."""
    if not showable(str(path)):
        # Every path configure reads or writes comes through here first, so later messages may name
        # it; a token pasted into PIP_CONFIG_FILE, --file or HOME is never a file name of ours.
        raise EditRefusedError(f"the file to configure ({shown_path(path)}) looks like a key or token, not a "
                               "path: check PIP_CONFIG_FILE, XDG_CONFIG_HOME, HOME and --file")
    _refuse_unsafe_target(path, project)
    try:
        return read_named_text(path, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise EditRefusedError(f"{path} {file_problem(exc, 'fix it, then run this again')}") from None


def _refuse_unsafe_target(path: Path, project: Path | None) -> None:
    """EditRefusedError when `configure` will not replace the file at `path`. A cloned project
    controls every name in its folder: a link there may point at ~/.bashrc, a hard link shares the
    file with another name, and a file or folder of another user's (`sudo keyrings-gar configure`)
    must not become root's."""
    if project is not None:
        real, inside = Path(os.path.realpath(path)), Path(os.path.realpath(project))
        if real != inside and inside not in real.parents:
            raise EditRefusedError(f"{path} resolves outside the project folder {project}: configure writes only "
                                   "inside it")
    status = _lstat(path)
    if status is not None:
        if stat.S_ISLNK(status.st_mode):
            raise EditRefusedError(f"{path} is a symbolic link, and configure writes no file through a link: edit "
                                   "the file it points to by hand, or replace the link with that file")
        if not stat.S_ISREG(status.st_mode):
            kind = NotARegularFileError(folder=stat.S_ISDIR(status.st_mode))
            raise EditRefusedError(f"{path} {file_problem(kind, 'remove it, then run this again')}")
        if status.st_nlink > 1:
            raise EditRefusedError(f"{path} has {status.st_nlink} hard links, and configure would change every one "
                                   "of them: edit it by hand, or make it a file of its own (cp, then mv over it)")
    # The folder too: the temporary file is created there, and a folder of another user's (through
    # a symlinked parent) is where that user can swap names under us.
    _refuse_foreign(path.parent, _nearest_folder(path.parent))
    _refuse_foreign(path, status)


def _refuse_foreign(shown: Path, status: os.stat_result | None) -> None:
    running = os.geteuid() if hasattr(os, "geteuid") else None  # Windows has no owner to compare
    if running is None or status is None or status.st_uid == running:
        return
    if status.st_uid == 0 and stat.S_ISDIR(status.st_mode):
        return  # a system folder (/etc): nobody but root can plant anything there
    raise EditRefusedError(f"{shown} belongs to another user (uid {status.st_uid}), not the one running configure "
                           f"(uid {running}): run configure as that user, not with sudo")


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _nearest_folder(folder: Path) -> os.stat_result | None:
    """The folder a new file goes into, or its nearest existing ancestor, through any symlink:
    whose the file will be."""
    for each in (folder, *folder.parents):
        try:
            return each.stat()
        except (FileNotFoundError, NotADirectoryError):
            continue
    return None


def write_config(change: FileChange) -> None:
    """Replace the file as a package manager does: a temporary file created new (never through a
    name someone planted) in the same folder with the target's mode from the start, written,
    synced and renamed over the target in one step, then the folder synced. On any failure the
    target is as it was and the temporary file gone. EditRefusedError, one line, when the target
    is one configure does not replace (_refuse_unsafe_target) or changed since it was read."""
    path = change.path
    _refuse_unsafe_target(path, change.project)
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)  # as pip's ensure_dir does
        existing = _lstat(path)
        if (read_config(path, change.project) if existing is not None else "") != change.before:
            raise EditRefusedError(f"{path} changed while configure was reading it; run this again")
        mode = stat.S_IMODE(existing.st_mode) if existing is not None else change.new_mode
        _replace(path, change.after.encode("utf-8"), mode, existing)
    except OSError as exc:
        raise EditRefusedError(f"cannot write {path}: {exc.strerror or type(exc).__name__}; it is unchanged") from None
    _sync_folder(folder)


_CREATE_NEW = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
               | getattr(os, "O_BINARY", 0))


def _replace(path: Path, data: bytes, mode: int, expected: os.stat_result | None) -> None:
    # A random name, created new: a name planted in the folder (a link to ~/.bashrc, a FIFO) is
    # never opened, and the file is never more readable than `mode`, not even for a moment.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.keyrings-gar-new")
    fd = os.open(temporary, _CREATE_NEW, mode)
    try:
        try:
            if expected is not None and hasattr(os, "fchmod"):
                os.fchmod(fd, mode)  # the umask took bits the existing file has (never adds any)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        _still_the_same(path, expected)
        temporary.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def _still_the_same(path: Path, expected: os.stat_result | None) -> None:
    """The rename replaces whatever is at the name then: it must still be the file checked and read."""
    now = _lstat(path)
    if (now is None) != (expected is None) or (now is not None and expected is not None and (
            (now.st_dev, now.st_ino) != (expected.st_dev, expected.st_ino))):
        raise EditRefusedError(f"{path} was replaced while configure was writing it; run this again")


def _sync_folder(folder: Path) -> None:
    """The rename is durable once the folder is synced (not possible, nor needed, on Windows)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def line_ending(text: str) -> str:
    """The line ending the file's first line uses: lines `configure` adds use it too (a CRLF file
    edited on Windows stays CRLF)."""
    return "\r\n" if text.split("\n", 1)[0].endswith("\r") and "\n" in text else "\n"


def comment_lines(comment: str, indent: str = "") -> str:
    """A comment `configure` adds above its lines (in INI and TOML alike), one line each, at `indent`."""
    return "".join(f"{indent}{line}\n" for line in comment.splitlines())


def _config_home() -> Path:
    """Where platformdirs puts a user's configuration on Windows (roaming) and Linux."""
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    return Path(os.environ.get("XDG_CONFIG_HOME", "").strip() or Path.home() / ".config")


def pip_config_file() -> Path:
    """The file `pip config --user` edits on this platform, or PIP_CONFIG_FILE when set."""
    named = os.environ.get("PIP_CONFIG_FILE")
    if named:
        if named == os.devnull:
            raise GarError(f"PIP_CONFIG_FILE={os.devnull}: pip reads no configuration file; unset it, or "
                           "pass --file")
        return Path(named).expanduser()
    if sys.platform == "win32":
        return _config_home() / "pip" / "pip.ini"
    legacy_mac = Path.home() / "Library" / "Application Support" / "pip"
    if sys.platform == "darwin" and legacy_mac.is_dir():  # pip keeps using this folder where it exists
        return legacy_mac / "pip.conf"
    return _config_home() / "pip" / "pip.conf"


def poetry_config_file() -> Path:
    """poetry's config.toml (`poetry config` writes it): in POETRY_CONFIG_DIR when set, else in
    platformdirs' user config folder for `pypoetry`, as poetry's locations.py finds it."""
    named = os.environ.get("POETRY_CONFIG_DIR")
    if named:
        return Path(named) / "config.toml"
    folder = Path.home() / "Library" / "Application Support" if sys.platform == "darwin" else _config_home()
    return folder / "pypoetry" / "config.toml"
