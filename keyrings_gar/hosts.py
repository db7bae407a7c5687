"""Which keyring service strings are Artifact Registry Python repositories (and so ours)."""

from __future__ import annotations

import re
from typing import NamedTuple

# Regions (`us-central1`, `europe-west4`, `northamerica-northeast1`) and multi-regions
# (`us`, `europe`, `asia`); only the Python format: `-docker.pkg.dev` and friends are not ours.
_ARTIFACT_REGISTRY_PYTHON_HOST = re.compile(r"(?:[a-z]+|[a-z]+-[a-z]+[0-9]{1,2})-python\.pkg\.dev")

# Artifact Registry's locations (`gcloud artifacts locations list`; Google Cloud's regions and the three
# multi-regions, December 2026). Only to name the nearest one when a host has the right shape but
# a mistyped location: a location not listed here (a new region) is still ours if it fits the pattern.
KNOWN_LOCATIONS = (
    "us", "europe", "asia",
    "africa-south1",
    "asia-east1", "asia-east2", "asia-northeast1", "asia-northeast2", "asia-northeast3", "asia-south1",
    "asia-south2", "asia-southeast1", "asia-southeast2", "australia-southeast1", "australia-southeast2",
    "europe-central2", "europe-north1", "europe-north2", "europe-southwest1", "europe-west1", "europe-west2",
    "europe-west3", "europe-west4", "europe-west6", "europe-west8", "europe-west9", "europe-west10",
    "europe-west12",
    "me-central1", "me-central2", "me-west1",
    "northamerica-northeast1", "northamerica-northeast2", "northamerica-south1", "southamerica-east1",
    "southamerica-west1",
    "us-central1", "us-east1", "us-east4", "us-east5", "us-south1", "us-west1", "us-west2", "us-west3", "us-west4",
)
ARTIFACT_REGISTRY_DOMAIN = ".pkg.dev"
_PYTHON_HOST_SUFFIX = f"-python{ARTIFACT_REGISTRY_DOMAIN}"

# An index, upload or file URL is a few hundred characters; anything much longer is not one, and is
# refused before any pattern reads it, so that no input makes a lookup slow.
MAX_SERVICE_LENGTH = 4096

# One strict grammar instead of urllib.parse: every input either parses here exactly as an
# installer's URL parser would read it, or is refused (see `is_unambiguous`).
# Linear by construction: each repeated class is followed only by characters outside that class
# (`:` after the scheme, `@` after the username, `:` or `/?#` or the end after the host), so every
# input position is tried a bounded number of times, never once per earlier position.
_SERVICE = re.compile(
    r"""
    (?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?
    (?:(?P<username>[A-Za-z0-9._~-]+)@)?    # a plain username, as PDM and uv may pass it
    (?P<host>[A-Za-z0-9.-]+)
    (?::(?P<port>[0-9]{1,5}))?
    (?P<path>[/?\#].*)?
    """,
    re.VERBOSE | re.DOTALL,
)

# Only to explain a refusal: `_SERVICE` never accepts a password in the userinfo. The part before
# the colon excludes `:`, so the userinfo splits at its first colon only (linear; `[^/?#@]*:` would
# try every colon against every later one).
_PASSWORD_IN_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#@:]*:[^/?#@]*@")

HTTPS_PORT = 443


class RepositoryTarget(NamedTuple):
    """An Artifact Registry repository (or just its host) that a lookup is about."""

    host: str
    """Lower-case host name, with its port only for a trusted host on another port than 443."""
    path: str
    """The URL path below the host (`/project/repo/simple/`), `""` for a realm (`https://host`)."""

    @property
    def location(self) -> str:
        """`us-central1` for `us-central1-python.pkg.dev`; `""` for a user-trusted host."""
        return self.host[: -len(_PYTHON_HOST_SUFFIX)] if self.host.endswith(_PYTHON_HOST_SUFFIX) else ""

    @property
    def repository_path(self) -> str:
        """`host/project/repo` (as far as the path names them), for matching configuration.

        A file download that Artifact Registry redirected (307) to
        `/artifacts-downloads/namespaces/P/repositories/R/downloads/...` belongs to P/R, as the
        repository's own URLs do: an installer that follows the redirect may ask about it."""
        segments = [s for s in self.path.split("?")[0].split("#")[0].split("/") if s]
        if segments[:2] == ["artifacts-downloads", "namespaces"] and segments[3:4] == ["repositories"]:
            return "/".join([self.host, segments[2], *segments[4:5]])
        return "/".join([self.host, *segments[:2]])

    def __str__(self) -> str:
        return f"https://{self.host}{self.path}"


def parse_trusted_hosts(value: str) -> frozenset[str]:
    """`KEYRINGS_GAR_HOSTS` and `KEYRINGS_GAR_TOKEN_HOSTS`: comma-separated `host`, `host:port` or
    `https://host[:port]/`, each as `normal_host` writes it; another form (a path, another scheme)
    matches no URL."""
    return frozenset(normal_host(entry.strip()) for entry in value.split(",") if entry.strip())


def normal_host(entry: str) -> str:
    """`host` as a URL without a port names it: lower case, `https://`, a trailing `/` and `:443` dropped."""
    host = entry.lower()
    if host.startswith("https://"):
        host = host.removeprefix("https://").removesuffix("/")
    return host.removesuffix(f":{HTTPS_PORT}")


def is_unambiguous(service: str) -> bool:
    """Refuse whatever another URL parser could read with a different host.

    Backslashes (WHATWG reads them as `/`), whitespace, control characters, NUL and anything
    outside printable ASCII (IDNA lookalikes) have no place in the URLs installers pass us.
    """
    return service.isascii() and service.isprintable() and not any(c in service for c in " \\")


def parse_service(service: str, trusted_hosts: frozenset[str] = frozenset()) -> RepositoryTarget | None:
    """The repository `service` names if it is ours, else None (`classify_service` says why).

    Ours: `https://<location>-python.pkg.dev[:443][/...]` (index, upload and file URLs, uv's realm),
    and the same on the hosts the user trusts. Never plain http, nor a bare host: pip and uv ask for
    it right after an `http://` URL, then send its answer over that http.
    """
    verdict = classify_service(service, trusted_hosts)
    return verdict if isinstance(verdict, RepositoryTarget) else None


def classify_service(service: str, trusted_hosts: frozenset[str] = frozenset()) -> RepositoryTarget | str:
    """The repository `service` names, or the reason it is not ours (one sentence with the fix):
    one parser for both, for a caller that needs either."""
    if not isinstance(service, str):
        return f"a service must be a string, not {type(service).__name__}"
    if len(service) > MAX_SERVICE_LENGTH:
        return (f"it is {len(service)} characters long, and no repository URL is longer than "
                f"{MAX_SERVICE_LENGTH}; pass the repository's https:// URL")
    if not is_unambiguous(service):
        return ("it contains whitespace, a backslash, a control or non-ASCII character, which another URL "
                "parser could read as a different host; pass the plain https:// URL")
    match = _SERVICE.fullmatch(service)
    if match is None:
        if _PASSWORD_IN_URL.match(service):
            return "it carries a password (user:password@); keyring is the one asked for it: remove it from the URL"
        return "it is not a URL or host name; pass the repository's https:// URL"
    scheme, username, host, port, path = match.group("scheme", "username", "host", "port", "path")
    if scheme is None:
        # pip asks for the bare netloc, and uv for the bare host, after the URL itself: for an https index
        # URL that first lookup is answered and the bare host is never asked (pip, uv, poetry and twine all
        # install in tests/e2e with it refused). Only a URL outside pip's index URLs gets the netloc alone.
        if username is None and path is None:
            return ("a bare host name carries no scheme, so its answer could travel over plain http; for pip's "
                    "--find-links or a direct URL, add the repository's https://.../simple/ URL as --extra-index-url")
        return "it has no scheme; write the URL with https://"
    if scheme.lower() != "https":
        return f"the scheme is {scheme.lower()}://, and a credential never travels without TLS; use https://"
    host = host.lower()
    if port is not None and port != str(HTTPS_PORT):
        if f"{host}:{port}" in trusted_hosts:
            return RepositoryTarget(f"{host}:{port}", path or "")
        return (f"port {port} is not 443; add {host}:{port} to KEYRINGS_GAR_HOSTS if it serves "
                "Artifact Registry")
    if _ARTIFACT_REGISTRY_PYTHON_HOST.fullmatch(host) or host in trusted_hosts:
        return RepositoryTarget(host, path or "")
    return _foreign_host(host)


def _foreign_host(host: str) -> str:
    """Why a host on port 443 is not ours: a mistyped location (the nearest known one by edit
    distance is named), another format, or another host."""
    if host.endswith(_PYTHON_HOST_SUFFIX):
        location = host[: -len(_PYTHON_HOST_SUFFIX)]
        shown = location if len(location) <= 40 else location[:40] + "…"
        nearest = min(KNOWN_LOCATIONS, key=lambda known: (edit_distance(location[:64], known), known))
        return (f"{shown} is not an Artifact Registry location; did you mean {nearest}{_PYTHON_HOST_SUFFIX}? "
                "(`gcloud artifacts locations list` lists them)")
    if host.endswith(ARTIFACT_REGISTRY_DOMAIN):
        return (f"{host} is not an Artifact Registry Python host: those are <location>-python.pkg.dev "
                "(Docker, npm, Maven and other formats are not ours)")
    return (f"{host} is not an Artifact Registry Python host (<location>-python.pkg.dev); add it to "
            "KEYRINGS_GAR_HOSTS if it is a proxy in front of one")


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance; a and b are short (a location), so the plain table is enough."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]
