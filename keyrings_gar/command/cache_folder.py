"""`doctor`'s and `cache clear`'s check of the token cache's folder: why the cache (see
_privatefiles.py) could not use it, said before it fails, and what that costs."""

from __future__ import annotations

import os
from pathlib import Path

from ..redact import shown_path

CACHE_EFFECT = ("tokens are not cached, so every process mints its own (a request to Google on every "
                "install command); fix the folder or set KEYRINGS_GAR_CACHE_DIR to another one")


def cache_folder_problem(directory: Path) -> str | None:
    """Why tokens cannot be cached in `directory`, as the cache itself would fail; None when they
    can (a folder that does not exist yet is fine when it can be created)."""
    shown = shown_path(directory)
    try:
        existing = directory
        while not existing.exists() and not existing.is_symlink() and existing.parent != existing:
            existing = existing.parent
        if existing.is_symlink() and existing == directory:
            return f"{shown} is a symbolic link, which the cache refuses to follow"
        if not existing.is_dir():
            what = "" if existing == directory else f", so {shown} cannot be created"
            return f"{shown_path(existing)} is a file, not a folder{what}"
        if existing == directory and hasattr(os, "getuid") and directory.stat().st_uid != os.getuid():
            return f"{shown} belongs to another user"
        if not os.access(existing, os.W_OK | os.X_OK):
            return f"{shown_path(existing)} is not writable for this user"
    except OSError as exc:
        return f"{shown}: {exc.strerror or exc}"
    return None
