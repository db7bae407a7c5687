"""Adding keys and array-of-tables entries to a TOML file (pyproject.toml, uv.toml) line by line,
keeping every other line and comment as the user wrote it, without a TOML writer dependency.

Only the edits `configure` needs: set a key that is absent in a table, and append a `[[table]]`
entry. The file is parsed before (an unparseable file is refused) and after: the result must read
as the original plus exactly these changes, or nothing is written. Parsing needs tomllib (Python
3.11+) or an installed tomli; without either, a file is refused rather than edited blind.
"""

from __future__ import annotations

import copy
import re
from typing import Any, NamedTuple

from ..errors import EditRefusedError
from .index_rule import TomlValue, toml_table, toml_value


class TomlKey(NamedTuple):
    table: tuple[str, ...]
    """`("tool", "uv")`; `()` for the top level."""
    key: str
    value: TomlValue
    comment: str = ""


class TomlEntry(NamedTuple):
    array: tuple[str, ...]
    """`("tool", "uv", "index")`: the array of tables the entry joins."""
    entry: dict[str, TomlValue]
    comment: str = ""


_HEADER = re.compile(r"\s*\[(?P<array>\[)?\s*(?P<name>[A-Za-z0-9_.\- ]+?)\s*\]\]?\s*(?:#.*)?")


def load_toml(text: str, where: str) -> dict[str, Any]:
    """The parsed document; EditRefusedError when it is not TOML or no parser is available."""
    try:
        import tomllib as toml  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # Python before 3.11
        try:
            import tomli as toml  # type: ignore[import-not-found,no-redef,unused-ignore]
        except ImportError:
            raise EditRefusedError(
                f"reading {where} needs Python 3.11+ or tomli (`pip install tomli` beside keyrings.gar); "
                "or paste what `keyrings-gar settings` prints") from None
    try:
        parsed: dict[str, Any] = toml.loads(text)
    except toml.TOMLDecodeError as exc:
        raise EditRefusedError(f"{where} is not valid TOML ({str(exc)[:200]}); fix it, then run this again") from None
    return parsed


def lookup(document: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = document
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def merge_toml(text: str, keys: list[TomlKey], entries: list[TomlEntry], where: str) -> str:
    """`text` with the absent `keys` set and `entries` appended. A key already set to another value
    is refused; so is an edit that would not read back as exactly the intended change."""
    before = load_toml(text, where)
    expected = copy.deepcopy(before)
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    for item in keys:
        current = lookup(before, (*item.table, item.key))
        if current == item.value:
            continue
        if current is not None:
            dotted = ".".join((*item.table, item.key))
            raise EditRefusedError(f"{where}: {dotted} is already set to another value; to use "
                                   f"{toml_value(item.value)} change or remove it, then run this again")
        _set(expected, item.table, item.key, item.value)
        _insert_key(lines, item)
    for entry in entries:
        _append(expected, entry.array, entry.entry)
        if lines and lines[-1].strip():
            lines.append("\n")
        comment = "".join(f"{line}\n" for line in entry.comment.splitlines())
        lines.append(comment + toml_table(f"[[{'.'.join(entry.array)}]]", entry.entry) + "\n")
    result = "".join(lines)
    if load_toml(result, where) != expected:
        raise EditRefusedError(f"{where} is laid out in a way this command cannot merge into safely; paste what "
                               "`keyrings-gar settings` prints by hand")
    return result


def _set(document: dict[str, Any], table: tuple[str, ...], key: str, value: TomlValue) -> None:
    node = document
    for part in table:
        node = node.setdefault(part, {})
    node[key] = value


def _append(document: dict[str, Any], array: tuple[str, ...], entry: dict[str, TomlValue]) -> None:
    node = document
    for part in array[:-1]:
        node = node.setdefault(part, {})
    node.setdefault(array[-1], []).append(dict(entry))


def _insert_key(lines: list[str], item: TomlKey) -> None:
    """Right below the table's own `[header]` (or at the top for the top level): a line that starts
    a header or the file is never inside a multi-line value, so the key lands in that table.
    Without the header, a new one at the end (TOML allows a table's header after its sub-tables')."""
    new = "".join(f"{line}\n" for line in item.comment.splitlines()) + f"{item.key} = {toml_value(item.value)}\n"
    if not item.table:
        lines[0:0] = [new, "\n"] if lines else [new]
        return
    name = ".".join(item.table)
    for number, line in enumerate(lines):
        match = _HEADER.fullmatch(line.rstrip("\n"))
        if match is not None and match.group("array") is None and _normalise(match.group("name")) == name:
            lines[number + 1:number + 1] = [new]
            return
    if lines and lines[-1].strip():
        lines.append("\n")
    lines.append(f"[{name}]\n{new}")


def _normalise(name: str) -> str:
    return ".".join(part.strip() for part in name.split("."))
