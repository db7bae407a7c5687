"""Which kind of repository `configure` writes for: the one the user names (--virtual, --standard),
else the mode the Artifact Registry API reports for it. Never a guess: a repository whose mode
cannot be asked stops `configure` before anything is written, with the reason and the flags.

A virtual or remote repository fronts PyPI: it becomes the only index, and takes no uploads. A
standard one holds private packages only: it goes beside PyPI (index_rule.py), and takes uploads.
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import GarError
from .index_rule import STANDARD, VIRTUAL, Repository

_FLAGS = ("pass --virtual (a virtual repository fronts PyPI: the only index) or --standard (a standard one holds "
          "private packages only: added beside PyPI)")


class KindChoice(NamedTuple):
    """The index rule to write and which repositories take no uploads (by index URL)."""

    kind: str
    no_uploads: frozenset[str]
    said: tuple[str, ...] = ()
    """What configure reports about the choice."""


def choose_kind(repositories: list[Repository], kind: str | None) -> KindChoice:
    """The user's `kind`, else each repository's mode as the API reports it; GarError when unknown."""
    if kind is not None:
        no_uploads = frozenset([repositories[0].index_url]) if kind == VIRTUAL else frozenset()
        return KindChoice(kind, no_uploads)
    # Here: requests and google-auth (about 290 ms of imports) only when the API is asked.
    from .access_check import api_facts
    from .registry_api import STANDARD as STANDARD_MODE
    from .registry_api import mode_name

    modes: list[str] = []
    for repository in repositories:
        answer = api_facts(repository)
        if answer.missing:
            raise GarError(f"Artifact Registry has no repository {repository.name} there (its API says so); check "
                           "the URL against `gcloud artifacts repositories list`; nothing was written")
        if answer.mode is None:
            raise GarError(f"cannot tell whether {repository.name} is a virtual or a standard repository: "
                           f"{answer.problem}; {_FLAGS}; nothing was written")
        modes.append(answer.mode)
    fronting = [n for n, mode in enumerate(modes) if mode != STANDARD_MODE]
    if fronting and fronting != [0]:
        raise GarError("only the first repository can be the only index: name the virtual (or remote) repository "
                       "first and at most one of them; nothing was written")
    said = tuple(f"{r.name} is a {mode_name(mode)} repository (the Artifact Registry API says so): "
                 + ("the only index" if mode != STANDARD_MODE else "added beside PyPI")
                 for r, mode in zip(repositories, modes))
    no_uploads = frozenset(r.index_url for r, mode in zip(repositories, modes) if mode != STANDARD_MODE)
    return KindChoice(VIRTUAL if fronting else STANDARD, no_uploads, said)


_PUBLISHING_TOOLS = ("twine",)
"""Tools configured only to upload: refused for a repository that takes none."""
_UPLOADING_TOOLS = ("uv", "poetry", "twine")


def refuse_uploads(tool: str, repositories: list[Repository], choice: KindChoice) -> None:
    """GarError when a publishing tool is configured for a repository that takes no uploads."""
    if tool not in _PUBLISHING_TOOLS:
        return
    for repository in repositories:
        if repository.index_url in choice.no_uploads:
            raise GarError(f"{repository.name} is a virtual (or remote) repository, which takes no uploads: configure "
                           f"{tool} for the standard repository behind it; nothing was written")


def upload_offers(tool: str, repositories: list[Repository], choice: KindChoice) -> list[str]:
    """Where uploads go: the upload check for a repository that takes them (from tools that
    publish), and for one that takes none, where they go instead."""
    lines = []
    for repository in repositories:
        if repository.index_url in choice.no_uploads:
            lines.append(f"note: {repository.name} takes no uploads (a virtual or remote repository): uploads go to a "
                         "standard repository behind it")
        elif tool in _UPLOADING_TOOLS:
            lines.append(f"check uploading without uploading: keyrings-gar doctor --check-access --for upload "
                         f"{repository.index_url}")
    return lines
