"""Adding options to an INI file (pip.conf, .pypirc) line by line, so that every other line, comment
and blank stays as the user wrote it: configparser would rewrite the whole file without comments.

Only two edits, the ones `configure` needs: set an option that is absent, and add values to a
whitespace-separated list option. An option already set to another value is refused, never
overwritten. The result is parsed again and must read as the original plus exactly these changes.
"""

from __future__ import annotations

import configparser
import re
from typing import NamedTuple

from ..errors import EditRefusedError


class IniOption(NamedTuple):
    section: str
    key: str
    values: tuple[str, ...]
    """One value, or several for a list option (pip's extra-index-url, twine's index-servers)."""
    is_list: bool = False
    comment: str = ""
    """Comment lines written above the option when it is new (why it is there)."""


_SECTION = re.compile(r"\[(?P<name>.+)\]")
_OPTION = re.compile(r"(?P<key>[^=:\s][^=:]*?)\s*[=:]")


def _parser(text: str, where: str) -> configparser.RawConfigParser:
    # RawConfigParser with its defaults is what pip and twine read these files with.
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EditRefusedError(f"{where} cannot be parsed as an INI file ({first[:200]}); fix it by hand, "
                               "then run this again") from None
    return parser


def _values(parser: configparser.RawConfigParser, section: str, key: str) -> list[str] | None:
    if not parser.has_option(section, key):
        return None
    return (parser.get(section, key) or "").split()


def ini_values(text: str, section: str, key: str, where: str) -> list[str]:
    """The whitespace-separated values of `key` (none when absent); EditRefusedError when unparseable."""
    parser = _parser(text, where)
    return (_values(parser, section, key) or []) if parser.has_section(section) else []


def ini_section(text: str, section: str, where: str) -> dict[str, str] | None:
    """The section's options as read (None when there is no such section); EditRefusedError when
    unparseable."""
    parser = _parser(text, where)
    return {key: parser.get(section, key) or "" for key in parser.options(section)} if parser.has_section(section) \
        else None


class _Layout:
    """Where each section and option of the file starts and ends, by line number."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.sections: dict[str, tuple[int, int]] = {}  # name -> (header line, end line exclusive)
        current: str | None = None
        for number, line in enumerate(lines):
            match = _SECTION.fullmatch(line.strip()) if line[:1] not in " \t" else None
            if match:
                if current is not None:
                    self.sections[current] = (self.sections[current][0], number)
                current = match.group("name")
                self.sections[current] = (number, len(lines))

    def option(self, section: str, key: str) -> tuple[int, int] | None:
        """(first line, end line exclusive) of `key`'s value lines in `section`."""
        start, end = self.sections[section]
        for number in range(start + 1, end):
            line = self.lines[number]
            match = _OPTION.match(line)
            if line[:1] in " \t#;" or match is None or match.group("key").strip().lower() != key:
                continue
            last = number
            for following in range(number + 1, end):
                text = self.lines[following]
                if text[:1] in " \t" and text.strip() and text.strip()[:1] not in "#;":
                    last = following
                elif text.strip():
                    break
            return number, last + 1
        return None

    def section_body_end(self, section: str) -> int:
        """After the section's last non-blank, non-comment line: where a new option goes."""
        start, end = self.sections[section]
        last = start
        for number in range(start + 1, end):
            stripped = self.lines[number].strip()
            if stripped and stripped[:1] not in "#;":
                last = number
        return last + 1


def merge_ini(text: str, options: list[IniOption], where: str) -> str:
    """`text` with `options` added; EditRefusedError when a value conflicts or the file cannot be
    parsed, or when the edited file would not read back as exactly the intended change."""
    before = _parser(text, where)
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    expected: dict[tuple[str, str], list[str]] = {}
    for option in options:
        current = _values(before, option.section, option.key) if before.has_section(option.section) else None
        if current is not None and not option.is_list:
            if current != list(option.values):
                raise EditRefusedError(
                    f"{where}: [{option.section}] {option.key} is already set to another value; "
                    f"to use {' '.join(option.values)} instead, change or remove that line, then run this again")
            continue
        missing = [v for v in option.values if current is None or v not in current]
        if not missing:
            continue
        expected[(option.section, option.key)] = [*(current or []), *missing]
        _insert(lines, option, missing)
    result = "".join(lines)
    if not _reads_as(before, _parser(result, where), expected):
        wanted = "; ".join(f"[{section}] {key} = {' '.join(values)}" for (section, key), values in expected.items())
        raise EditRefusedError(f"{where} is laid out in a way this command cannot merge into safely; add by hand: "
                               f"{wanted}")
    return result


def _insert(lines: list[str], option: IniOption, missing: list[str]) -> None:
    layout = _Layout(lines)
    comment = "".join(f"{line}\n" for line in option.comment.splitlines())
    if option.section not in layout.sections:
        if lines and lines[-1].strip():
            lines.append("\n")
        lines.extend([f"[{option.section}]\n", comment, _option_lines(option.key, missing, option.is_list)])
        return
    span = layout.option(option.section, option.key)
    if span is None:
        at = layout.section_body_end(option.section)
        lines[at:at] = [comment, _option_lines(option.key, missing, option.is_list)]
        return
    lines[span[1]:span[1]] = [f"    {value}\n" for value in missing]


def _option_lines(key: str, values: list[str], is_list: bool) -> str:
    if is_list and len(values) > 1:
        return f"{key} =\n" + "".join(f"    {value}\n" for value in values)
    return f"{key} = {values[0]}\n"


def _reads_as(before: configparser.RawConfigParser, after: configparser.RawConfigParser,
              expected: dict[tuple[str, str], list[str]]) -> bool:
    """The edited file reads as the original plus exactly our options: an unusual layout that our
    line edits misread (a continuation we did not see) is refused instead of written."""
    sections = set(before.sections()) | {section for section, _ in expected}
    if set(after.sections()) != sections:
        return False
    for section in sections:
        keys = set(before.options(section)) if before.has_section(section) else set()
        keys |= {key for s, key in expected if s == section}
        if set(after.options(section)) != keys:
            return False
        for key in keys:
            want = expected.get((section, key))
            have = after.get(section, key) or ""
            if (want is not None and have.split() != want) or (want is None and have != before.get(section, key)):
                return False
    return True
