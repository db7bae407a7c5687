"""Reading a file a user names without trusting what is there, and the one way to say why it could
not be read: a regular file only, opened without blocking (a FIFO planted at the name must not hang
a lookup), never more than a bound, and never a name that is itself a credential."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .cachedir import is_private
from .redact import key_material

# Never wait on open (a FIFO planted at the name would block until a writer came), and never leak
# the descriptor into a program a lookup starts.
NO_WAIT = getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


class NotARegularFileError(OSError):
    """A FIFO, a device or a folder where a file belongs."""

    def __init__(self, folder: bool = False) -> None:
        super().__init__(errno.EINVAL, "not a regular file")
        self.folder = folder


def read_regular_file(path: Path | str, limit: int, flags: int = 0, *, private: bool = False) -> bytes:
    """At most `limit + 1` bytes of the regular file at `path`, so that a caller tells a file over
    `limit` by its length. Symlinks are followed (Docker and Kubernetes mount secrets through them)
    unless `flags` has O_NOFOLLOW. OSError when it cannot be opened or read, NotARegularFileError
    when it is no regular file; with `private`, PermissionError unless it is ours and closed to others."""
    try:
        fd = os.open(path, os.O_RDONLY | NO_WAIT | flags)
    except PermissionError:
        # Windows refuses to open a folder with "permission denied": no permission makes it a file.
        if Path(path).is_dir():
            raise NotARegularFileError(folder=True) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFileError(folder=stat.S_ISDIR(info.st_mode))
        if private and not is_private(info):
            raise PermissionError(errno.EACCES, "not a private file of ours")
        return os.read(fd, limit + 1)
    finally:
        os.close(fd)


class FileTooLargeError(OSError):
    """More than the bound that fits the file: not the file it should be (`/dev/zero` behind a link)."""

    def __init__(self, limit: int) -> None:
        size = f"{limit // 1024} KiB" if limit >= 1024 else f"{limit} bytes"
        super().__init__(errno.EFBIG, f"larger than {size}")


class CredentialAsPathError(OSError):
    """The name itself is a credential (a JWT, a token, a key): it is never opened."""

    def __init__(self, shape: str) -> None:
        super().__init__(errno.EINVAL, f"the name is {shape}, not a path")


class NotTextError(OSError):
    def __init__(self) -> None:
        super().__init__(errno.EILSEQ, "not UTF-8 text")


def expanded(path: Path) -> Path:
    """`~` expanded; a `~user` for a user that does not exist stays as it is, so it is then not found
    (expanduser raises RuntimeError, which a lookup would report as our own fault)."""
    try:
        return path.expanduser()
    except RuntimeError:
        return path


def read_named_file(path: Path | str, limit: int) -> bytes:
    """The whole regular file at `path` (read as read_regular_file does), refused with an OSError
    whose `file_problem` says why: a name that is itself a credential is never opened, and a file
    over `limit` bytes is not read further."""
    shape = key_material(str(path))
    if shape is not None:
        raise CredentialAsPathError(shape)
    data = read_regular_file(path, limit)
    if len(data) > limit:
        raise FileTooLargeError(limit)
    return data


def read_named_text(path: Path | str, limit: int) -> str:
    """read_named_file, decoded: NotTextError when it is not UTF-8."""
    try:
        return read_named_file(path, limit).decode("utf-8")
    except UnicodeDecodeError:
        raise NotTextError from None


def file_problem(exc: OSError, fix: str = "") -> str:
    """Why a file could not be read, to follow its name in a message (`does not exist`, `is not a
    regular file (...)`...), then the fix: the cause's own (permissions, a broken path) or `fix`.
    Never the file's content, never the name."""
    own_fix = ""
    if isinstance(exc, NotARegularFileError):
        problem = "is a directory, not a file" if exc.folder else "is not a regular file (a FIFO or a device)"
    elif isinstance(exc, (FileTooLargeError, CredentialAsPathError)):
        problem = f"is refused: {exc.strerror}"
    elif isinstance(exc, NotTextError):
        problem = "is not UTF-8 text"
    elif isinstance(exc, NotADirectoryError):
        problem, own_fix = "does not exist (a folder in its path is a file)", "fix the path"
    elif isinstance(exc, FileNotFoundError):
        problem = "does not exist"
    elif isinstance(exc, PermissionError):
        problem, own_fix = "cannot be read (permission denied)", "make it readable for this user"
    elif exc.errno == errno.ENAMETOOLONG:
        problem = "is too long to be a path"
    else:
        problem = f"cannot be read ({exc.strerror or type(exc).__name__})"
    fix = own_fix or fix
    return f"{problem}; {fix}" if fix else problem
