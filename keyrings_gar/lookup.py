"""A lookup for a service that is ours (backend.py imports this only then): repository ->
configuration entry -> username -> credential, a token as it was given (pre-minted) or from its
source through the cache. What only some lookups need is imported where it is used.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Callable, TypeVar

from keyring.credentials import SimpleCredential

from .access_token import AccessToken
from .config import Settings, load_settings
from .config_entries import JSON_KEY_BASE64_USERNAME, JSON_KEY_USERNAME, TOKEN_USERNAMES, RepositoryEntry
from .configfile import entry_for
from .hosts import RepositoryTarget
from .provided import ProvidedToken, find_provided_token

if TYPE_CHECKING:
    from .failures import FailureMemory
    from .sources import TokenSource

log = logging.getLogger("keyrings_gar")
T = TypeVar("T")
# Where a _json_key_base64 secret can come from, for the lookup's log line and doctor's problem alike.
JSON_KEY_FIX = ("set KEYRINGS_GAR_JSON_KEY_BASE64, GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, "
                "or json_key_base64_env or json_key_base64_file in the configuration entry")


def credential_for(target: RepositoryTarget, username: str | None) -> SimpleCredential | None:
    """The credential for `target` under `username` (None: whichever kind is configured)."""
    settings = load_settings()
    entry = entry_for(target)
    # Looked for once per lookup, and only when a token may be the answer.
    provided = find_provided_token() if username is None or username in TOKEN_USERNAMES else None
    if username is None:
        username = default_username(settings, entry, provided)
    if username in TOKEN_USERNAMES:
        return SimpleCredential(username, live_token(settings, entry, provided, target.host).value)
    if username in (JSON_KEY_BASE64_USERNAME, JSON_KEY_USERNAME):
        from .search import find_json_key  # key files, gcloud: not for a pre-minted token (start-up time)

        secret = find_json_key(settings, entry=entry)
        if secret is None:
            log.warning("keyrings.gar: no _json_key_base64 secret for %s: %s", target.repository_path, JSON_KEY_FIX)
            return None
        log.debug("json key %s for %s", secret.fingerprint, target.host)
        return SimpleCredential(username, secret.base64 if username == JSON_KEY_BASE64_USERNAME else secret.key_json)
    # Only its length: a token pasted as the username is a secret like any other.
    log.debug("a %d-character username that is not one of ours; leaving %s to other backends", len(username),
              target.host)
    return None


def live_token(settings: Settings, entry: RepositoryEntry, provided: ProvidedToken | None,
               host: str = "the default identity") -> AccessToken:
    """The token a lookup answers with: the pre-minted one `provided` as it is given, else one from
    the entry's (or the default) token source through the cache."""
    if provided is not None:
        # Re-read on every lookup (a refreshed file is picked up) and never cached: its owner
        # refreshes it, and we cannot know when it expires.
        token = provided.read()
        log.debug("token %s for %s from %s (pre-minted: expiry unknown, not cached)", token.fingerprint, host,
                  provided.origin)
        return token
    from .search import find_token_source  # key files, gcloud: not for a pre-minted token (start-up time)

    source = find_token_source(settings, entry=entry)
    token = access_token(source, settings)
    log.debug("token %s for %s as %s (%s)", token.fingerprint, host, source.identity, source.origin)
    return token


def default_username(settings: Settings, entry: RepositoryEntry, provided: ProvidedToken | None) -> str:
    """What get_credential answers with when asked without a username."""
    if entry.username:
        return entry.username
    if provided is None and (settings.json_key_secret is not None or entry.has_secret):
        return JSON_KEY_BASE64_USERNAME
    return TOKEN_USERNAMES[0]


def access_token(source: TokenSource, settings: Settings) -> AccessToken:
    """cached_or_minted through the failure memory: minting that failed moments ago fails again, at once."""
    from .failures import FailureMemory  # its private files (tempfile): not for a pre-minted token

    return cached_or_minted(source, settings, FailureMemory(settings.cache_dir))[0]


def cached_or_minted(source: TokenSource, settings: Settings, failures: FailureMemory | None
                     ) -> tuple[AccessToken, bool]:
    """A token for `source` through the shared cache, and whether it was minted now; through
    `failures` unless None (`doctor` always tries again)."""
    from .cache import TokenCache  # its private files: not for a pre-minted token (start-up time)

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
    # Origin and kind (safe to print) tell two sources of one identity apart in `cache show`.
    token = cache.get_or_mint(source.cache_key, source.identity, lambda: guarded(source.cache_key, mint),
                              f"{source.origin} ({source.kind})")
    log.debug("token cache %s for %s: %s", "miss" if minted else "hit", source.identity,
              "minted a new token" if minted else f"{token.fingerprint} has {token.remaining() / 60:.0f} min left")
    return token, bool(minted)
