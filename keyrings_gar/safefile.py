"""Reading a file a user names without trusting what is there: a regular file only, opened without
blocking (a FIFO planted at the name must not hang a lookup), and never more than a bound."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class NotARegularFileError(OSError):
    """A FIFO, a device or a folder where a file belongs."""

    def __init__(self) -> None:
        super().__init__(errno.EINVAL, "not a regular file")


def read_regular_file(path: Path | str, limit: int) -> bytes:
    """At most `limit + 1` bytes of the regular file at `path`, so that a caller tells a file over
    `limit` by its length. Symlinks are followed: Docker and Kubernetes mount secrets through them.
    OSError when it cannot be opened or read; NotARegularFileError when it is no regular file."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotARegularFileError
        return os.read(fd, limit + 1)
    finally:
        os.close(fd)


class FileTooLargeError(OSError):
    """More than the bound that fits the file: not the file it should be (`/dev/zero` behind a link)."""

    def __init__(self, limit: int) -> None:
        super().__init__(errno.EFBIG, f"larger than {_size(limit)}")
        self.limit = limit


class CredentialAsPathError(OSError):
    """The name itself is a credential (a JWT, a token, a key): it is never opened."""

    def __init__(self, shape: str) -> None:
        super().__init__(errno.EINVAL, f"the name is {shape}, not a path")


def read_named_file(path: Path | str, limit: int) -> bytes:
    """The whole regular file at `path` (read as read_regular_file does), refused with an OSError
    whose `file_problem` says why: a name that is itself a credential is never opened, and a file
    over `limit` bytes is not read further."""
    from .redact import key_material  # only for files users name, never on a lookup that is not ours

    shape = key_material(str(path))
    if shape is not None:
        raise CredentialAsPathError(shape)
    data = read_regular_file(path, limit)
    if len(data) > limit:
        raise FileTooLargeError(limit)
    return data


def file_problem(exc: OSError) -> str:
    """Why a file could not be read, to follow its name in a message: `does not exist`, `is not a
    regular file (...)`, ... Never the file's content, never the name."""
    if isinstance(exc, NotARegularFileError):
        return "is not a regular file (a FIFO, a device or a folder)"
    if isinstance(exc, (FileTooLargeError, CredentialAsPathError)):
        return f"is refused: {exc.strerror}"
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        return "does not exist"
    if isinstance(exc, PermissionError):
        return "cannot be read (permission denied)"
    if exc.errno == errno.ENAMETOOLONG:
        return "is too long to be a path"
    return f"cannot be read ({exc.strerror or type(exc).__name__})"


def _size(limit: int) -> str:
    return f"{limit // 1024} KiB" if limit >= 1024 else f"{limit} bytes"
