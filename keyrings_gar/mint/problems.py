"""Why a token could not be minted, as one line with its fix: google-auth's and the transport's errors."""

from __future__ import annotations

import contextlib
import json


def refresh_problem(exc: Exception) -> str:
    """google-auth's RefreshError carries the endpoint's JSON; keep only the error code."""
    details = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
    if len(exc.args) > 1 and isinstance(exc.args[1], str):
        # IAM (impersonation) hands back its response body: {"error": {"status": ...}}.
        with contextlib.suppress(ValueError):
            parsed = json.loads(exc.args[1])
            details = parsed if isinstance(parsed, dict) else {}
    if isinstance(details.get("error"), dict):
        status = str(details["error"].get("status", "error"))[:40]
        return (f"IAM refused the impersonated token ({status}): the calling identity needs "
                "roles/iam.serviceAccountTokenCreator on the target, and the IAM Credentials API must be enabled")
    code = str(details.get("error", "")) if details else ""
    if code == "invalid_grant":
        return ("the token endpoint refused the credentials (invalid_grant: key deleted or disabled, "
                "or login expired); create a new key or re-run `gcloud auth application-default login`")
    if code:
        return f"the token endpoint refused the request ({code[:60]})"
    return "the token endpoint answered with an error or an unreadable response; try again later"


def transport_problem(exc: BaseException, what: str = "token endpoint") -> str:
    """Name the root cause in a few words: an oversized answer, or why `what` is unreachable."""
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and len(chain) < 10:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    from .transport import RedirectRefusedError  # imported already: a grant was made

    for link in chain:
        if isinstance(link, RedirectRefusedError):
            return (f"{what} at {link.endpoint} answered with a redirect (HTTP {link.status}), which Google's "
                    "endpoints never send; it was not followed. Check the URLs in the credentials, and HTTPS_PROXY "
                    "(a proxy that redirects to its login page?)")
    names = " ".join(type(c).__name__ for c in chain) + " " + " ".join(str(c)[:300] for c in chain)
    if "which no token answer is" in names:
        from .transport import RESPONSE_LIMIT

        return (f"the {what}'s answer is larger than {RESPONSE_LIMIT // 1024} KiB, which no token answer is; "
                "check the credentials' URLs and HTTPS_PROXY")
    return f"{what} unreachable: {_unreachable_because(names)}"


def _unreachable_because(names: str) -> str:
    if "ProxyError" in names:
        return "the proxy (HTTPS_PROXY) failed or is unreachable; check the proxy or NO_PROXY"
    if "SSLError" in names or "CERTIFICATE_VERIFY_FAILED" in names:
        return "TLS verification failed; point REQUESTS_CA_BUNDLE or SSL_CERT_FILE at your CA bundle"
    if "Timeout" in names or "timed out" in names:
        return "timed out (KEYRINGS_GAR_TIMEOUT raises the limit)"
    if "Connection refused" in names or "ConnectionRefused" in names:
        return "connection refused"
    if "RemoteDisconnected" in names or "reset" in names.lower():
        return "the connection was closed mid-response"
    return "network error; check your connection, HTTPS_PROXY and NO_PROXY"
