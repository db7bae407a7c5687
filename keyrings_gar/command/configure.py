"""`keyrings-gar configure TOOL URL...`: write the installer's own configuration for Artifact Registry
repositories, as `gcloud auth configure-docker` does for Docker, following index_rule.py (the
same rule `settings` prints). Never a credential: only index entries, the keyring provider and
the username that makes a tool ask keyring.

Where each tool's configuration goes, and why:
- pip: the user's pip configuration file, the one `pip config --user` edits (or PIP_CONFIG_FILE
  when that names one, since pip then reads it over the others). Edited line by line here, not
  with `pip config set`, which rewrites the file through configparser and drops its comments.
- uv: the project's pyproject.toml (`[tool.uv]`), or uv.toml with --uv-toml: uv reads both, and
  a pyproject setting travels with the project.
- pdm: the project's pyproject.toml (`[[tool.pdm.source]]`), where pdm reads sources.
- poetry: the project's pyproject.toml (`[[tool.poetry.source]]`, what `poetry source add` writes)
  and poetry's own config.toml (`repositories.NAME.url`, what `poetry config` writes), edited
  here: poetry is never run, since in the project's folder it loads the project's plugins (which a
  cloned repository chooses), and `poetry config` writes config.toml even to read it.
- twine: ~/.pypirc, twine's default, edited line by line like pip's file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from ..errors import EditRefusedError, GarError
from ..redact import shown_path
from .index_rule import (
    USERNAME,
    VIRTUAL,
    Repository,
    TomlValue,
    new_entries,
    parse_repository,
    pdm_source,
    pip_options,
    poetry_priority,
    renamed,
    rule_comment,
    uv_index,
)
from .ini_edit import IniOption, ini_section, ini_values, merge_ini
from .installer_reach import reach_problem
from .mode_choice import choose_kind, refuse_uploads, upload_offers
from .pip_precedence import pip_overrides
from .shown import safe_url
from .toml_edit import TomlEntry, TomlKey, load_toml, lookup, merge_toml
from .tool_files import FileChange, pip_config_file, poetry_config_file, read_config, write_config


class Where(NamedTuple):
    """Where `configure` runs and what the user chose to edit."""

    cwd: Path
    """The project's folder (uv, pdm, poetry)."""
    file: Path | None = None
    """--file: the file to edit instead of the tool's usual one."""
    uv_toml: bool = False
    name: str | None = None
    """--name: the index, source or section name for the one repository, instead of its own."""


class Plan(NamedTuple):
    """What `configure` would do: the files to change (it runs no program)."""

    files: list[FileChange]
    next_steps: list[str]
    warnings: Sequence[str] = ()
    """What would override or add to what is written (`configure pip`: PIP_* variables, older files)."""


# --- pip and twine: INI files ---------------------------------------------------------------


def _pip_plan(repositories: list[Repository], kind: str, path: Path) -> Plan:
    options = pip_options(repositories, kind)
    before = read_config(path)
    # The same repository as the only index and beside PyPI would be neither rule: one kind at a time.
    other_kind = "extra-index-url" if kind == VIRTUAL else "index-url"
    moved = repositories[:1] if kind == VIRTUAL else repositories
    if {url for r in moved for url in (r.user_index_url, r.index_url)} & set(
            ini_values(before, "global", other_kind, str(path))):
        raise EditRefusedError(f"{path} already has this repository as {other_kind}, the other kind's setting; "
                               "remove that line to change its kind, then run this again")
    change = FileChange(path, before, merge_ini(before, options, str(path)))
    return Plan([change], ["pip install PACKAGE"], pip_overrides(path, {option.key for option in options}))


def _twine_plan(repositories: list[Repository], path: Path) -> Plan:
    before = read_config(path)
    options = [IniOption("distutils", "index-servers", tuple(r.name for r in repositories), is_list=True)]
    for r in repositories:
        _twine_section_is_free(before, r, path)
        # The username makes twine ask keyring for its password.
        options += [IniOption(r.name, "repository", (r.upload_url,)), IniOption(r.name, "username", (USERNAME,))]
    # twine's file may hold passwords: a new one is private from its first byte, as ~/.netrc is.
    change = FileChange(path, before, merge_ini(before, options, str(path)), new_mode=0o600)
    return Plan([change], [f"twine upload -r {r.name} dist/*" for r in repositories])


# twine's own names: `twine upload` without -r uses [pypi], and both may hold a PyPI token.
TWINE_RESERVED = ("pypi", "testpypi")


def _twine_section_is_free(text: str, repository: Repository, path: Path) -> None:
    """A section of that name is ours to add to only when it already points at this repository:
    merged into [pypi] (or any section meant for another server), the section's password would go
    to Artifact Registry, and a plain `twine upload` would upload there."""
    name = repository.name
    if name.lower() in TWINE_RESERVED:
        raise EditRefusedError(f"a repository named {name} would take twine's own [{name.lower()}] section (PyPI's, "
                               "where a PyPI token may be): pass --name with another name")
    existing = ini_section(text, name, str(path))
    if existing is not None and existing.get("repository", "").rstrip("/") != repository.upload_url.rstrip("/"):
        server = safe_url(existing["repository"]) if existing.get("repository") else "PyPI (no repository line)"
        raise EditRefusedError(f"{path} already has a [{name}] section, for {server}: configure does not merge into "
                               "it; pass --name with another name, or rename that section")


# --- uv and pdm: TOML files -----------------------------------------------------------------


class ProjectFile(NamedTuple):
    """A TOML file to edit, and the project folder it must stay inside (None: a file the user named)."""

    path: Path
    project: Path | None


def _toml_change(file: ProjectFile, keys: list[TomlKey], array: tuple[str, ...], entries: list[dict[str, TomlValue]],
                 comment: str) -> FileChange:
    """`keys` set and `entries` added to the array of tables `array` (`comment` above the first),
    those not there yet (a message calls one by the array's last name: an index, a source)."""
    path, project = file
    before = read_config(path, project)
    missing = new_entries(lookup(load_toml(before, str(path)), array), entries, array[-1], str(path))
    added = [TomlEntry(array, entry, comment if n == 0 else "") for n, entry in enumerate(entries) if entry in missing]
    return FileChange(path, before, merge_toml(before, keys, added, str(path)), project=project)


def _project_file(cwd: Path, tool: str) -> Path:
    path = cwd / "pyproject.toml"
    if not path.exists():
        raise GarError(f"no pyproject.toml in {shown_path(cwd)}: run this in the project's folder (after `{tool} init`)"
                       + (", or pass --uv-toml to write uv.toml" if tool == "uv" else ""))
    return path


def _uv_plan(repositories: list[Repository], kind: str, file: ProjectFile, uploads: list[Repository], *,
             uv_toml: bool) -> Plan:
    table: tuple[str, ...] = () if uv_toml else ("tool", "uv")
    keys = [TomlKey(table, "keyring-provider", "subprocess",
                    "# uv runs the `keyring` command on PATH, which holds keyrings.gar")]
    indexes = [uv_index(r, kind, first=n == 0, publish=r in uploads) for n, r in enumerate(repositories)]
    comment = rule_comment("uv", kind, repositories[0])
    change = _toml_change(file, keys, (*table, "index"), indexes, comment)
    publish = [f"uv publish --index {r.name} --username {USERNAME}" for r in uploads]
    return Plan([change], ["uv add PACKAGE (or uv sync)", *publish])


def _pdm_plan(repositories: list[Repository], kind: str, file: ProjectFile) -> Plan:
    sources = [pdm_source(r, kind, first=n == 0) for n, r in enumerate(repositories)]
    comment = rule_comment("pdm", kind, repositories[0])
    change = _toml_change(file, [], ("tool", "pdm", "source"), sources, comment)
    return Plan([change], ["pdm add PACKAGE"])


# --- poetry: its two files -------------------------------------------------------------------


def _poetry_plan(repositories: list[Repository], kind: str, cwd: Path, uploads: list[Repository]) -> Plan:
    for repository in repositories:
        if repository.name.lower() == "pypi" or "." in repository.name:
            raise EditRefusedError(f"poetry keeps the source name {repository.name!r} for PyPI or reads a dot in it as "
                                   "a nested key: pass --name with another name")
    sources: list[dict[str, TomlValue]] = [{"name": r.name, "url": r.index_url, "priority": poetry_priority(kind)}
                                           for r in repositories]
    comment = rule_comment("poetry", kind, repositories[0])
    files = [_toml_change(ProjectFile(_project_file(cwd, "poetry"), cwd), [], ("tool", "poetry", "source"), sources,
                          comment)]
    # poetry publish -r NAME needs the repository's upload URL in poetry's own config.
    keys = [TomlKey(("repositories", r.name), "url", r.upload_url) for r in uploads]
    if keys:
        config = poetry_config_file()
        before = read_config(config)
        files.append(FileChange(config, before, merge_toml(before, keys, [], str(config))))
    add = "poetry add PACKAGE" if kind == VIRTUAL else f"poetry add --source {repositories[0].name} PACKAGE"
    return Plan(files, [add, *(f"poetry publish -r {r.name}" for r in uploads)])


# --- the command ----------------------------------------------------------------------------


def plan_configure(tool: str, parsed: list[Repository], kind: str, where: Where,
                   no_uploads: frozenset[str] = frozenset()) -> Plan:
    """What `configure` would change; nothing is written. GarError when it would not be safe.
    `no_uploads`: the index URLs of repositories that take no uploads (no publish settings)."""
    if where.name is not None and len(parsed) != 1:
        raise GarError("--name names one repository: pass one URL with it")
    # dict.fromkeys: each repository once, in the order given.
    repositories = list(dict.fromkeys(parsed if where.name is None else [renamed(parsed[0], where.name)]))
    names = [r.name for r in repositories]
    if len(set(names)) != len(names):
        raise GarError("two repositories share a name; configure them one at a time with --file or by hand")
    uploads = [r for r in repositories if r.index_url not in no_uploads]
    file, cwd = where.file, where.cwd
    # The project's own file (not one the user named) must stay inside the project folder.
    project = None if file else cwd
    if tool == "pip":
        return _pip_plan(repositories, kind, file or pip_config_file())
    if tool == "twine":
        return _twine_plan(repositories, file or Path.home() / ".pypirc")
    if tool == "uv":
        path = file or (cwd / "uv.toml" if where.uv_toml else _project_file(cwd, "uv"))
        return _uv_plan(repositories, kind, ProjectFile(path, project), uploads,
                        uv_toml=where.uv_toml or path.name == "uv.toml")
    if tool == "pdm":
        return _pdm_plan(repositories, kind, ProjectFile(file or _project_file(cwd, "pdm"), project))
    # poetry: the one tool left, as cli.py's choices (INSTALLERS) allow no other.
    if file is not None:
        raise GarError("poetry edits its own files: run configure in the project's folder, without --file")
    return _poetry_plan(repositories, kind, cwd, uploads)


def configure(tool: str, urls: list[str], kind: str | None, where: Where, *, dry_run: bool) -> str:
    """Plan, then (without --dry-run) apply; the report for people. `kind` None: each repository's
    mode is asked of the Artifact Registry API (mode_choice.py)."""
    repositories = [parse_repository(url) for url in urls]
    choice = choose_kind(repositories, kind)
    refuse_uploads(tool, repositories, choice)
    plan = plan_configure(tool, repositories, choice.kind, where, choice.no_uploads)
    lines = list(choice.said)
    verb = "would change" if dry_run else "changed"
    for change in plan.files:
        if change.changed:
            if not dry_run:
                write_config(change)
            lines.extend([f"{verb} {change.path}:", change.diff().rstrip("\n")])
    lines.extend(f"nothing to change in {change.path}" for change in plan.files if not change.changed)
    lines.extend(f"warning: {warning}" for warning in plan.warnings)
    if dry_run:
        # A dry run runs no program, and the reach check starts the installer's own Python.
        lines.append(f"dry run: nothing written; whether {tool} reaches keyrings.gar was not checked "
                     f"(`keyrings-gar doctor --installer {tool}` checks it)")
    else:
        problem = reach_problem(tool)
        if problem is not None:
            lines.append(f"warning: {problem}")
        lines.extend(f"next: {step}" for step in plan.next_steps)
    lines.extend(upload_offers(tool, repositories, choice))
    return "\n".join(lines)
