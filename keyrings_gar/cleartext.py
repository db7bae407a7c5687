"""Lookups we refuse and must also keep from the rest of keyring's chain: an Artifact Registry host
asked for over plain http (or any scheme but https), or with no scheme at all.

keyring's chainer asks the next backend whenever one answers None, and Google's own plugin
(keyrings.google-artifactregistry-auth) answers every service whose `urlparse(...).hostname` ends
with `.pkg.dev`, whatever its scheme; pip and uv then send that token over the http they were
given. Raising is no veto (pip turns keyring off for the whole run after any exception, and the
chainer passes the exception on), so for exactly these lookups we answer with an empty password:
non-None, so the chain stops, and nothing secret, so nothing can leak.
"""

from __future__ import annotations

import logging

from keyring.credentials import SimpleCredential

from .hosts import ARTIFACT_REGISTRY_DOMAIN, MAX_SERVICE_LENGTH, classify_service

log = logging.getLogger("keyrings_gar")


def unsafe_pkg_dev_host(service: object) -> str | None:
    """The `*.pkg.dev` host `service` names when an answer to it could travel without TLS, else None.
    Every format counts (Docker, npm, Maven too): Google's plugin answers them all. https forms are
    left to whoever answers them, since TLS protects the answer."""
    # A substring test first, so that a lookup for any other host costs next to nothing. No length
    # bound comes before this guard: Google's plugin answers an http:// service of any length (uv sent
    # its token over http for a 4,200-character link). What follows is linear, as that test is.
    if not isinstance(service, str) or ARTIFACT_REGISTRY_DOMAIN not in service.lower():
        return None
    from urllib.parse import urlsplit  # only for *.pkg.dev: Python 3.13's pathlib no longer loads it (start-up time)

    try:
        # Read exactly as Google's plugin reads it: whatever host it would answer for.
        parts = urlsplit(service)
        host = parts.hostname
    except ValueError:
        return None  # Google's plugin raises on it too, and answers nothing
    if host is not None:
        return host if _is_pkg_dev(host) and parts.scheme.lower() != "https" else None
    if "//" in service:
        return None
    # No scheme: pip's netloc (`host`, `host:port`) or uv's host, asked right after an http:// URL.
    bare = service.split("/", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0].lower()
    return bare if _is_pkg_dev(bare) else None


def _is_pkg_dev(host: str) -> bool:
    return host.rstrip(".").endswith(ARTIFACT_REGISTRY_DOMAIN)


def empty_refusal(service: str, username: str | None, host: str, *, explained: bool = False) -> SimpleCredential:
    """The answer that stops the chain for `service`: the username asked for, an empty password.
    `explained`: a URL on this host failed moments ago and said why, and this is the bare host pip and
    uv ask next; the user asked about the URL, so its failure is the whole story (a debug line here)."""
    from .redact import shown_text  # only here: every other lookup goes without it (start-up time)

    shown = shown_text(host, "a *.pkg.dev host")
    if explained:
        log.debug("keyrings.gar: no credential for the bare host %s either (the URL's failure above says why)",
                  shown)
    else:
        verdict = classify_service(service) if len(service) <= MAX_SERVICE_LENGTH else None
        reason = verdict if isinstance(verdict, str) else "it is not an https:// URL; use https://"
        log.warning("keyrings.gar: no credential for %s: %s (answered with an empty password, so that no other "
                    "keyring backend sends one there)", shown, reason)
    return SimpleCredential(username or "", "")
