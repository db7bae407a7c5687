"""The token cache: one small file per identity, shared by every process of the user, plus memory.

Installers start a fresh `keyring` process for every index, realm and retry; without a shared
cache each of them would mint a token. A lock around minting (re-checked after it is taken)
makes N processes that start cold together mint once between them.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import re
import stat
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple

from .tokens import AccessToken

log = logging.getLogger("keyrings_gar")

# A token is handed out only while this much of its life is left, so that an install never
# carries it past its expiry: uv and poetry keep the first answer for their whole run and never
# ask again (pip re-asks after a 401). 15 minutes covers long builds at the cost of one more
# grant per hour; it is well above google-auth's own refresh threshold (3 min 45 s).
MIN_REMAINING_SECONDS = 900.0
# A token whose whole life (as we received it) is not much longer than that margin would be reused
# for moments, or never, and every lookup would mint: impersonation with `token_lifetime_seconds:
# 600`, a metadata server token in its last quarter hour. So the margin is at most this share of the
# token's life, min(15 min, half its life): continuous, so that a token of 960 s is reused for 480 s,
# not for 60 s while one of 899 s was for 450 s. No install can be longer than such a token lets it be.
SHORT_LIFE_SHARE = 0.5
# Google issues access tokens for an hour at most (service accounts, users, the metadata server,
# IAM impersonation at its default lifetime). No token is kept for longer than that from when we
# got it, and a file that claims more was not written by us: it is ignored (and replaced), not
# capped, since a capped forgery would still be trusted for up to an hour.
MAX_LIFETIME_SECONDS = 3600.0
_FORMAT_VERSION = 1
_MAX_FILE_BYTES = 65536
# Never follow a link, never wait on open (a FIFO planted at a cache file's name would block
# O_RDONLY until a writer came), never leak the descriptor into gcloud.
_SAFE_OPEN = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)

class HeldToken(NamedTuple):
    """A token and when we received it, which tells how long its whole life was."""

    token: AccessToken
    obtained: float | None
    """None for a cache file written before this was recorded: the plain margin applies."""


_memory: dict[str, HeldToken] = {}


class CachedEntry(NamedTuple):
    """What `cache show` lists: never the token itself."""

    path: Path
    identity: str
    expiry: float
    source: str = ""
    """Where the identity came from (kind and origin), which tells apart entries of one identity;
    "" for a file written before this was recorded."""


def reuse_margin(lifetime: float | None) -> float:
    """How much life a cached token of `lifetime` seconds must have left to be handed out."""
    if lifetime is None:
        return MIN_REMAINING_SECONDS
    return min(MIN_REMAINING_SECONDS, max(0.0, lifetime) * SHORT_LIFE_SHARE)


def _usable(held: HeldToken | None) -> HeldToken | None:
    """`held` if its token has enough life left to hand out, else None."""
    if held is None:
        return None
    lifetime = None if held.obtained is None else held.token.expiry - held.obtained
    return held if held.token.remaining() >= reuse_margin(lifetime) else None


def _capped(token: AccessToken) -> AccessToken:
    """A freshly minted token, trusted for no longer than Google issues them."""
    latest = time.time() + MAX_LIFETIME_SECONDS
    return token if token.expiry <= latest else AccessToken(token.value, latest)


class TokenCache:
    """Tokens by identity key, in memory and (when `directory` is not None) on disk."""

    def __init__(self, directory: Path | None, lock_timeout: float = 30.0) -> None:
        self.directory = directory
        self.lock_timeout = lock_timeout

    def get_or_mint(self, key: str, identity: str, mint: Callable[[], AccessToken], source: str = "") -> AccessToken:
        """A token for `key` with its reuse margin left (see reuse_margin), minting one if needed;
        `identity` and `source` (safe to print) are what `cache show` lists for it."""
        held = _usable(_memory.get(key))
        if held is None:
            held = _memory[key] = self._get_shared(key, identity, mint, source)
        return held.token

    def _get_shared(self, key: str, identity: str, mint_uncapped: Callable[[], AccessToken],
                    source: str = "") -> HeldToken:
        def mint() -> HeldToken:
            token = _capped(mint_uncapped())
            return HeldToken(token, time.time())

        if self.directory is None:
            return mint()
        path = self.directory / f"{key[:32]}.json"
        held = _usable(_read(path))
        if held is not None:
            return held
        try:
            _ensure_private_directory(self.directory)
            lock = _acquire_lock(path.with_suffix(".lock"), self.lock_timeout)
        except OSError as exc:
            log.debug("token cache %s not usable (%s); token not cached", self.directory, exc.strerror or exc)
            return mint()
        try:
            # Another process may have minted while we waited for the lock.
            held = _usable(_read(path))
            if held is not None:
                return held
            held = mint()
            try:
                _write(path, held, identity, source)
            except OSError as exc:
                log.debug("cannot write token cache %s (%s); token not cached", path, exc.strerror or exc)
            return held
        finally:
            _release_lock(lock)

    def entries(self) -> list[CachedEntry]:
        """Every cached identity, for `keyrings-gar cache show`."""
        found = []
        for path in cache_files(self.directory):
            # Through the same checks as a lookup: a FIFO or another user's file is not listed.
            data = _read_json(path)
            if data is not None:
                expiry = data.get("expiry")
                expiry = float(expiry) if isinstance(expiry, (int, float)) else 0.0
                if not _too_far_out(expiry):
                    found.append(CachedEntry(path, str(data.get("identity", "?")), expiry,
                                             str(data.get("source", ""))))
        return found

    def clear(self) -> int:
        """Remove every cached token (files and memory); returns how many files went."""
        _memory.clear()
        return remove_cache_files(self.directory)


# What we name a cache file (tokens and remembered failures alike): a key's first 32 hex digits.
_CACHE_FILE_NAME = re.compile(r"[0-9a-f]{32}\.json")


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
            if stat.S_ISREG(info.st_mode) and (not hasattr(os, "getuid") or info.st_uid == os.getuid()):
                path.unlink()
                removed += 1
    return removed


def _ensure_private_directory(directory: Path, platform: str = sys.platform) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(directory)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise OSError(f"{directory} is not a plain directory")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise OSError(f"{directory} belongs to another user")
    # Windows has no group/other mode bits (chmod there only sets read-only): the user's own
    # %LOCALAPPDATA% is private by its ACL.
    if platform != "win32" and info.st_mode & 0o077:
        directory.chmod(0o700)


def _read_json(path: Path) -> dict[str, object] | None:
    """A cache file's content if it is ours, private, a regular file and well-formed; else None."""
    try:
        fd = os.open(path, os.O_RDONLY | _SAFE_OPEN)
    except OSError:
        return None
    try:
        if not _is_our_private_file(os.fstat(fd)):
            return None
        data = json.loads(_read_bounded(fd).decode("utf-8"))
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    if not isinstance(data, dict) or data.get("version") != _FORMAT_VERSION:
        return None
    return data


def _is_our_private_file(info: os.stat_result) -> bool:
    if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_FILE_BYTES:
        return False
    return not hasattr(os, "getuid") or (info.st_uid == os.getuid() and not info.st_mode & 0o077)


def _read_bounded(fd: int) -> bytes:
    """At most _MAX_FILE_BYTES (the file may grow after fstat); ValueError beyond."""
    data = b""
    while chunk := os.read(fd, _MAX_FILE_BYTES + 1 - len(data)):
        data += chunk
        if len(data) > _MAX_FILE_BYTES:
            raise ValueError("cache file too large")
    return data


def _too_far_out(expiry: float) -> bool:
    return expiry > time.time() + MAX_LIFETIME_SECONDS


def _read(path: Path) -> HeldToken | None:
    data = _read_json(path)
    if data is None:
        return None
    token, expiry, obtained = data.get("token"), data.get("expiry"), data.get("obtained")
    if not isinstance(token, str) or not token or not isinstance(expiry, (int, float)) or _too_far_out(expiry):
        return None
    # A receipt time after the expiry, or in the future, is no receipt of ours: the plain margin.
    if not isinstance(obtained, (int, float)) or obtained > min(float(expiry), time.time() + 1.0):
        obtained = None
    return HeldToken(AccessToken(token, float(expiry)), None if obtained is None else float(obtained))


def _write(path: Path, held: HeldToken, identity: str, source: str = "") -> None:
    _write_json(path, {"version": _FORMAT_VERSION, "identity": identity, "source": source,
                       "expiry": held.token.expiry, "obtained": held.obtained, "token": held.token.value})


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


def _acquire_lock(path: Path, wait: float, platform: str = sys.platform) -> int:
    """An exclusive lock on `path` across processes (fcntl on POSIX, msvcrt on Windows); the
    descriptor to hand to _release_lock. Waits at most `wait` seconds: a stuck holder must not
    hang every install queued behind it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | _SAFE_OPEN, 0o600)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
        os.close(fd)
        raise OSError(f"{path} is not a regular file of ours")
    deadline = time.monotonic() + wait
    while not _try_lock(fd, platform):
        if time.monotonic() > deadline:
            os.close(fd)
            raise OSError(f"timed out waiting for the lock {path}")
        time.sleep(0.01)
    return fd


def _release_lock(fd: int, platform: str = sys.platform) -> None:
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


def _try_lock(fd: int, platform: str = sys.platform) -> bool:
    if platform == "win32":
        msvcrt = _msvcrt()
        try:
            # One byte from the file's start (the descriptor never moves), never blocking.
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
