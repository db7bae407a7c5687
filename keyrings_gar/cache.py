"""The token cache: one small file per identity, shared by every process of the user, plus memory.

Installers start a fresh `keyring` process for every index, realm and retry; without a shared
cache each of them would mint a token. A lock around minting (re-checked after it is taken)
makes N processes that start cold together mint once between them.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, NamedTuple

from ._privatefiles import (
    acquire_lock,
    cache_file,
    cache_files,
    ensure_private_directory,
    read_json,
    release_lock,
    remove_cache_files,
    write_json,
)
from .access_token import AccessToken

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
FORMAT_VERSION = 1


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
    if held is None:
        return None
    lifetime = None if held.obtained is None else held.token.expiry - held.obtained
    return held if held.token.remaining() >= reuse_margin(lifetime) else None


def _minted(mint: Callable[[], AccessToken]) -> HeldToken:
    token = mint()
    now = time.time()
    latest = now + MAX_LIFETIME_SECONDS
    return HeldToken(token if token.expiry <= latest else AccessToken(token.value, latest), now)


class TokenCache:
    """Tokens by identity key, in memory and (when `directory` is not None) on disk."""

    def __init__(self, directory: Path | None, lock_timeout: float = 30.0) -> None:
        self.directory = directory
        self.lock_timeout = lock_timeout

    def get_or_mint(self, key: str, identity: str, mint: Callable[[], AccessToken], source: str) -> AccessToken:
        """A token for `key` with its reuse margin left (see reuse_margin), minting one if needed;
        `identity` and `source` (safe to print) are what `cache show` lists for it."""
        held = _usable(_memory.get(key))
        if held is None:
            held = _memory[key] = self._get_shared(key, identity, mint, source)
        return held.token

    def _get_shared(self, key: str, identity: str, mint: Callable[[], AccessToken], source: str) -> HeldToken:
        if self.directory is None:
            return _minted(mint)
        path = cache_file(self.directory, key)
        held = _usable(_read(path))
        if held is not None:
            return held
        try:
            ensure_private_directory(self.directory)
            lock = acquire_lock(path.with_suffix(".lock"), self.lock_timeout)
        except OSError as exc:
            log.debug("token cache %s not usable (%s); token not cached", self.directory, exc.strerror or exc)
            return _minted(mint)
        try:
            # Another process may have minted while we waited for the lock.
            held = _usable(_read(path))
            if held is not None:
                return held
            held = _minted(mint)
            try:
                write_json(path, {"version": FORMAT_VERSION, "identity": identity, "source": source,
                                  "expiry": held.token.expiry, "obtained": held.obtained, "token": held.token.value})
            except OSError as exc:
                log.debug("cannot write token cache %s (%s); token not cached", path, exc.strerror or exc)
            return held
        finally:
            release_lock(lock)

    def entries(self) -> list[CachedEntry]:
        """Every cached identity, for `keyrings-gar cache show`."""
        found = []
        for path in cache_files(self.directory):
            # Through the same checks as a lookup: a FIFO or another user's file is not listed.
            data = read_json(path, FORMAT_VERSION)
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


def _too_far_out(expiry: float) -> bool:
    return expiry > time.time() + MAX_LIFETIME_SECONDS


def _read(path: Path) -> HeldToken | None:
    data = read_json(path, FORMAT_VERSION)
    if data is None:
        return None
    token, expiry, obtained = data.get("token"), data.get("expiry"), data.get("obtained")
    if not isinstance(token, str) or not token or not isinstance(expiry, (int, float)) or _too_far_out(expiry):
        return None
    # A receipt time after the expiry, or in the future, is no receipt of ours: the plain margin.
    if not isinstance(obtained, (int, float)) or obtained > min(float(expiry), time.time() + 1.0):
        obtained = None
    return HeldToken(AccessToken(token, float(expiry)), None if obtained is None else float(obtained))
