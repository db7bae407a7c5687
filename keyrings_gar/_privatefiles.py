"""Private files in the token cache's folder. The token cache, the failure memory and the
subject-token salt all keep their files here, and `doctor` checks the folder as the cache itself
would use it: one set of rules for all of them.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import stat
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .cachedir import is_mine
from .safefile import NO_WAIT, read_regular_file

# Never follow a link (safefile.NO_WAIT says the rest).
SAFE_OPEN = getattr(os, "O_NOFOLLOW", 0) | NO_WAIT
MAX_FILE_BYTES = 65536
# What we name a cache file (tokens and remembered failures alike): a key's first 32 hex digits.
_CACHE_FILE_NAME = re.compile(r"[0-9a-f]{32}\.json")


def ensure_private_directory(directory: Path, platform: str = sys.platform) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(directory)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise OSError(f"{directory} is not a plain directory")
    if not is_mine(info):
        raise OSError(f"{directory} belongs to another user")
    # Windows has no group/other mode bits (chmod there only sets read-only): the user's own
    # %LOCALAPPDATA% is private by its ACL.
    if platform != "win32" and info.st_mode & 0o077:
        directory.chmod(0o700)


def read_private(path: Path, limit: int = MAX_FILE_BYTES) -> bytes | None:
    """The file's bytes if it is a regular file of ours that others cannot read, of at most
    `limit` bytes; else None."""
    try:
        data = read_regular_file(path, limit, SAFE_OPEN, private=True)
    except OSError:
        return None
    return data if len(data) <= limit else None


def read_json(path: Path, version: int) -> dict[str, object] | None:
    """A cache file's content if it is ours, private, a regular file, well-formed and of `version`."""
    content = read_private(path)
    try:
        data = json.loads(content.decode("utf-8")) if content is not None else None
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("version") == version else None


def cache_file(directory: Path, key: str) -> Path:
    return directory / f"{key[:32]}.json"


def write_json(path: Path, data: dict[str, object]) -> None:
    write_private(path, json.dumps(data).encode("utf-8"))


def write_private(path: Path, data: bytes, once: bool = False) -> None:
    """`data` at `path`, never half-written: written whole in a private temporary file in the same
    folder, then renamed over what is there (which also replaces a symlink planted there instead of
    writing through it), or, when `once`, linked into place unless something is there (the first
    writer wins)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # 0600, and never through a link
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        if once:
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        else:
            Path(temporary).replace(path)
    finally:
        with contextlib.suppress(OSError):
            Path(temporary).unlink()  # already gone when it was renamed


def cache_files(directory: Path | None) -> list[Path]:
    """The files in `directory` named as we name cache files, sorted; anything else there is not ours."""
    if directory is None or not directory.is_dir():
        return []
    return sorted(path for path in directory.iterdir() if _CACHE_FILE_NAME.fullmatch(path.name))


def remove_cache_files(directory: Path | None) -> int:
    """Remove the cache files in `directory` (tokens or remembered failures) that are regular files
    of this user's; how many went. Nothing else there is touched, whatever its name."""
    removed = 0
    for path in cache_files(directory):
        with contextlib.suppress(FileNotFoundError):
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode) and is_mine(info):
                path.unlink()
                removed += 1
    return removed


def acquire_lock(path: Path, wait: float, platform: str = sys.platform) -> int:
    """An exclusive lock on `path` across processes (fcntl on POSIX, msvcrt on Windows); the
    descriptor to hand to release_lock. Waits at most `wait` seconds: a stuck holder must not
    hang every install queued behind it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | SAFE_OPEN, 0o600)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or not is_mine(info):
        os.close(fd)
        raise OSError(f"{path} is not a regular file of ours")
    deadline = time.monotonic() + wait
    while not _try_lock(fd, platform):
        if time.monotonic() > deadline:
            os.close(fd)
            raise OSError(f"timed out waiting for the lock {path}")
        time.sleep(0.01)
    return fd


def release_lock(fd: int, platform: str = sys.platform) -> None:
    """Unlock and close. Closing alone releases an flock at once; a Windows byte-range lock is
    freed on close only "eventually" (Microsoft asks for an explicit unlock first)."""
    try:
        if platform == "win32":
            with contextlib.suppress(OSError):
                _msvcrt().locking(fd, _msvcrt().LK_UNLCK, 1)
    finally:
        os.close(fd)


def _msvcrt() -> Any:
    # typeshed declares msvcrt for Windows only; the tests run the Windows branch with a stand-in.
    return importlib.import_module("msvcrt")


def _try_lock(fd: int, platform: str) -> bool:
    if platform == "win32":
        msvcrt = _msvcrt()
        try:
            # One byte from the file's start (the descriptor never moves), never blocking.
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl  # POSIX only: Windows has none

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
