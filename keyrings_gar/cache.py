"""The token cache: one small file per identity, shared by every process of the user, plus memory.

Installers start a fresh `keyring` process for every index, realm and retry; without a shared
cache each of them would mint a token. A lock around minting (re-checked after it is taken)
makes N processes that start cold together mint once between them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, NamedTuple

from .tokens import AccessToken

log = logging.getLogger("keyrings_gar")

# A token is handed out only while this much of its life is left, so that an install never
# carries it past its expiry: uv and poetry keep the first answer for their whole run and never
# ask again (pip re-asks after a 401). 15 minutes covers long builds at the cost of one more
# grant per hour; it is well above google-auth's own refresh threshold (3 min 45 s).
MIN_REMAINING_SECONDS = 900.0
_FORMAT_VERSION = 1

_memory: dict[str, AccessToken] = {}


class CachedEntry(NamedTuple):
    """What `cache show` lists: never the token itself."""

    path: Path
    identity: str
    expiry: float


def _usable(token: AccessToken | None) -> AccessToken | None:
    """`token` if it has enough life left to hand out, else None."""
    return token if token is not None and token.remaining() >= MIN_REMAINING_SECONDS else None


class TokenCache:
    """Tokens by identity key, in memory and (when `directory` is not None) on disk."""

    def __init__(self, directory: Path | None, lock_timeout: float = 30.0) -> None:
        self.directory = directory
        self.lock_timeout = lock_timeout

    def get_or_mint(self, key: str, identity: str, mint: Callable[[], AccessToken]) -> AccessToken:
        """A token for `key` with at least MIN_REMAINING_SECONDS left, minting one if needed."""
        token = _usable(_memory.get(key))
        if token is None:
            token = self._get_shared(key, identity, mint)
        _memory[key] = token
        return token

    def _get_shared(self, key: str, identity: str, mint: Callable[[], AccessToken]) -> AccessToken:
        if self.directory is None:
            return mint()
        path = self.directory / f"{key[:32]}.json"
        token = _usable(_read(path))
        if token is not None:
            return token
        try:
            _ensure_private_directory(self.directory)
            lock = _acquire_lock(path.with_suffix(".lock"), self.lock_timeout)
        except OSError as exc:
            log.debug("token cache %s not usable (%s); token not cached", self.directory, exc.strerror or exc)
            return mint()
        try:
            # Another process may have minted while we waited for the lock.
            token = _usable(_read(path))
            if token is not None:
                return token
            token = mint()
            try:
                _write(path, token, identity)
            except OSError as exc:
                log.debug("cannot write token cache %s (%s); token not cached", path, exc.strerror or exc)
            return token
        finally:
            os.close(lock)  # closing the descriptor releases the lock

    def entries(self) -> list[CachedEntry]:
        """Every cached identity, for `keyrings-gar cache show`."""
        if self.directory is None or not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.glob("*.json")):
            data = _read_json(path)
            if data is not None:
                expiry = data.get("expiry")
                found.append(CachedEntry(path, str(data.get("identity", "?")),
                                         float(expiry) if isinstance(expiry, (int, float)) else 0.0))
        return found

    def clear(self) -> int:
        """Remove every cached token (files and memory); returns how many files went."""
        _memory.clear()
        if self.directory is None or not self.directory.is_dir():
            return 0
        removed = 0
        for path in self.directory.glob("*.json"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
        return removed


def _ensure_private_directory(directory: Path) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(directory)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise OSError(f"{directory} is not a plain directory")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise OSError(f"{directory} belongs to another user")
    if sys.platform != "win32" and info.st_mode & 0o077:
        directory.chmod(0o700)


def _read_json(path: Path) -> dict[str, object] | None:
    """A cache file's content if it is ours, private, a regular file and well-formed; else None."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > 65536:
            return None
        if hasattr(os, "getuid") and (info.st_uid != os.getuid() or info.st_mode & 0o077):
            return None
        with os.fdopen(fd, "rb") as file:
            fd = -1
            data = json.loads(file.read().decode("utf-8"))
    except (OSError, ValueError):
        return None
    finally:
        if fd >= 0:
            os.close(fd)
    if not isinstance(data, dict) or data.get("version") != _FORMAT_VERSION:
        return None
    return data


def _read(path: Path) -> AccessToken | None:
    data = _read_json(path)
    if data is None:
        return None
    token, expiry = data.get("token"), data.get("expiry")
    if not isinstance(token, str) or not token or not isinstance(expiry, (int, float)):
        return None
    return AccessToken(token, float(expiry))


def _write(path: Path, token: AccessToken, identity: str) -> None:
    _write_json(path, {"version": _FORMAT_VERSION, "identity": identity, "expiry": token.expiry,
                       "token": token.value})


def _write_json(path: Path, data: dict[str, object]) -> None:
    """Atomically: a private temporary file in the same folder, then a rename over the old one
    (which also replaces a symlink planted there instead of writing through it)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(data, file)
        Path(temporary).chmod(0o600)
        Path(temporary).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temporary).unlink()
        raise


def _acquire_lock(path: Path, wait: float) -> int:
    """An exclusive lock on `path` across processes (fcntl on POSIX, msvcrt on Windows); the
    descriptor to close to release it. Waits at most `wait` seconds: a stuck holder must not
    hang every install queued behind it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    deadline = time.monotonic() + wait
    while not _try_lock(fd):
        if time.monotonic() > deadline:
            os.close(fd)
            raise OSError(f"timed out waiting for the lock {path}")
        time.sleep(0.01)
    return fd


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
