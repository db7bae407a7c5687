"""Where a repository is configured as an installer's only index: for `doctor --check-access` to warn
when that repository is a standard one (its own packages only, so no public package is found).

Read are the files `configure` writes: the user's pip configuration file, and in the current folder
pyproject.toml (uv, pdm, poetry) and uv.toml. The folder may be a cloned repository: its files are
read through the one safe reader (tool_files.read_config) and only parsed, never acted on; a file
that cannot be read or parsed is skipped (its tool reports it when run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import GarError
from .ini_edit import ini_values
from .toml_edit import load_toml, lookup
from .tool_files import pip_config_file, read_config


def only_index_places(index_url: str, cwd: Path) -> list[str]:
    """The settings that make `index_url` an installer's only index, as `file: setting` lines."""
    wanted = _normal(index_url)
    places = []
    try:
        pip_file = pip_config_file()
        if any(_normal(v) == wanted for v in ini_values(read_config(pip_file), "global", "index-url", str(pip_file))):
            places.append(f"{pip_file}: pip's index-url")
    except GarError:
        pass
    for name, table in (("pyproject.toml", ("tool", "uv", "index")), ("uv.toml", ("index",))):
        for entry in _entries(cwd / name, table):
            if _normal(str(entry.get("url", ""))) == wanted and entry.get("default") is True:
                places.append(f"{cwd / name}: uv's default index")
    for entry in _entries(cwd / "pyproject.toml", ("tool", "pdm", "source")):
        if _normal(str(entry.get("url", ""))) == wanted and entry.get("name") == "pypi":
            places.append(f"{cwd / 'pyproject.toml'}: pdm's source named pypi")
    for entry in _entries(cwd / "pyproject.toml", ("tool", "poetry", "source")):
        if _normal(str(entry.get("url", ""))) == wanted and entry.get("priority") in ("primary", "default"):
            places.append(f"{cwd / 'pyproject.toml'}: poetry's {entry.get('priority')} source")
    return places


def _entries(path: Path, table: tuple[str, ...]) -> list[dict[str, Any]]:
    try:
        found = lookup(load_toml(read_config(path), str(path)), table)
    except GarError:
        return []
    return [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []


def _normal(url: str) -> str:
    """The URL without a username and trailing slash: pip's form carries `oauth2accesstoken@`."""
    scheme, _, rest = url.strip().partition("://")
    return f"{scheme.lower()}://{rest.rpartition('@')[2].rstrip('/')}" if rest else url.strip().rstrip("/")
