"""Where each key and value of a TOML file is: a scanner for TOML's layout, not its values, so that
`configure` can edit a file in place (tomllib parses the values; this finds where they are)."""

from __future__ import annotations

import re
from typing import NamedTuple

BARE = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR = re.compile(r"[^,\]}#\r\n]+")
_INDENT = re.compile(r"[ \t]*")
ARRAY_ELEMENT = "[]"
"""A path part standing for "an element of": such paths are never a target of ours."""


class UnscannableError(Exception):
    """The scanner met a layout it does not follow (tomllib read the file, so this is its gap)."""


class Header(NamedTuple):
    path: tuple[str, ...]
    array: bool
    after: int
    """Where the line after the header starts."""


class Value(NamedTuple):
    path: tuple[str, ...]
    container: tuple[str, ...]
    """The table whose statement (or inline table) holds the key."""
    inline: bool
    kind: str
    """`array`, `table` (an inline one) or `scalar`."""
    start: int
    end: int
    last: int
    """Arrays and inline tables: after the last element, or after the opening bracket when empty."""
    trailing_comma: bool
    line: int
    """Where the line of the top-level statement holding the value starts."""
    indent: str
    after: int
    """Where the line after the top-level statement starts."""


class Scan:
    """Every header and every key's value with its position, tables in `[[...]]` marked."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.headers: list[Header] = []
        self.values: list[Value] = []
        table: tuple[str, ...] = ()
        position = 0
        while True:
            position = self._blank(position, newlines=True)
            if position >= len(text):
                return
            line = text.rfind("\n", 0, position) + 1
            if text[position] == "[":
                array = text.startswith("[[", position)
                path, position = self._key(position + (2 if array else 1))
                position = self._expect(position, "]]" if array else "]")
                position = self._line_end(position)
                self.headers.append(Header(path, array, position))
                table = (*path, ARRAY_ELEMENT) if array else path
                continue
            first = len(self.values)
            key, position = self._key(position)
            position = self._blank(self._expect(position, "="), newlines=False)
            position = self._value(position, (*table, *key), table, False, (line, indent_at(text, line)))
            position = self._line_end(position)
            self.values[first:] = [value._replace(after=position) for value in self.values[first:]]

    def value(self, path: tuple[str, ...], kind: str) -> Value | None:
        return next((v for v in self.values if v.path == path and v.kind == kind), None)

    def _blank(self, position: int, *, newlines: bool) -> int:
        text = self.text
        while position < len(text):
            char = text[position]
            if char in " \t" or (newlines and char in "\r\n"):
                position += 1
            elif char == "#":
                end = text.find("\n", position)
                position = len(text) if end < 0 else end
                if not newlines:
                    return position
            else:
                break
        return position

    def _expect(self, position: int, token: str) -> int:
        position = self._blank(position, newlines=False)
        if not self.text.startswith(token, position):
            raise UnscannableError(position)
        return position + len(token)

    def _line_end(self, position: int) -> int:
        position = self._blank(position, newlines=False)
        if self.text.startswith("\r\n", position):
            return position + 2
        if self.text.startswith("\n", position) or position == len(self.text):
            return position + (position < len(self.text))
        raise UnscannableError(position)

    def _key(self, position: int) -> tuple[tuple[str, ...], int]:
        parts = []
        while True:
            position = self._blank(position, newlines=False)
            char = self.text[position:position + 1]
            if char in ('"', "'"):
                end = self._string(position)
                # Escapes are not decoded: a key written with one is not matched, and the edit at
                # the end that follows is parsed again like any other.
                parts.append(self.text[position + 1:end - 1] if char == "'" or "\\" not in self.text[position:end]
                             else self.text[position:end])
                position = end
            else:
                match = BARE.match(self.text, position)
                if match is None:
                    raise UnscannableError(position)
                parts.append(match.group())
                position = match.end()
            position = self._blank(position, newlines=False)
            if not self.text.startswith(".", position):
                return tuple(parts), position
            position += 1

    def _string(self, position: int) -> int:
        """After the string that starts at `position` (any of TOML's four kinds)."""
        text = self.text
        quote = text[position]
        if text.startswith(quote * 3, position):
            end = position + 3
            while True:
                if quote == '"' and text.startswith("\\", end):
                    end += 2
                    continue
                if end >= len(text):
                    raise UnscannableError(position)
                if text.startswith(quote * 3, end):
                    end += 3
                    for _ in range(2):  # `""""` ends with a quote of the content
                        if text.startswith(quote, end):
                            end += 1
                    return end
                end += 1
        end = position + 1
        while end < len(text) and text[end] not in (quote, "\n"):
            end += 2 if quote == '"' and text[end] == "\\" else 1
        if end >= len(text) or text[end] != quote:
            raise UnscannableError(position)
        return end + 1

    def _value(self, position: int, path: tuple[str, ...], container: tuple[str, ...], inline: bool,
               statement: tuple[int, str]) -> int:
        """After the value at `position`, recording it and every value inside it; `statement` is
        the line start and indentation of the top-level statement that holds it."""
        text = self.text
        char = text[position:position + 1]
        start, last, trailing = position, position + 1, False
        if char == "[":
            kind = "array"
            position += 1
            while True:
                position = self._blank(position, newlines=True)
                if text.startswith("]", position):
                    break
                position = self._value(position, (*path, ARRAY_ELEMENT), path, False, statement)
                last, trailing = position, False
                position = self._blank(position, newlines=True)
                if text.startswith(",", position):
                    position, trailing = position + 1, True
                elif not text.startswith("]", position):
                    raise UnscannableError(position)
            position += 1
        elif char == "{":
            kind = "table"
            position = self._blank(position + 1, newlines=False)
            while not text.startswith("}", position):
                key, position = self._key(position)
                position = self._blank(self._expect(position, "="), newlines=False)
                position = self._value(position, (*path, *key), path, True, statement)
                last = position
                position = self._blank(position, newlines=False)
                if text.startswith(",", position):
                    position = self._blank(position + 1, newlines=False)
                elif not text.startswith("}", position):
                    raise UnscannableError(position)
            position += 1
        elif char in ('"', "'"):
            kind, position = "scalar", self._string(position)
        else:
            match = _SCALAR.match(text, position)
            if match is None or not match.group().strip():
                raise UnscannableError(position)
            kind, position = "scalar", position + len(match.group().rstrip(" \t"))
        self.values.append(Value(path, container, inline, kind, start, position, last, trailing, *statement, -1))
        return position


def indent_at(text: str, line: int) -> str:
    """The spaces and tabs that start the line beginning at `line`."""
    match = _INDENT.match(text, line)
    return match.group() if match else ""
