"""An Artifact Registry repository, parsed once from its URL into the forms installers and the API
take, and how it joins each installer's indexes: the one rule per repository kind that `settings`
prints and `configure` writes, so that the two can never disagree.

- A *virtual* repository fronts PyPI (or other upstreams) with its own priorities and policy: it is
  Artifact Registry's answer to dependency confusion, so it becomes the one and only index.
- A *standard* repository holds only private packages, so PyPI stays; each installer gets the
  guard it has against a public package taking a private one's name, and a comment where it has
  none.

Nothing here can tell the two kinds apart from a URL: the user says which, or the API (mode_choice.py).
"""

from __future__ import annotations

import re
import textwrap
from typing import Any, NamedTuple, Union

from ..config import trusted_hosts
from ..config_entries import TOKEN_USERNAMES
from ..errors import EditRefusedError, GarError
from ..hosts import RepositoryTarget, classify_service, parse_service
from ..redact import showable
from .ini_edit import IniOption
from .shown import safe_url

VIRTUAL = "virtual"
STANDARD = "standard"
# The default fails closed: a standard repository configured as the only index shows at once as a
# public package that cannot be found; a virtual one configured beside PyPI would quietly keep the
# dependency-confusion risk that a virtual repository exists to remove.
DEFAULT_KIND = VIRTUAL

INSTALLERS = ("pip", "uv", "poetry", "pdm", "twine")
"""The tools `configure` writes configuration for and `doctor --installer` checks."""

USERNAME = TOKEN_USERNAMES[0]
"""The username Artifact Registry documents for an access token; not a secret."""

TomlValue = Union[str, bool]


class Repository(NamedTuple):
    host: str
    location: str
    """`us-central1`; `""` on a host from KEYRINGS_GAR_HOSTS."""
    project: str
    repository: str
    name: str
    """The index, source or server name in each installer: the repository's own, or --name."""

    @classmethod
    def from_target(cls, target: RepositoryTarget) -> Repository | None:
        """None when the URL does not name both a project and a repository (a bare host)."""
        segments = target.repository_path.split("/")[1:]
        if len(segments) < 2:
            return None
        return cls(target.host, target.location, segments[0], segments[1], segments[1])

    @property
    def target(self) -> RepositoryTarget:
        """What a lookup for the index URL is about: whose credential the repository gets."""
        return RepositoryTarget(self.host, f"/{self.project}/{self.repository}/simple/")

    @property
    def upload_url(self) -> str:
        """twine's and `publish`'s URL."""
        return f"https://{self.host}/{self.project}/{self.repository}/"

    @property
    def index_url(self) -> str:
        return f"{self.upload_url}simple/"

    @property
    def user_index_url(self) -> str:
        """The index URL with the username: pip before 26.2 asks keyring only when it has one."""
        return self.index_url.replace("https://", f"https://{USERNAME}@", 1)

    def page_url(self, package: str) -> str:
        """The package's page, its name normalized as PEP 503 and installers write it."""
        return f"{self.index_url}{re.sub(r'[-_.]+', '-', package).lower()}/"

    @property
    def resource(self) -> str:
        """The Artifact Registry API's name for it."""
        return f"projects/{self.project}/locations/{self.location or 'LOCATION'}/repositories/{self.repository}"


# Artifact Registry's own names are this plain; anything else would need quoting in an INI section
# or a shell command, and is not a repository.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def parse_repository(url: str) -> Repository:
    """The repository a URL in any form we accept names; GarError with the reason otherwise."""
    target = classify_service(url, trusted_hosts())
    if isinstance(target, str) and "://" not in url:
        target = parse_service(f"https://{url}", trusted_hosts()) or target
    if isinstance(target, str):
        raise GarError(f"{safe_url(url)} is not an Artifact Registry Python repository: {target}")
    repository = Repository.from_target(target)
    if repository is None:
        raise GarError("give the repository's URL: https://<location>-python.pkg.dev/<project>/<repository>/")
    if not (_PLAIN_NAME.fullmatch(repository.project) and _PLAIN_NAME.fullmatch(repository.repository)):
        raise GarError(f"{safe_url(url)} does not name a repository: project and repository names are letters, "
                       "digits, `-`, `.` and `_`")
    return repository


def renamed(repository: Repository, name: str) -> Repository:
    """The repository under the index, source or section name the user chose (`configure --name`)."""
    if not showable(name):
        raise GarError("--name holds what looks like a key or token, not a name")
    if not _PLAIN_NAME.fullmatch(name):
        raise GarError(f"--name {name!r} is not a name: use letters, digits, `-`, `.` and `_`")
    return repository._replace(name=name)


_NO_CONFUSION = ("it fronts PyPI under its own upstream policy, so no public package can take a private one's name "
                 "(dependency confusion)")
_EITHER = ("takes the {best} version from either index, so whoever publishes a private package's name on PyPI {wins} "
           "(dependency confusion). A virtual repository in front of both, configured with --virtual as the only "
           "{what}, closes that.")
# Per tool: what a virtual repository becomes there and how it replaces PyPI, where --standard puts a
# standard one instead, and what guards that standard one.
_RULES = {
    "pip": ("index", "", "added beside PyPI",
            "A standard repository beside PyPI: pip " + _EITHER.format(best="highest", wins="wins", what="index")),
    "uv": ("index", " (default = true replaces PyPI)", "asked before PyPI",
           ("A standard repository, asked before PyPI: with uv's first-index strategy a name found here is never "
            "taken from PyPI, so a public package cannot take a private one's name (dependency confusion); every "
            "other name still comes from PyPI.")),
    "poetry": ("source", " (priority primary turns the implicit PyPI off)", "explicit",
               ("A standard repository, explicit: only packages added with `poetry add --source {name} PACKAGE` come "
                "from it, so a public package cannot take a private one's name (dependency confusion); the rest come "
                "from PyPI.")),
    "pdm": ("source", " (a source named pypi replaces PyPI)", "added beside PyPI",
            "A standard repository beside PyPI: pdm " + _EITHER.format(best="best", wins="can win", what="source")),
}


def rule_comment(tool: str, kind: str, repository: Repository) -> str:
    """The rule for `kind` in `tool` and why, as the comment lines `settings` prints and `configure` writes."""
    what, replaces, placed, standard = _RULES[tool]
    text = (f"A virtual repository is the only {what}{replaces}: {_NO_CONFUSION}. For a standard repository use "
            f"--standard: it is then {placed}." if kind == VIRTUAL else standard.format(name=repository.name))
    return "\n".join(f"# {line}" for line in textwrap.wrap(text, 98, break_on_hyphens=False))


def pip_options(repositories: list[Repository], kind: str) -> list[IniOption]:
    """pip.conf's `[global]` options: the index URLs with the username (see `user_index_url`), the
    rule's comment above the first, and the keyring provider."""
    urls = [r.user_index_url for r in repositories]
    comment = rule_comment("pip", kind, repositories[0])
    options = [IniOption("global", "index-url", (urls.pop(0),), comment=comment)] if kind == VIRTUAL else []
    if urls:
        options.append(IniOption("global", "extra-index-url", tuple(urls), is_list=True,
                                 comment="" if options else comment))
    return [*options, IniOption("global", "keyring-provider", ("subprocess",),
                                comment="# pip runs the `keyring` command on PATH, which holds keyrings.gar")]


def uv_index(repository: Repository, kind: str, *, first: bool, publish: bool = True) -> dict[str, TomlValue]:
    """One `[[index]]` table. `authenticate = "always"`: uv asks keyring before the first request
    with no username in the URL (without it uv skips keyring when it has no username). No
    `publish-url` for a repository that takes no uploads (`publish` False)."""
    entry: dict[str, TomlValue] = {"name": repository.name, "url": repository.index_url}
    if publish:
        entry["publish-url"] = repository.upload_url
    entry["authenticate"] = "always"
    if kind == VIRTUAL and first:
        entry["default"] = True
    return entry


def pdm_source(repository: Repository, kind: str, *, first: bool) -> dict[str, TomlValue]:
    """One `[[tool.pdm.source]]` table; pdm asks keyring after the first 401, so no username."""
    name = "pypi" if kind == VIRTUAL and first else repository.name
    return {"name": name, "url": repository.index_url}


def poetry_priority(kind: str) -> str:
    return "primary" if kind == VIRTUAL else "explicit"


def toml_value(value: TomlValue) -> str:
    """A TOML literal for the values we write: strings (repository URLs and names) and booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def toml_table(header: str, entry: dict[str, TomlValue]) -> str:
    return "\n".join([header, *(f"{key} = {toml_value(value)}" for key, value in entry.items())])


def new_entries(existing: Any, wanted: list[dict[str, TomlValue]], what: str, where: str
                 ) -> list[dict[str, TomlValue]]:
    """The wanted entries not there yet. One there with the same URL or name but other settings
    is refused, not rewritten: it was written by someone, for a reason we cannot see."""
    present = [e for e in existing if isinstance(e, dict)] if isinstance(existing, list) else []
    missing = []
    for entry in wanted:
        url = str(entry["url"]).rstrip("/")
        same = [e for e in present if str(e.get("url", "")).rstrip("/") == url or e.get("name") == entry["name"]]
        if not same and entry.get("default") and any(e.get("default") for e in present):
            raise EditRefusedError(f"{where}: another {what} is already the default; a virtual repository "
                                   "replaces it: remove its `default = true`, or pass --standard")
        if any(e.get(key) != value for e in same for key, value in entry.items()):
            raise EditRefusedError(
                f"{where}: a {what} named {same[0].get('name')!r} or for {entry['url']} is there with other settings; "
                f"change or remove it by hand (`keyrings-gar settings` prints the entry), then run this again")
        if not same:
            missing.append(entry)
    return missing
