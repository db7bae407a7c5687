"""The keyring backend: glue from a service string to a credential, and the one error boundary."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
from typing import TYPE_CHECKING, Callable, TypeVar

from jaraco.classes import properties
from keyring.backend import KeyringBackend
from keyring.credentials import SimpleCredential

from .cleartext import empty_refusal, unsafe_pkg_dev_host
from .config import trusted_hosts
from .errors import GarError
from .hosts import RepositoryTarget, parse_service

if TYPE_CHECKING:
    from .access_token import AccessToken
    from .config import Settings
    from .config_entries import RepositoryEntry
    from .failures import FailureMemory
    from .sources import TokenSource

log = logging.getLogger("keyrings_gar")
T = TypeVar("T")

READ_ONLY = (
    "keyrings.gar is read-only: it mints Artifact Registry credentials at each lookup and stores none, "
    "and keyring has no backend here that stores secrets (a headless machine has no OS keyring). To store "
    "one, add such a backend beside keyrings.gar in keyring's environment: keyrings.alt (a file; "
    "`pipx inject keyring keyrings.alt` or `pip install keyrings.alt`) or a running Secret Service "
    "(gnome-keyring, KeePassXC); keyrings.gar keeps answering for Artifact Registry"
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
                return empty_refusal(service, username, unsafe_host, explained=_url_failure_explained(unsafe_host))
            return credential_for(target, username)
        except GarError as exc:
            from .redact import censored  # only on this failure path: start-up time

            log.warning("keyrings.gar: %s", censored(str(exc)))
            if target is not None:
                _remember_explained(target.host)
        # keyring's chainer lets any exception escape and abort every other backend; a lookup
        # must degrade to "no answer", so this is the one place that catches everything.
        except Exception as exc:  # noqa: BLE001
            log.warning("keyrings.gar: unexpected %s while looking up %s; please report it",
                        type(exc).__name__, _describe(service))
        return None


def _remember_explained(host: str) -> None:
    """After a URL's failure was logged: the bare-host lookup that pip and uv send next stays short."""
    from .config import load_settings
    from .failures import note_explained

    # A broken setting may be what failed, and that was just logged: nothing to remember it by.
    with contextlib.suppress(GarError):
        note_explained(load_settings().cache_dir, host)


def _url_failure_explained(host: str) -> bool:
    """Whether a lookup for a URL on `host` failed moments ago with its reason logged (see
    failures.py): only a bare host, which pip and uv ask right after such a URL, is quieted by it."""
    from .config import load_settings
    from .failures import was_explained

    try:
        return was_explained(load_settings().cache_dir, host)
    except GarError:
        return False  # a broken setting: the full explanation, as before


def credential_for(target: RepositoryTarget, username: str | None) -> SimpleCredential | None:
    """The credential for `target` under `username` (None: whichever kind is configured)."""
    # Imported here so that services that are not ours never load them (start-up time).
    from .config import load_settings
    from .config_entries import JSON_KEY_BASE64_USERNAME, JSON_KEY_USERNAME, TOKEN_USERNAMES
    from .configfile import entry_for

    settings = load_settings()
    entry = entry_for(target)
    if username is None:
        username = default_username(settings, entry)
    if username in TOKEN_USERNAMES:
        return SimpleCredential(username, live_token(settings, entry, target.host).value)
    if username in (JSON_KEY_BASE64_USERNAME, JSON_KEY_USERNAME):
        from .json_key import find_json_key  # key files: not needed for a token (start-up time)

        secret = find_json_key(settings, entry=entry)
        if secret is None:
            log.warning("keyrings.gar: no _json_key_base64 secret for %s: set KEYRINGS_GAR_JSON_KEY_BASE64, "
                        "GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or json_key_base64_env "
                        "or json_key_base64_file in the configuration entry", target.repository_path)
            return None
        log.debug("json key %s for %s", secret.fingerprint, target.host)
        password = secret.base64 if username == JSON_KEY_BASE64_USERNAME else secret.key_json
        return SimpleCredential(username, password)
    # Only its length: a token pasted as the username is a secret like any other.
    log.debug("a %d-character username that is not one of ours; leaving %s to other backends", len(username),
              target.host)
    return None


def live_token(settings: Settings, entry: RepositoryEntry, host: str = "the default identity") -> AccessToken:
    """The token a lookup answers with: a pre-minted one as it is given, else one from the
    entry's (or the default) token source through the cache."""
    from .provided import find_provided_token

    provided = find_provided_token()
    if provided is not None:
        # Re-read on every lookup (a refreshed file is picked up) and never cached: its owner
        # refreshes it, and we cannot know when it expires.
        token = provided.read()
        log.debug("token %s for %s from %s (pre-minted: expiry unknown, not cached)", token.fingerprint, host,
                  provided.origin)
        return token
    from .sources import find_token_source  # discovery: not needed for a pre-minted token (start-up time)

    source = find_token_source(settings, entry=entry)
    token = access_token(source, settings)
    log.debug("token %s for %s as %s (%s)", token.fingerprint, host, source.identity, source.origin)
    return token


def default_username(settings: Settings, entry: RepositoryEntry) -> str:
    """What get_credential answers with when asked without a username: the entry's choice, else
    a token's when a pre-minted token is given, else the secret's username when a secret is
    configured, else a token's."""
    from .config_entries import JSON_KEY_BASE64_USERNAME, TOKEN_USERNAMES
    from .provided import find_provided_token

    if entry.username:
        return entry.username
    if find_provided_token() is not None:
        return TOKEN_USERNAMES[0]
    return JSON_KEY_BASE64_USERNAME if settings.json_key_secret is not None or entry.has_secret else TOKEN_USERNAMES[0]


def access_token(source: TokenSource, settings: Settings) -> AccessToken:
    """A token for `source` through the shared cache, minting one when none has life left, unless
    minting from `source` failed moments ago (then that failure again, at once)."""
    from .failures import FailureMemory

    return cached_or_minted(source, settings, FailureMemory(settings.cache_dir))[0]


def cached_or_minted(source: TokenSource, settings: Settings, failures: FailureMemory | None
                     ) -> tuple[AccessToken, bool]:
    """A token for `source` through the shared cache, and whether it was minted now; through
    `failures` unless None (`doctor` always tries again)."""
    from .cache import TokenCache

    def guarded(key: str, attempt: Callable[[], T]) -> T:
        return attempt() if failures is None else failures.guard(key, attempt)

    minted: list[AccessToken] = []
    if source.subject_pending:
        from .mint.deadline import identify_subject  # the cold path's: not for a source whose key is known

        # Only the subject token (a URL's or a program's answer) says whose the token would be.
        source = guarded(source.cache_key,
                         functools.partial(identify_subject, source, settings.timeout, settings.cache_dir))

    def mint() -> AccessToken:
        from .mint.deadline import mint_access_token  # the cold path: only after a cache miss

        minted.append(mint_access_token(source, settings.timeout))
        return minted[-1]

    cache = TokenCache(settings.cache_dir, lock_timeout=settings.timeout + 5)
    token = cache.get_or_mint(source.cache_key, source.identity, lambda: guarded(source.cache_key, mint),
                              source.described)
    log.debug("token cache %s for %s: %s", "miss" if minted else "hit", source.identity,
              "minted a new token" if minted else f"{token.fingerprint} has {token.remaining() / 60:.0f} min left")
    return token, bool(minted)


def _describe(service: object) -> str:
    """The host part of a service for a log line: URLs can carry userinfo, never log them whole."""
    target = parse_service(service, trusted_hosts()) if isinstance(service, str) else None
    return target.host if target is not None else "a service"
