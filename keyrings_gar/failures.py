"""Failure memory: a token source that just failed gives the same answer at once for a while.

With no credentials, pip asks twice per host (the index URL, then the host) and installers retry;
each lookup would pay the metadata probe (1 s) or a hanging gcloud's whole timeout again. So a
failed mint is remembered per token source (the token cache's key: identity and where it was
found) for FAILURE_TTL seconds, in memory and next to the token cache, across processes, with the
cache's safety (private folder, regular files we own, bounded read). Only the one-line message
is stored, and those never hold a secret (see errors.GarError).

Only minting is guarded: a warm lookup answered from the token cache never reads this, and a
fixed ADC file or key is another source (its key changes), so it is tried at once.
`keyrings-gar doctor` mints without it and `keyrings-gar cache clear` forgets it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Callable, NamedTuple, TypeVar

from ._privatefiles import cache_files, ensure_private_directory, read_json, remove_cache_files, write_json
from .errors import GarError, RememberedFailureError
from .redact import censored

log = logging.getLogger("keyrings_gar")

# Long enough to cover one install's lookups and an installer's quick retries; short enough
# that someone who fixes the cause and tries again is rarely told the old answer.
FAILURE_TTL = 30.0
MAX_MESSAGE_CHARS = 1000
FOLDER = "failures"
EXPLAINED_FOLDER = "explained"
"""Where `explained` notes go: beside the failures, never counted or listed as one."""
_VERSION = 1

T = TypeVar("T")


class Failure(NamedTuple):
    failed_at: float
    message: str

    def alive(self, ttl: float, now: float) -> bool:
        # A time in the future (the clock was set back) does not count: better one more try.
        return now - ttl < self.failed_at <= now + 1.0


_memory: dict[str, Failure] = {}


class FailureMemory:
    """Failed token sources by key, in memory and (when `cache_dir` is not None) on disk."""

    def __init__(self, cache_dir: Path | None, ttl: float | None = None, folder: str = FOLDER) -> None:
        self.cache_dir = cache_dir
        self.directory = cache_dir / folder if cache_dir is not None else None
        self.ttl = FAILURE_TTL if ttl is None else ttl

    def guard(self, key: str, attempt: Callable[[], T]) -> T:
        """`attempt()`, unless `key` failed less than `ttl` ago: then that failure again, at once."""
        remembered = self.recall(key)
        if remembered is not None:
            log.debug("token source failed %.0f s ago; not tried again for %.0f s more (`keyrings-gar cache "
                      "clear` forgets it)", time.time() - remembered.failed_at,
                      remembered.failed_at + self.ttl - time.time())
            raise RememberedFailureError(remembered.message)
        try:
            return attempt()
        except GarError as exc:
            self.remember(key, str(exc))
            raise

    def recall(self, key: str) -> Failure | None:
        now = time.time()
        found = _memory.get(key)
        if (found is None or not found.alive(self.ttl, now)) and self.directory is not None:
            found = _read_failure(self._path(self.directory, key))
        return found if found is not None and found.alive(self.ttl, now) else None

    def remember(self, key: str, message: str) -> None:
        # On disk for a while, and shown by `cache show`: through the redactor like every message.
        failure = Failure(time.time(), censored(message)[:MAX_MESSAGE_CHARS])
        _memory[key] = failure
        if self.cache_dir is None or self.directory is None:
            return
        try:
            # The cache folder first: mkdir(parents=True) would not make it private.
            ensure_private_directory(self.cache_dir)
            ensure_private_directory(self.directory)
            write_json(self._path(self.directory, key),
                        {"version": _VERSION, "failed_at": failure.failed_at, "message": failure.message})
        except OSError as exc:
            log.debug("cannot remember the failure in %s (%s)", self.directory, exc.strerror or exc)

    def entries(self) -> list[Failure]:
        """The failures remembered on disk and still in effect, for `keyrings-gar cache show`."""
        now = time.time()
        found = (_read_failure(path) for path in cache_files(self.directory))
        return [failure for failure in found if failure is not None and failure.alive(self.ttl, now)]

    def clear(self) -> int:
        """Forget every failure (files and memory); returns how many files went."""
        _memory.clear()
        return remove_cache_files(self.directory)

    @staticmethod
    def _path(directory: Path, key: str) -> Path:
        return directory / f"{key[:32]}.json"


def note_explained(cache_dir: Path | None, host: str) -> None:
    """Note that a lookup for a URL on `host` failed and its log line said why: pip and uv ask the bare
    host next (in this process, or in a new `keyring` process for their subprocess provider), and
    that refusal need not explain itself again. Kept like a failure, in a folder of its own."""
    memory = FailureMemory(cache_dir, folder=EXPLAINED_FOLDER)
    memory.remember(_explained_key(host), f"a lookup for a URL on {host} failed, and said why")


def was_explained(cache_dir: Path | None, host: str) -> bool:
    """Whether a URL on `host` failed, with its reason logged, within the last FAILURE_TTL seconds."""
    return FailureMemory(cache_dir, folder=EXPLAINED_FOLDER).recall(_explained_key(host)) is not None


def _explained_key(host: str) -> str:
    # A digest, as a token source's key is: the file name says nothing about the host.
    return hashlib.sha256(f"explained\0{host.lower()}".encode()).hexdigest()


def _read_failure(path: Path) -> Failure | None:
    data = read_json(path, _VERSION)
    if data is None:
        return None
    failed_at, message = data.get("failed_at"), data.get("message")
    if not isinstance(failed_at, (int, float)) or not isinstance(message, str) or not message:
        return None
    return Failure(float(failed_at), message[:MAX_MESSAGE_CHARS])
