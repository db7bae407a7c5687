"""Installer settings that take their credentials from keyring: ready-to-paste text per installer.

The answer `keyrings-gar settings` gives instead of `gcloud artifacts print-settings python`,
whose URLs carry the secret itself.
"""

from __future__ import annotations

from .config import trusted_hosts
from .errors import GarError
from .hosts import parse_service, refusal_reason
from .redact import safe_url

INSTALL_HINT = "pipx install keyring && pipx inject keyring keyrings.gar"


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


# One template per installer; each gets {index_url}, {user_index_url}, {upload_url}, {name} and
# {install_hint}. Braces that belong to the text are doubled.
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
poetry self add keyrings.gar
poetry source add --priority=primary {name} {index_url}""",
    "twine": """\
# ~/.pypirc (twine asks keyring for this username's password; keyrings.gar installed beside twine)
[distutils]
index-servers =
    {name}

[{name}]
repository = {upload_url}
username = oauth2accesstoken

# twine upload --repository {name} dist/*""",
}


def settings_text(tool: str, url: str) -> str:
    """Ready-to-paste configuration for `tool` that gets credentials from keyring: none in it."""
    index_url, upload_url, name = repository_urls(url)
    return TEMPLATES[tool].format(
        index_url=index_url,
        user_index_url=index_url.replace("https://", "https://oauth2accesstoken@", 1),
        upload_url=upload_url,
        name=name,
        install_hint=INSTALL_HINT,
    )
