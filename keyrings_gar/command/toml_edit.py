"""Adding keys and array-of-tables entries to a TOML file (pyproject.toml, uv.toml) in place,
keeping every other byte as the user wrote it, without a TOML writer dependency.

Only the edits `configure` needs: set a key that is absent in a table, and add an entry to an array
of tables, in whichever form TOML lets the file hold them: a `[table]` header, dotted keys, an
inline table, an inline array of tables (one line or several) or `[[table]]` entries. A small
scanner finds where each form lives; each candidate edit is parsed again and taken only when it
reads as the original plus exactly this change. When no candidate does, nothing is written and the
user is given the lines to add. Parsing needs tomllib (Python 3.11+) or an installed tomli; without
either, a file is refused rather than edited blind.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from types import ModuleType
from typing import Any, NamedTuple

from ..errors import EditRefusedError
from .index_rule import TomlValue, toml_table, toml_value
from .toml_scan import BARE, Scan, UnscannableError, Value, indent_at
from .tool_files import comment_lines, line_ending


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


def _toml_module(where: str) -> ModuleType:
    """tomllib, or tomli before Python 3.11: no dependency of ours, so looked for only when a file
    must be read, and its absence refuses that edit rather than the whole command."""
    try:
        import tomllib as toml  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # Python before 3.11
        try:
            import tomli as toml  # type: ignore[import-not-found,no-redef,unused-ignore]
        except ImportError:
            raise EditRefusedError(
                f"reading {where} needs Python 3.11+ or tomli (`pip install tomli` beside keyrings.gar); "
                "or paste what `keyrings-gar settings` prints") from None
    return toml  # type: ignore[no-any-return,unused-ignore]


def load_toml(text: str, where: str) -> dict[str, Any]:
    """The parsed document; EditRefusedError when it is not TOML or no parser is available."""
    toml = _toml_module(where)
    try:
        parsed: dict[str, Any] = toml.loads(text)
    except toml.TOMLDecodeError as exc:
        raise EditRefusedError(f"{where} is not valid TOML ({str(exc)[:200]}); fix it, then run this again") from None
    except RecursionError:  # valid TOML, nested deeper than the parser's recursion reaches
        raise EditRefusedError(f"{where}: configure cannot edit this form (values nested hundreds deep); add what "
                               "`keyrings-gar settings` prints by hand") from None
    return parsed


def lookup(document: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = document
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def merge_toml(text: str, keys: list[TomlKey], entries: list[TomlEntry], where: str) -> str:
    """`text` with the absent `keys` set and `entries` appended; a key already set to another value
    is refused, and so is a file no candidate edit fits (the module docstring says how)."""
    before = load_toml(text, where)
    expected = copy.deepcopy(before)
    changes: list[TomlKey | TomlEntry] = []
    for item in keys:
        current = lookup(before, (*item.table, item.key))
        if current == item.value:
            continue
        if current is not None:
            dotted = ".".join((*item.table, item.key))
            raise EditRefusedError(f"{where}: {dotted} is already set to another value; to use "
                                   f"{toml_value(item.value)} change or remove it, then run this again")
        changes.append(item)
    changes.extend(entries)
    newline = line_ending(text)
    result = text
    for change in changes:
        if isinstance(change, TomlKey):
            table = change.table
            _set(expected, table, change.key, where)[change.key] = change.value
        else:
            table = change.array[:-1]
            _array(expected, table, change.array[-1], where).append(dict(change.entry))
        for edits in _candidates(result, change):
            candidate = _apply(result, edits, newline)
            with contextlib.suppress(EditRefusedError):  # this candidate broke the file: the next one is tried
                if load_toml(candidate, where) == expected:
                    result = candidate
                    break
        else:
            raise EditRefusedError(f"{where}: configure cannot edit this form of {'.'.join(table) or 'the top level'}; "
                                   f"add these lines, then run this again:\n{_by_hand(text, changes)}")
    return result


def _set(document: dict[str, Any], table: tuple[str, ...], key: str, where: str) -> dict[str, Any]:
    """The table `key` goes in, made where absent; refused where a part is not a table."""
    node = document
    for depth, part in enumerate(table):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise EditRefusedError(f"{where}: {'.'.join(table[:depth + 1])} is not a table, so {key} cannot go in "
                                   "it; fix it, then run this again")
    return node


def _array(document: dict[str, Any], table: tuple[str, ...], key: str, where: str) -> list[Any]:
    array = _set(document, table, key, where).setdefault(key, [])
    if not isinstance(array, list):
        raise EditRefusedError(f"{where}: {'.'.join((*table, key))} is not an array of tables; fix it, then run "
                               "this again")
    return array


# --- the candidate edits, most natural first ------------------------------------------------


def _scan(text: str) -> Scan | None:
    try:
        return Scan(text)
    except (UnscannableError, RecursionError):  # a form the scanner does not follow: only edits at the ends
        return None


def _candidates(text: str, change: TomlKey | TomlEntry) -> Iterator[list[tuple[int, str]]]:
    scan = _scan(text)
    comment = change.comment
    if isinstance(change, TomlKey):
        line = f"{_dotted((change.key,))} = {toml_value(change.value)}"
        yield from _key_edits(text, scan, change.table, line, comment)
        if not change.table:  # top-level keys come before any header
            yield [(0, comment_lines(comment) + line + "\n" + ("\n" if text else ""))]
        else:
            yield [_at_end(text, f"[{_dotted(change.table)}]\n{comment_lines(comment)}{line}\n")]
        return
    inline = _inline_table(change.entry)
    array = scan.value(change.array, "array") if scan else None
    if array is not None:
        yield _array_edit(text, array, inline, comment)
    yield [_at_end(text, comment_lines(comment) + toml_table(f"[[{_dotted(change.array)}]]", change.entry) + "\n")]
    # An absent array where `[[...]]` cannot go (its table is inline or made by dotted keys): a key.
    yield from _key_edits(text, scan, change.array[:-1], f"{_dotted(change.array[-1:])} = [{inline}]", comment)


def _key_edits(text: str, scan: Scan | None, table: tuple[str, ...], line: str, comment: str
               ) -> Iterator[list[tuple[int, str]]]:
    """`line` (`key = value`) put where the file already holds `table`."""
    if scan is None:
        return
    header = next((h for h in scan.headers if h.path == table and not h.array), None)
    if header is not None:  # right below the table's own `[header]`
        yield [_line_at(text, header.after, comment_lines(comment) + line + "\n")]
    inline = scan.value(table, "table")
    if inline is not None:  # an inline table takes the key inside its braces
        yield [_inside_braces(inline, line), _above(inline, comment)]
    for held in scan.values:
        if len(held.path) > len(table) >= len(held.container) + 1 and held.path[:len(table)] == table:
            # The table exists only through dotted keys (`uv.index = ...` under `[tool]`): one more beside them.
            dotted = f"{_dotted(table[len(held.container):])}.{line}"
            if held.inline:
                holder = scan.value(held.container, "table")
                if holder is not None:
                    yield [_inside_braces(holder, dotted), _above(holder, comment)]
            else:
                yield [_line_at(text, held.after, comment_lines(comment, held.indent) + held.indent + dotted + "\n")]
            break


def _array_edit(text: str, array: Value, inline: str, comment: str) -> list[tuple[int, str]]:
    """One more element in an inline array, in the array's own layout: on a line of its own (with
    the comment above it) where the closing bracket has its own line, else after the last element."""
    close = array.end - 1
    close_line = text.rfind("\n", 0, close) + 1
    empty = array.last == array.start + 1
    if "\n" in text[array.start:array.end] and not text[close_line:close].strip():
        last_line = text.rfind("\n", 0, array.last) + 1
        indent = text[close_line:close] + "    " if empty else indent_at(text, last_line)
        block = comment_lines(comment, indent)
        edits = [(close_line, f"{block}{indent}{inline}{',' if array.trailing_comma else ''}\n")]
        if not empty and not array.trailing_comma:
            edits.append((array.last, ","))
        return edits
    if empty:
        return [(array.last, inline), _above(array, comment)]
    if array.trailing_comma:
        return [(close, f" {inline},"), _above(array, comment)]
    return [(array.last, f", {inline}"), _above(array, comment)]


def _inside_braces(table: Value, line: str) -> tuple[int, str]:
    return (table.last, f" {line} ") if table.last == table.start + 1 else (table.last, f", {line}")


def _above(value: Value, comment: str) -> tuple[int, str]:
    """Comment lines above the statement that holds `value` (nothing fits inside one line)."""
    return value.line, comment_lines(comment, value.indent)


def _line_at(text: str, at: int, block: str) -> tuple[int, str]:
    return at, ("\n" if at == len(text) and text and not text.endswith("\n") else "") + block


def _at_end(text: str, block: str) -> tuple[int, str]:
    if not text.strip():
        return len(text), block
    ending = "" if text.endswith("\n") else "\n"
    blank = "" if text.endswith(("\n\n", "\r\n\r\n")) else "\n"
    return len(text), ending + blank + block


def _apply(text: str, edits: list[tuple[int, str]], newline: str) -> str:
    for at, inserted in sorted(edits, key=lambda edit: edit[0], reverse=True):
        text = text[:at] + inserted.replace("\n", newline) + text[at:]
    return text


def _inline_table(entry: dict[str, TomlValue]) -> str:
    return "{ " + ", ".join(f"{_dotted((key,))} = {toml_value(value)}" for key, value in entry.items()) + " }"


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(part if BARE.fullmatch(part) else toml_value(part) for part in path)


def _by_hand(text: str, changes: list[TomlKey | TomlEntry]) -> str:
    """The lines each change needs, in the form the file holds its table or array."""
    scan = _scan(text)
    lines = []
    for change in changes:
        if isinstance(change, TomlKey):
            where = f"in the table {_dotted(change.table)}" if change.table else "at the top, before any [table]"
            lines.append(f"  {where}: {_dotted((change.key,))} = {toml_value(change.value)}")
        elif scan is not None and scan.value(change.array, "array") is not None:
            lines.append(f"  in the array {_dotted(change.array)}: {_inline_table(change.entry)}")
        else:
            lines.extend(f"  {line}" for line in toml_table(f"[[{_dotted(change.array)}]]", change.entry).splitlines())
    return "\n".join(lines)
