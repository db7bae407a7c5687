"""Installer settings that take their credentials from keyring: ready-to-paste text per installer.

The answer `keyrings-gar settings` gives instead of `gcloud artifacts print-settings python`,
whose URLs carry the secret itself.
"""

from __future__ import annotations

import json
import shlex
from urllib.parse import unquote, urlsplit

from .config import trusted_hosts
from .errors import GarError
from .hosts import parse_service, refusal_reason
from .redact import safe_url

DISTRIBUTION = "keyrings.gar"
UNKNOWN_SOURCE = "<a keyrings.gar checkout or wheel>"


def install_source() -> str:
    """What to hand pip, pipx or `poetry self add` to install this same keyrings.gar.

    The distribution name only when this copy came from a package index: a copy installed from a
    checkout or a wheel (PEP 610's direct_url.json says which) means the name may not be on any
    index yet, and a hint naming it would fail. Then the hint names that checkout or wheel.
    """
    from importlib import metadata

    try:
        recorded = metadata.distribution(DISTRIBUTION).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return UNKNOWN_SOURCE  # run from a source tree that was never installed
    if not recorded:
        return DISTRIBUTION
    try:
        url = str(json.loads(recorded)["url"])
    except (ValueError, KeyError, TypeError):
        return UNKNOWN_SOURCE
    parts = urlsplit(url)
    if parts.scheme == "file":
        return shlex.quote(unquote(parts.path))
    return shlex.quote(safe_url(url))


def install_hint() -> str:
    """The commands that put a `keyring` command with keyrings.gar on PATH (and `keyrings-gar`
    beside it: without --include-apps pipx does not link the plugin's own command)."""
    return f"pipx install keyring && pipx inject --include-apps keyring {install_source()}"


def repository_urls(url: str) -> tuple[str, str, str]:
    """(index URL, upload URL, repository name) for a repository URL in any form we accept."""
    target = parse_service(url, trusted_hosts())
    if target is None and "://" not in url:
        target = parse_service(f"https://{url}", trusted_hosts())
    if target is None:
        raise GarError(f"{safe_url(url)} is not an Artifact Registry Python repository: "
                       f"{refusal_reason(url, trusted_hosts())}")
    segments = target.repository_path.split("/")
    if len(segments) < 3:
        raise GarError("give the repository's URL: https://<location>-python.pkg.dev/<project>/<repository>/")
    host, project, repository = segments
    return f"https://{host}/{project}/{repository}/simple/", f"https://{host}/{project}/{repository}/", repository


# One template per installer or publishing command; each gets {index_url}, {user_index_url},
# {upload_url}, {name}, {install_hint} and {source}. Braces that belong to the text are doubled.
# Every command here is run by an e2e test in tests/e2e/.
TEMPLATES: dict[str, str] = {
    "pip": """\
# pip.conf (`pip config edit`; keyring on PATH: {install_hint})
[global]
index-url = {user_index_url}
keyring-provider = subprocess

# or for one command: PIP_KEYRING_PROVIDER=subprocess PIP_INDEX_URL={user_index_url} pip install ...
# (the username in the URL is not a secret: pip before 26.2 asks keyring only when there is one)""",
    "uv": """\
# uv.toml (in pyproject.toml: the same under [tool.uv] and [[tool.uv.index]])
# keyring on PATH: {install_hint}
keyring-provider = "subprocess"

[[index]]
name = "{name}"
url = "{index_url}"
authenticate = "always\"""",
    "poetry": """\
# poetry asks keyring when the source URL has no username: keep it out of the URL
poetry self add {source}
poetry source add --priority=primary {name} {index_url}""",
    "pdm": """\
# pyproject.toml: pdm asks keyring after the first 401, so the source carries no credential.
# keyring in pdm's environment: pdm self add keyring {source}
# (or a keyring command on PATH: {install_hint})
[[tool.pdm.source]]
name = "{name}"
url = "{index_url}\"""",
    "twine": """\
# ~/.pypirc (twine asks keyring for this username's password; keyrings.gar installed beside twine)
[distutils]
index-servers =
    {name}

[{name}]
repository = {upload_url}
username = oauth2accesstoken

# twine upload --repository {name} dist/*""",
    "uv-publish": """\
# uv publish runs `keyring get {upload_url} oauth2accesstoken`: without --username it stops with
# "Missing credentials" before asking. keyring on PATH: {install_hint}
uv publish --publish-url {upload_url} --keyring-provider subprocess --username oauth2accesstoken""",
    "poetry-publish": """\
# poetry asks keyring for a repository that has no `poetry config http-basic.{name}` entry
# (keyring in poetry's environment: poetry self add {source})
poetry config repositories.{name} {upload_url}
poetry publish -r {name}""",
    "hatch": """\
# hatch publish asks keyring for --user's password (keyring in hatch's environment: pipx inject hatch {source})
hatch publish --repo {upload_url} --user oauth2accesstoken""",
}


def settings_text(tool: str, url: str) -> str:
    """Ready-to-paste configuration for `tool` that gets credentials from keyring: none in it."""
    index_url, upload_url, name = repository_urls(url)
    return TEMPLATES[tool].format(
        index_url=index_url,
        user_index_url=index_url.replace("https://", "https://oauth2accesstoken@", 1),
        upload_url=upload_url,
        name=name,
        install_hint=install_hint(),
        source=install_source(),
    )
