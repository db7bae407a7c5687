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
