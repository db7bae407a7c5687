"""Programs a lookup runs (gcloud, a workload identity federation helper): found in absolute PATH
entries only, and run under a deadline with their output bounded.

The current directory (searched first by `shutil.which` on Windows, and meant by an empty or
relative PATH entry on POSIX) is where a cloned repository can plant a program that would then run
on every lookup. A program may leave a child holding its output open (a `setsid` daemon), which no
kill of its process group reaches: the output is read by threads that are abandoned at the
deadline, never waited for.
"""

from __future__ import annotations

import contextlib
import ntpath
import os
import posixpath
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import subprocess

# Windows' own default when PATHEXT is unset.
_DEFAULT_PATHEXT = ".COM;.EXE;.BAT;.CMD"
# Once the program has exited, what it printed is in the pipe already; whatever still holds the
# pipe open after this long is a child it left behind, not the answer.
EXITED_GRACE_SECONDS = 0.5
# How long to wait for the reading threads after the end: only a left-behind child keeps one busy.
_READERS_GRACE_SECONDS = 0.2
_POLL_SECONDS = 0.05


class ProgramTimeoutError(Exception):
    """The program did not finish by the deadline; it has been killed."""


class OutputTooLargeError(Exception):
    """The program printed more than the limit on one of its pipes; it has been killed."""


class Finished(NamedTuple):
    stdout: bytes
    stderr: bytes
    returncode: int


def find_executable(name: str, environ: Mapping[str, str] = os.environ,
                    platform: str = sys.platform) -> str | None:
    """`name` from the first absolute PATH entry that has it, never from the current directory."""
    return next((candidate for candidate in executable_candidates(name, environ, platform)
                 if Path(candidate).is_file() and (platform == "win32" or os.access(candidate, os.X_OK))), None)


def executable_candidates(name: str, environ: Mapping[str, str], platform: str) -> Iterator[str]:
    """The paths `find_executable` tries, in order: each absolute PATH entry, and on Windows each
    PATHEXT extension there (gcloud is `gcloud.cmd`). Empty and relative entries are skipped, since
    both mean the current directory; so is the current directory Windows itself searches first."""
    windows = platform == "win32"
    path = environ.get("PATH") if "PATH" in environ or not windows else environ.get("Path")
    entries = (os.defpath if path is None else path).split(";" if windows else ":")
    names = [name]
    if windows:
        extensions = environ.get("PATHEXT") or _DEFAULT_PATHEXT
        names = [name + ext.strip() for ext in extensions.split(";") if ext.strip().startswith(".")]
    for raw_entry in entries:
        # Windows tolerates quotes and spaces around an entry; on POSIX they are part of the name.
        entry = raw_entry.strip().strip('"') if windows else raw_entry
        if not _is_absolute(entry, windows):
            continue
        for each in names:
            yield ntpath.join(entry, each) if windows else posixpath.join(entry, each)


def _is_absolute(entry: str, windows: bool) -> bool:
    if not windows:
        return entry.startswith("/")
    # A drive and a root (C:\x) or a UNC share (\\server\share\x); not `\x` or `C:x`, which
    # depend on the current drive or its current directory.
    drive, rest = ntpath.splitdrive(entry)
    return bool(drive) and (rest[:1] in ("\\", "/") or drive[:2] in ("\\\\", "//"))


def run_bounded(argv: list[str], timeout: float, limit: int, env: Mapping[str, str] | None = None, *,
                keep_stderr: bool = True) -> Finished:
    """Run `argv` with no input; its output once it has exited, each pipe at most `limit` bytes
    (stderr empty and unread unless `keep_stderr`).

    `communicate()` would keep everything a runaway program prints and wait for every holder of
    its pipes; here it is killed as soon as either pipe says too much, or at the deadline. OSError
    when it cannot be started; ProgramTimeoutError or OutputTooLargeError.
    """
    # Here for start-up time (4.8 ms where keyring has not loaded it): only a cold lookup starts a program.
    import subprocess

    # A session of its own, so that a kill ends its children too, not only the program.
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE if keep_stderr else subprocess.DEVNULL,
                               env=None if env is None else dict(env), start_new_session=True)
    deadline = time.monotonic() + timeout
    output = _BoundedOutput([pipe for pipe in (process.stdout, process.stderr) if pipe is not None], limit)
    problem = output.wait(deadline, process)
    if problem is None:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            problem = ProgramTimeoutError
    if problem is not None:
        _kill(process)
    output.close()
    if problem is not None:
        raise problem
    return Finished(output.text(0), output.text(1) if keep_stderr else b"", process.returncode)


class _BoundedOutput:
    """Each pipe drained by its own thread (pipes cannot be polled on Windows), up to the limit."""

    def __init__(self, pipes: list[IO[bytes]], limit: int) -> None:
        self._pipes = pipes
        self._limit = limit
        self._buffers = [bytearray() for _ in pipes]
        self._finished = [False for _ in pipes]
        self._abandoned = False
        self._lock = threading.Lock()
        self._changed = threading.Event()
        self._readers = [threading.Thread(target=self._drain, args=(index,), daemon=True,
                                          name="keyrings-gar-program-output") for index in range(len(pipes))]
        for reader in self._readers:
            reader.start()

    def _drain(self, index: int) -> None:
        fd, buffer = self._pipes[index].fileno(), self._buffers[index]
        # os.read returns what is there now, so the bound is checked as the output arrives.
        with contextlib.suppress(OSError):
            while len(buffer) <= self._limit and (chunk := os.read(fd, self._limit + 1 - len(buffer))):
                buffer += chunk
        with self._lock:
            self._finished[index] = True
            abandoned = self._abandoned
        if abandoned:  # close() has gone: the descriptor is ours to close
            self._pipes[index].close()
        self._changed.set()

    def wait(self, deadline: float, process: subprocess.Popen[bytes]) -> type[Exception] | None:
        """None once every pipe is at its end or the program exited a grace ago; else the problem, at once."""
        exited_at: float | None = None
        while True:
            self._changed.clear()
            if any(len(buffer) > self._limit for buffer in self._buffers):
                return OutputTooLargeError
            if all(self._finished):
                return None
            now = time.monotonic()
            if exited_at is None and process.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at >= EXITED_GRACE_SECONDS:
                return None
            if now >= deadline:
                return ProgramTimeoutError
            self._changed.wait(min(deadline - now, _POLL_SECONDS))

    def text(self, index: int) -> bytes:
        return bytes(self._buffers[index][: self._limit + 1])

    def close(self) -> None:
        """Close every pipe whose reader has finished; a reader still held by a left-behind child
        closes its own pipe when that child lets go (never a descriptor a thread may still read)."""
        until = time.monotonic() + _READERS_GRACE_SECONDS
        for reader in self._readers:
            reader.join(max(0.0, until - time.monotonic()))
        with self._lock:
            self._abandoned = True
            finished = list(self._finished)
        for pipe, done in zip(self._pipes, finished):
            if done:
                pipe.close()


def _kill(process: subprocess.Popen[bytes]) -> None:
    import signal  # loaded with subprocess, which run_bounded imports for start-up time

    with contextlib.suppress(OSError):
        if sys.platform == "win32":
            process.kill()
        else:
            os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        process.wait(timeout=5)
