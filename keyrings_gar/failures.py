"""Failure memory: a token source that just failed gives the same answer at once for a while.

With no credentials, pip asks twice per host (the index URL, then the host) and installers retry;
each lookup would pay the metadata probe (1 s) or a hanging gcloud's whole timeout again. So a
failed mint is remembered per token source (the token cache's key: identity and where it was
found) for FAILURE_TTL seconds, in memory and next to the token cache, across processes, with the
cache's safety (private folder, regular files we own, bounded read). What is stored is the error's
type and what its message is made of, through the redactor, so that a remembered failure is the
same error, shown the same way (messages never hold a secret: see errors.GarError).

Only minting is guarded: a warm lookup answered from the token cache never reads this, and a
fixed ADC file or key is another source (its key changes), so it is tried at once.
`keyrings-gar doctor` mints without it and `keyrings-gar cache clear` forgets it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Callable, NamedTuple, TypeVar, Union

from . import errors
from ._privatefiles import cache_file, cache_files, ensure_private_directory, read_json, remove_cache_files, write_json
from .errors import GarError
from .redact import censored

log = logging.getLogger("keyrings_gar")

# Long enough to cover one install's lookups and an installer's quick retries; short enough
# that someone who fixes the cause and tries again is rarely told the old answer.
FAILURE_TTL = 30.0
MAX_MESSAGE_CHARS = 1000
FOLDER = "failures"
EXPLAINED_FOLDER = "explained"
"""Where `explained` notes go: beside the failures, never counted or listed as one."""
_VERSION = 2

T = TypeVar("T")
Arg = Union[str, int, float]


class Failure(NamedTuple):
    """A failed mint: when, and its error as stored (its type's name in errors.py, args and subject)."""

    failed_at: float
    kind: str
    args: tuple[Arg, ...]
    subject: str | None

    def error(self) -> GarError | None:
        """A new error of the stored type, shown as the first was; None when the record makes none."""
        kind = getattr(errors, self.kind, None)
        try:
            error = kind(*self.args) if isinstance(kind, type) and issubclass(kind, GarError) else None
        except TypeError:
            return None
        if error is not None:
            error.subject = self.subject
        return error

    @property
    def message(self) -> str:
        return str(self.error())

    def left(self, now: float) -> float:
        """Seconds until lookups try this source again."""
        return self.failed_at + FAILURE_TTL - now

    def alive(self, now: float) -> bool:
        # A time in the future (the clock was set back) does not count: better one more try.
        return now - FAILURE_TTL < self.failed_at <= now + 1.0


_memory: dict[str, Failure] = {}


class FailureMemory:
    """Failed token sources by key, in memory and (when `cache_dir` is not None) on disk."""

    def __init__(self, cache_dir: Path | None, folder: str = FOLDER) -> None:
        self.directory = cache_dir / folder if cache_dir is not None else None

    def guard(self, key: str, attempt: Callable[[], T]) -> T:
        """`attempt()`, unless `key` failed less than FAILURE_TTL ago: then that failure again, at once."""
        remembered = self.recall(key)
        error = remembered.error() if remembered is not None else None
        if remembered is not None and error is not None:
            log.debug("token source failed %.0f s ago; not tried again for %.0f s more (`keyrings-gar cache "
                      "clear` forgets it)", time.time() - remembered.failed_at,
                      remembered.left(time.time()))
            raise error
        try:
            return attempt()
        except GarError as exc:
            self.remember(key, exc)
            raise

    def recall(self, key: str) -> Failure | None:
        now = time.time()
        found = _memory.get(key)
        if (found is None or not found.alive(now)) and self.directory is not None:
            found = _read_failure(cache_file(self.directory, key))
        return found if found is not None and found.alive(now) else None

    def remember(self, key: str, error: GarError) -> None:
        # On disk for a while, and shown by `cache show`: through the redactor like every message.
        subject = None if error.subject is None else censored(error.subject)[:MAX_MESSAGE_CHARS]
        failure = Failure(time.time(), type(error).__name__, tuple(_censored(a) for a in error.args), subject)
        _memory[key] = failure
        if self.directory is None:
            return
        try:
            # The cache folder first: mkdir(parents=True) would not make it private.
            ensure_private_directory(self.directory.parent)
            ensure_private_directory(self.directory)
            write_json(cache_file(self.directory, key), {"version": _VERSION, **failure._asdict()})
        except OSError as exc:
            log.debug("cannot remember the failure in %s (%s)", self.directory, exc.strerror or exc)

    def entries(self) -> list[Failure]:
        """The failures remembered on disk and still in effect, for `keyrings-gar cache show`."""
        now = time.time()
        found = (_read_failure(path) for path in cache_files(self.directory))
        return [failure for failure in found if failure is not None and failure.alive(now)]

    def clear(self) -> int:
        """Forget every failure (files and memory); returns how many files went."""
        _memory.clear()
        return remove_cache_files(self.directory)


def note_explained(cache_dir: Path | None, host: str) -> None:
    """Note that a lookup for a URL on `host` failed and its log line said why: pip and uv ask the bare
    host next (in this process, or in a new `keyring` process for their subprocess provider), and
    that refusal need not explain itself again. Kept like a failure, in a folder of its own."""
    memory = FailureMemory(cache_dir, folder=EXPLAINED_FOLDER)
    memory.remember(_explained_key(host), GarError(f"a lookup for a URL on {host} failed, and said why"))


def was_explained(cache_dir: Path | None, host: str) -> bool:
    """Whether a URL on `host` failed, with its reason logged, within the last FAILURE_TTL seconds."""
    return FailureMemory(cache_dir, folder=EXPLAINED_FOLDER).recall(_explained_key(host)) is not None


def _explained_key(host: str) -> str:
    # A digest, as a token source's key is: the file name says nothing about the host.
    return hashlib.sha256(f"explained\0{host.lower()}".encode()).hexdigest()


def _censored(value: Arg) -> Arg:
    return censored(value)[:MAX_MESSAGE_CHARS] if isinstance(value, str) else value


def _read_failure(path: Path) -> Failure | None:
    data = read_json(path, _VERSION)
    if data is None:
        return None
    failed_at, kind, args, subject = (data.get(name) for name in Failure._fields)
    if not isinstance(failed_at, (int, float)) or not isinstance(kind, str) or not isinstance(args, list) \
            or not all(isinstance(a, (str, int, float)) for a in args) or not isinstance(subject, (str, type(None))):
        return None
    failure = Failure(float(failed_at), kind, tuple(_censored(a) for a in args), subject)
    return failure if failure.error() is not None else None
