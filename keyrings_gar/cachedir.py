"""Where tokens are cached: where the OS keeps a user's runtime secrets, never where builds share folders.

Tokens are bearer credentials for up to an hour. `~/.cache` is what CI systems cache whole and what
`RUN --mount=type=cache,target=/root/.cache` shares between Docker builds, so a token kept there
outlives the job or build step that was allowed to mint it. The folders chosen here last no longer
than the user's session or the container:

- Linux and other POSIX systems: `$XDG_RUNTIME_DIR/keyrings-gar` (a tmpfs that logind creates at
  login and removes at logout), if it is a directory of ours that nobody else can enter. Without
  one (containers, CI runners, cron), `/dev/shm/keyrings-gar-<uid>`: memory-backed, private to
  the container (so never in an image layer or a cache mount) and gone at reboot. Without
  either, there is no disk cache: each process mints its own token.
- macOS: the per-user temporary folder (`confstr(_CS_DARWIN_USER_TEMP_DIR)`, which `TMPDIR`
  also names there), a `0700` folder under `/var/folders` that is emptied at reboot.
- Windows: `%LOCALAPPDATA%\\keyrings-gar\\Cache`, which is not roamed to other machines.

`KEYRINGS_GAR_CACHE_DIR` overrides all of this: tokens then live in a `keyrings-gar` folder of our
own inside the one it names, which may be shared (`/tmp` in a Docker build) and is never changed.
The cache itself (cache.py) still checks the folder it is given and every file in it.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

OWN_FOLDER = "keyrings-gar"
"""The folder we create (and may make private and empty) inside a folder the user names."""
# Where memory-backed shared files live on Linux; a module attribute so that tests can move it.
SHARED_MEMORY = Path("/dev/shm")  # noqa: S108 - a per-user folder in it, created 0700 and checked (cache.py)
# <unistd.h> on macOS; os.confstr_names does not list it on every Python.
_CS_DARWIN_USER_TEMP_DIR = 65537


def token_cache_dir(environ: Mapping[str, str], platform: str = sys.platform) -> Path | None:
    """The folder for cached tokens on `platform`; None when there is no safe one (memory only)."""
    if platform == "win32":
        base = environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / OWN_FOLDER / "Cache"
    if platform == "darwin":
        temp = darwin_user_temp_dir() or environ.get("TMPDIR", "")
        return Path(temp) / OWN_FOLDER if _is_private_directory(temp) else None
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    if _is_private_directory(runtime):
        return Path(runtime) / OWN_FOLDER
    if hasattr(os, "getuid") and SHARED_MEMORY.is_dir():
        return SHARED_MEMORY / f"keyrings-gar-{os.getuid()}"
    return None


def darwin_user_temp_dir() -> str | None:
    """macOS's per-user temporary folder, as the OS reports it (not as TMPDIR may have been changed)."""
    confstr = getattr(os, "confstr", None)
    if confstr is None:
        return None
    try:
        value: str | None = confstr(_CS_DARWIN_USER_TEMP_DIR)
    except (OSError, ValueError):
        return None
    return value


def is_mine(info: os.stat_result) -> bool:
    """Whether this user owns what `info` describes (Windows has no owner ids: what is in the user's
    own folders is private by their ACL)."""
    return not hasattr(os, "getuid") or info.st_uid == os.getuid()


def is_private(info: os.stat_result) -> bool:
    """Whether it is this user's and closed to everyone else (on Windows, by its folder's ACL)."""
    return not hasattr(os, "getuid") or (info.st_uid == os.getuid() and not info.st_mode & 0o077)


def _is_private_directory(path: str) -> bool:
    """An absolute path to a real directory (not a link to one) that is ours and closed to others."""
    if not path.startswith("/"):
        return False
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and is_private(info)
