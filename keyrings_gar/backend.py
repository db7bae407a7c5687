"""The keyring backend: glue from a service string to a credential, and the one error boundary."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging

from jaraco.classes import properties
from keyring.backend import KeyringBackend
from keyring.credentials import SimpleCredential

from .cleartext import empty_refusal, unsafe_pkg_dev_host
from .config import load_settings, trusted_hosts
from .errors import GarError
from .hosts import parse_service

log = logging.getLogger("keyrings_gar")

READ_ONLY = (
    "keyrings.gar is read-only, and keyring has no backend here that stores secrets; add one beside it: "
    "keyrings.alt (`pipx inject keyring keyrings.alt` or `pip install keyrings.alt`) or a Secret Service"
)


@functools.cache
def google_auth_installed() -> bool:
    """Whether we are viable. find_spec does not import google-auth (start-up time), and the
    answer is kept: keyring's chainer asks every backend's priority again on every lookup."""
    return importlib.util.find_spec("google.auth") is not None


class GarKeyring(KeyringBackend):
    """Answers only for Artifact Registry Python repositories: a live OAuth access token, or the
    exact `_json_key_base64` secret. Every other service gets None, so the next backend answers,
    except an Artifact Registry host without TLS, which gets an empty password (see cleartext.py)."""

    @properties.classproperty
    def priority(cls) -> float:  # noqa: N805 - a classproperty, as in keyring's own backends
        if not google_auth_installed():
            raise RuntimeError("google-auth is not installed")
        # Above the OS keyrings (5) and Google's own plugin (9), so we answer first for
        # Artifact Registry; below keyring's chainer (10), which must stay the one that is chosen.
        return 9.5

    def get_password(self, service: str, username: str) -> str | None:
        credential = self._lookup(service, username)
        return credential.password if credential is not None else None

    def get_credential(self, service: str, username: str | None) -> SimpleCredential | None:
        # PDM's CLI path sends "" for "no username": treat it as None.
        return self._lookup(service, username or None)

    # NotImplementedError is how a read-only backend declines: keyring's chainer then asks the next
    # one. The message is only ever seen when keyring uses this backend alone (a headless machine
    # with no OS keyring), where keyring's CLI ends in it: it must say what can store a secret.
    def set_password(self, service: str, username: str, password: str) -> None:
        raise NotImplementedError(READ_ONLY)

    def delete_password(self, service: str, username: str) -> None:
        raise NotImplementedError(READ_ONLY)

    def _lookup(self, service: str, username: str | None) -> SimpleCredential | None:
        """service string -> repository -> credential; None (and one log line) when it fails."""
        target = None
        try:
            target = parse_service(service, trusted_hosts())
            if target is None:
                unsafe_host = unsafe_pkg_dev_host(service)
                # None lets keyring ask the next backend, and Google's plugin would answer this one.
                if unsafe_host is None:
                    return None
                # Only a bare host (no "://") can follow a URL's failure, so only it reads the failure memory.
                explained = "://" not in service and _url_failure_explained(unsafe_host)
                return empty_refusal(service, username, unsafe_host, explained=explained)
            from .lookup import credential_for  # only for a service that is ours (start-up time)

            return credential_for(target, username)
        except GarError as exc:
            from .redact import censored  # only on this failure path: start-up time

            log.warning("keyrings.gar: %s", censored(str(exc)))
            if target is not None:
                _remember_explained(target.host)
        # keyring's chainer lets any exception escape and abort every other backend; a lookup
        # must degrade to "no answer", so this is the one place that catches everything.
        except Exception as exc:  # noqa: BLE001
            # The host alone: a URL can carry userinfo, never log it whole.
            log.warning("keyrings.gar: unexpected %s while looking up %s; please report it",
                        type(exc).__name__, target.host if target is not None else "a service")
        return None


def _remember_explained(host: str) -> None:
    from .failures import note_explained  # only after a failure: start-up time

    # A broken setting may be what failed, and that was just logged: nothing to remember it by.
    with contextlib.suppress(GarError):
        note_explained(load_settings().cache_dir, host)


def _url_failure_explained(host: str) -> bool:
    from .failures import was_explained  # only for a refused pkg.dev host: start-up time

    try:
        return was_explained(load_settings().cache_dir, host)
    except GarError:
        return False  # a broken setting: the full explanation, as before
