"""Minting access tokens with google-auth, every network call bounded by one deadline.

Only a cache miss imports this module. google-auth and requests (about 0.3 s to import, measured
with -X importtime) are still imported inside the functions that use them: a gcloud login mints
through gcloud itself and never pays for them.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import threading
import time
import warnings
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..access_token import ASSUMED_LIFETIME, AccessToken
from ..config import NO_CREDENTIALS_FIX
from ..errors import GarError, NoCredentialsError, RefusedError, TokenError, UnreachableError
from ..external_account import FEDERATED_TYPES
from ..gcloud import gcloud_access_token
from ..redact import hidden, showable
from ..sources import (
    ADC_FILE,
    CLOUD_PLATFORM_SCOPE,
    GCLOUD,
    IMPERSONATED,
    METADATA_SERVER,
    SERVICE_ACCOUNT_KEY,
    TokenSource,
    with_subject_token,
)
from .quiet import cover_library_loggers, libraries_silenced
from .trust import DEFAULT_UNIVERSE, check_credential_file, check_universe

if TYPE_CHECKING:
    from pathlib import Path

    from .transport import DeadlineRequest

log = logging.getLogger("keyrings_gar")

# Off Google Cloud the metadata server does not exist; google-auth would probe it three
# times with back-off (about 10 s). One short probe answers the same question on a laptop.
METADATA_PROBE_TIMEOUT = 1.0
# How long past the deadline we wait for a grant to wind up before abandoning it.
_DEADLINE_GRACE = 0.5


def _credentials_for(source: TokenSource, request: DeadlineRequest) -> Any:
    if source.kind == SERVICE_ACCOUNT_KEY:
        from google.oauth2 import service_account

        return service_account.Credentials.from_service_account_info(dict(source.info), scopes=[CLOUD_PLATFORM_SCOPE])
    if _is_federated(source):
        # As the source of a configured impersonation: our own minimal mint (sts.py says why).
        return _as_credentials(_mint_federated(source, request))
    if source.kind == ADC_FILE:
        import google.auth

        with warnings.catch_warnings():
            # It warns that configs from untrusted sources need checking; this is the user's own ADC file.
            warnings.simplefilter("ignore", DeprecationWarning)
            credentials, _project = google.auth.load_credentials_from_dict(dict(source.info),
                                                                           scopes=[CLOUD_PLATFORM_SCOPE])
        return credentials
    if source.kind == METADATA_SERVER:
        from google.auth import compute_engine
        from google.auth.compute_engine import _metadata

        if not _metadata.ping(request, timeout=METADATA_PROBE_TIMEOUT, retry_count=1):  # the deadline caps it
            redirect = request.refused_redirect
            if redirect is not None:
                # The real metadata server never redirects: something else answers its address.
                raise TokenError(f"the metadata server address {redirect.endpoint} answered with a redirect (HTTP "
                                 f"{redirect.status}), not followed (a captive portal?): log in to the network, or "
                                 "run `gcloud auth application-default login`")
            raise NoCredentialsError(f"no Google credentials found: {NO_CREDENTIALS_FIX}")
        # Impersonated credentials read their source's universe_domain, which compute_engine would
        # ask the metadata server for on a requests session of its own: outside our deadline, bounds
        # and redirect refusal. Only the default universe is served (trust.py), so it is stated.
        if "universe_domain" in inspect.signature(compute_engine.Credentials).parameters:
            return compute_engine.Credentials(universe_domain=DEFAULT_UNIVERSE)
        return compute_engine.Credentials()
    if source.kind == IMPERSONATED and source.via is not None:
        from google.auth import impersonated_credentials

        return impersonated_credentials.Credentials(source_credentials=_credentials_for(source.via, request),
                                                    target_principal=source.info["target_principal"],
                                                    target_scopes=[CLOUD_PLATFORM_SCOPE])
    if source.kind == GCLOUD and source.gcloud is not None:
        # As the source of an impersonation: gcloud's token, already valid, as google-auth credentials.
        return _as_credentials(AccessToken(*gcloud_access_token(source.gcloud, request.remaining())))
    raise TokenError(f"unknown token source kind {source.kind!r}")


def _as_credentials(token: AccessToken) -> Any:
    """A token we already hold, as google-auth credentials (valid, so never refreshed)."""
    from google.oauth2 import credentials as user_credentials

    return user_credentials.Credentials(
        token.value, expiry=datetime.fromtimestamp(token.expiry, timezone.utc).replace(tzinfo=None))


def mint_access_token(source: TokenSource, timeout: float) -> AccessToken:
    """Ask `source`'s token endpoint for a new token; TokenError says why it could not.

    The deadline holds for the whole grant: google-auth retries with back-off sleeps that no
    per-request timeout can cut short (the metadata server: five tries over 15 s), so the grant
    runs in a daemon thread that is abandoned, not waited for, once the deadline has passed.
    """
    outcome: list[AccessToken | BaseException] = []

    def grant() -> None:
        try:
            outcome.append(_mint(source, timeout))
        except BaseException as exc:  # noqa: BLE001 - handed over to the calling thread, which raises it there
            outcome.append(exc)

    worker = threading.Thread(target=grant, name="keyrings-gar-mint", daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(timeout + _DEADLINE_GRACE)
    if not outcome:
        raise _about(source, UnreachableError("token endpoint", "timeout", timeout))
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    log.debug("minted a token for %s in %.0f ms: %r", source.identity, (time.monotonic() - started) * 1000, result)
    return result


def _mint(source: TokenSource, timeout: float) -> AccessToken:
    _check_trust(source)
    if source.kind == GCLOUD and source.gcloud is not None:
        # gcloud is its own OAuth client: no google-auth (nor its import) needed.
        return AccessToken(*gcloud_access_token(source.gcloud, timeout))
    with _grant(timeout) as request:
        if _is_federated(source):
            return _mint_federated(source, request)
        credentials = _refreshed_credentials(source, request)
    return AccessToken(credentials.token, _expiry_seconds(credentials.expiry))


@contextlib.contextmanager
def _grant(timeout: float) -> Iterator[DeadlineRequest]:
    """One grant's bounded transport, closed however the grant ends (no connection stays open), with
    google-auth's records dropped and google-auth imported quietly: on Python 3.9 it warns at import that
    Python is past its end of life, noise in someone's `pip install` about a choice made elsewhere."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import google.auth
        import google.oauth2  # noqa: F401 - imported for its side effect of warning, here silenced
    from .transport import DeadlineRequest  # imports requests: here, for start-up time

    with libraries_silenced(), contextlib.closing(DeadlineRequest(timeout)) as request:
        yield request


def _check_trust(source: TokenSource) -> None:
    """ConfigError before anything is read or sent, when `source` or the source it impersonates
    with would send a credential outside Google's default universe (see trust.py)."""
    link: TokenSource | None = source
    while link is not None:
        if link.gcloud is not None:
            check_universe(link.gcloud.universe_domain, link.origin)
        check_credential_file(link.info, link.origin)
        link = link.via


def _refreshed_credentials(source: TokenSource, request: DeadlineRequest) -> Any:
    import google.auth.exceptions

    from .transport import unreachable

    try:
        credentials = _credentials_for(source, request)
    except (google.auth.exceptions.GoogleAuthError, ValueError, KeyError, TypeError) as exc:
        # google-auth reports a malformed or unsupported key or ADC file this way.
        kind = str(source.info.get("type"))
        # A "type" is a word such as service_account; anything else may be a pasted secret.
        described = f'"type": {json.dumps(kind)}' if showable(kind) else f'"type" is {hidden(kind)}'
        raise TokenError(f"{source.origin}: google-auth cannot use these credentials ({described}, "
                         f"{type(exc).__name__}); download a new key or re-run `gcloud auth application-default login`"
                         ) from None
    cover_library_loggers()  # the modules this source needs are imported now, with their loggers
    try:
        credentials.refresh(request)
    except google.auth.exceptions.RefreshError as exc:
        raise _about(source, _refused(exc)) from None
    except google.auth.exceptions.TransportError as exc:
        raise _about(source, unreachable(exc, "token endpoint")) from None
    except (google.auth.exceptions.GoogleAuthError, ValueError, KeyError, TypeError) as exc:
        raise _about(source, TokenError(f"the token endpoint sent an unreadable response ({type(exc).__name__}); "
                                        "try again later")) from None
    return credentials


def _refused(exc: Exception) -> TokenError:
    """google-auth's RefreshError carries the endpoint's JSON: only its error code is kept."""
    details = exc.args[1] if len(exc.args) > 1 else None
    if isinstance(details, str):
        # IAM (impersonation) hands back its response body: {"error": {"status": ...}}.
        with contextlib.suppress(ValueError):
            details = json.loads(details)
    details = details if isinstance(details, dict) else {}
    if isinstance(details.get("error"), dict):
        status = str(details["error"].get("status", "error"))[:40]
        return RefusedError("IAM", status, f"refused the impersonated token ({status}): the caller needs "
                            "roles/iam.serviceAccountTokenCreator on the target, and the IAM Credentials API enabled")
    code = str(details.get("error", ""))[:60]
    if code == "invalid_grant":
        return RefusedError("the token endpoint", code, "refused the credentials (invalid_grant: key deleted or "
                            "disabled, or login expired); create a new key or re-run "
                            "`gcloud auth application-default login`")
    if code:
        return RefusedError("the token endpoint", code, f"refused the request ({code})")
    return TokenError("the token endpoint answered with an error or an unreadable response; try again later")


def _about(source: TokenSource, error: GarError) -> GarError:
    """`error`, said of `source` unless it names its own subject already (an impersonation's source)."""
    if error.subject is None:
        error.subject = f"{source.identity} ({source.origin})"
    return error


def _is_federated(source: TokenSource) -> bool:
    return source.kind == ADC_FILE and source.info.get("type") in FEDERATED_TYPES


def _mint_federated(source: TokenSource, request: DeadlineRequest) -> AccessToken:
    from .sts import mint_federated  # google-auth's exceptions: imported (quietly) by _mint already

    try:
        return AccessToken(*mint_federated(source.info, request, source.subject_token))
    except TokenError as exc:
        raise _about(source, exc) from None


def identify_subject(source: TokenSource, timeout: float, cache_dir: Path | None) -> TokenSource:
    """`source`, whose subject token is pending, with it retrieved (a URL's answer, an executable's
    output) and its cache key naming whose it is.

    A warm lookup from such a source pays for this (the URL's round trip, or the program's run,
    with google-auth and requests imported), and saves the STS exchange and its quota."""
    federated = source.via if source.via is not None else source
    with _grant(timeout) as request:
        from .sts import retrieve_subject_token  # google-auth's: imported (quietly) by _grant

        try:
            subject_token = retrieve_subject_token(federated.info, request)
        except TokenError as exc:
            raise _about(federated, exc) from None
    return with_subject_token(source, subject_token, cache_dir)


def _expiry_seconds(expiry: datetime | None) -> float:
    if expiry is None:
        return time.time() + ASSUMED_LIFETIME
    # google-auth's expiry is naive UTC: its own `expired` compares it with a naive utcnow().
    return expiry.replace(tzinfo=timezone.utc).timestamp()
