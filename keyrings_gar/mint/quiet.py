"""No log record from the libraries we mint with, made while we mint: they would carry what we send.

google-auth logs every request at DEBUG with its body and headers in `extra` fields (the signed
JWT assertion; for impersonation, the source token in the Authorization header), and warns on
each retry: noise in the middle of an install, where the backend logs one line that says what
failed and how to fix it. A user who sets `google.auth.transport.requests` (or `urllib3`) to
DEBUG for their own code should still never see our grant's secrets.

A filter on google-auth's, requests' and urllib3's loggers drops the records made by a thread
while it mints; other threads' records pass untouched, and no logger's level is changed (the
user, or a grant abandoned at its deadline that is still running, may depend on it).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

_LIBRARIES = frozenset({"google", "urllib3", "requests"})
_state = threading.local()


def _not_minting(record: logging.LogRecord) -> bool:  # noqa: ARG001 - the thread decides, not the record
    return not getattr(_state, "minting", False)


def cover_library_loggers() -> None:
    """Put the filter on every library logger that exists now.

    A filter acts only on records made by its own logger (not on those passed up from children),
    and each module makes its logger when it is imported; so this runs again once the grant has
    imported what it needs, before the first request.
    """
    manager = logging.Logger.manager
    for name, logger in list(manager.loggerDict.items()):  # a copy: another thread may be importing
        if name.split(".", 1)[0] in _LIBRARIES and isinstance(logger, logging.Logger) \
                and _not_minting not in logger.filters:
            logger.addFilter(_not_minting)


@contextlib.contextmanager
def libraries_silenced() -> Iterator[None]:
    cover_library_loggers()
    _state.minting = True
    try:
        yield
    finally:
        _state.minting = False
