"""Installer settings that take their credentials from keyring: ready-to-paste text per installer.

The answer `keyrings-gar settings` gives instead of `gcloud artifacts print-settings python`,
whose URLs carry the secret itself.
"""

from __future__ import annotations

import json
import shlex
from importlib import metadata
from urllib.parse import unquote, urlsplit

from .index_rule import (
    DEFAULT_KIND,
    VIRTUAL,
    Repository,
    parse_repository,
    pdm_source,
    pip_options,
    poetry_priority,
    rule_comment,
    toml_table,
    uv_index,
)
from .shown import safe_url

DISTRIBUTION = "keyrings.gar"
UNKNOWN_SOURCE = "<a keyrings.gar checkout or wheel>"


def install_source() -> str:
    """What to hand pip, pipx or `poetry self add` to install this same keyrings.gar.

    The distribution name only when this copy came from a package index: a copy installed from a
    checkout or a wheel (PEP 610's direct_url.json says which) means the name may not be on any
    index yet, and a hint naming it would fail. Then the hint names that checkout or wheel.
    """
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
    return shlex.quote(unquote(parts.path) if parts.scheme == "file" else safe_url(url))


def install_hint() -> str:
    """The commands that put a `keyring` command with keyrings.gar on PATH (and `keyrings-gar`
    beside it: without --include-apps pipx does not link the plugin's own command)."""
    return f"pipx install keyring && pipx inject --include-apps keyring {install_source()}"


# Publishing commands, one template each; each gets {upload_url}, {name}, {install_hint} and
# {source}. Braces that belong to the text are doubled. Every command here is run by an e2e test in
# tests/e2e/. The installers' index settings are built from index_rule.py, which `configure` writes.
PUBLISH_TEMPLATES: dict[str, str] = {
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

TOOLS = ("pip", "uv", "poetry", "pdm", *PUBLISH_TEMPLATES)


def _pip_text(repository: Repository, kind: str) -> str:
    options = "\n".join(f"{option.key} = {' '.join(option.values)}" for option in pip_options([repository], kind))
    return (f"# pip.conf (`keyrings-gar configure pip URL` writes it; keyring on PATH: {install_hint()})\n"
            f"[global]\n{options}\n\n"
            "# (the username in the URL is not a secret: pip before 26.2 asks keyring only when there is one)")


def _uv_text(repository: Repository, kind: str, *, uv_toml: bool) -> str:
    prefix = "" if uv_toml else "tool.uv."
    where = ("# uv.toml (or `keyrings-gar settings uv URL` for pyproject.toml)" if uv_toml else
             "# pyproject.toml (for uv.toml, which has no [tool.uv]: `keyrings-gar settings uv URL --uv-toml`)")
    head = ("" if uv_toml else "[tool.uv]\n") + 'keyring-provider = "subprocess"'
    # A virtual repository takes no uploads: no publish-url.
    index = uv_index(repository, kind, first=True, publish=kind != VIRTUAL)
    return (f"{where}\n# keyring on PATH: {install_hint()}\n"
            f"{head}\n\n{toml_table(f'[[{prefix}index]]', index)}")


def _poetry_text(repository: Repository, kind: str) -> str:
    return ("# poetry asks keyring when the source URL has no username: keep it out of the URL\n"
            f"poetry self add {install_source()}\n"
            f"poetry source add --priority={poetry_priority(kind)} {repository.name} {repository.index_url}")


def _pdm_text(repository: Repository, kind: str) -> str:
    return ("# pyproject.toml: pdm asks keyring after the first 401, so the source carries no credential.\n"
            f"# keyring in pdm's environment: pdm self add keyring {install_source()}\n"
            f"# (or a keyring command on PATH: {install_hint()})\n"
            f"{toml_table('[[tool.pdm.source]]', pdm_source(repository, kind, first=True))}")


def settings_text(tool: str, url: str, kind: str = DEFAULT_KIND, *, uv_toml: bool = False) -> str:
    """Ready-to-paste configuration for `tool` that gets credentials from keyring: none in it."""
    repository = parse_repository(url)
    if tool in PUBLISH_TEMPLATES:
        return PUBLISH_TEMPLATES[tool].format(upload_url=repository.upload_url, name=repository.name,
                                              install_hint=install_hint(), source=install_source())
    if tool == "uv":
        body = _uv_text(repository, kind, uv_toml=uv_toml)
    else:
        body = {"pip": _pip_text, "poetry": _poetry_text, "pdm": _pdm_text}[tool](repository, kind)
    return f"{rule_comment(tool, kind, repository)}\n{body}"
