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
from .tool_files import comment_lines, line_ending


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
    """The whitespace-separated values of `key` in `section`; None when it is not set there."""
    return (parser.get(section, key) or "").split() if parser.has_option(section, key) else None


def ini_values(text: str, section: str, key: str, where: str) -> list[str]:
    """The values of `key` in `section` (none when absent); EditRefusedError when unparseable."""
    return _values(_parser(text, where), section, key) or []


def ini_section(text: str, section: str, where: str) -> dict[str, str] | None:
    """The section's options (None when there is no such section); EditRefusedError when unparseable."""
    parser = _parser(text, where)
    return {key: parser.get(section, key) or "" for key in parser.options(section)} if parser.has_section(section) \
        else None


class _Layout:
    """Where each section and option of the file starts and ends, by line number, read as
    configparser reads it: comment and blank lines inside a value are skipped, a line indented
    deeper than its option's continues the value, and any other line, indented or not, is a
    section header or an option of its own."""

    def __init__(self, lines: list[str]) -> None:
        self.sections: dict[str, tuple[int, int]] = {}  # name -> (header line, end line exclusive)
        self.options: dict[tuple[str, str], tuple[int, int]] = {}  # (section, key) -> (first line, end exclusive)
        current: str | None = None
        option: str | None = None
        indent_level = 0
        for number, line in enumerate(lines):
            value = line.strip()
            if not value or value[:1] in "#;":
                continue
            indent = len(line) - len(line.lstrip())
            if current is not None and option is not None and indent > indent_level:
                self.options[(current, option)] = (self.options[(current, option)][0], number + 1)
                continue
            indent_level = indent
            section = _SECTION.match(value)
            if section:
                if current is not None:
                    self.sections[current] = (self.sections[current][0], number)
                current, option = section.group("name"), None
                self.sections[current] = (number, len(lines))
                continue
            match = _OPTION.match(value)
            option = None
            if match and current is not None:
                option = match.group("key").strip().lower()
                self.options.setdefault((current, option), (number, number + 1))


def merge_ini(text: str, options: list[IniOption], where: str) -> str:
    """`text` with `options` added; EditRefusedError when a value conflicts or the file cannot be
    parsed, or when the edited file would not read back as exactly the intended change."""
    before = _parser(text, where)
    newline = line_ending(text)
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += newline
    expected: dict[tuple[str, str], list[str]] = {}
    for option in options:
        current = _values(before, option.section, option.key)
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
        _insert(lines, option, missing, newline)
    result = "".join(lines)
    if not _reads_as(before, result, expected, where):
        wanted = "; ".join(f"[{section}] {key} = {' '.join(values)}" for (section, key), values in expected.items())
        raise EditRefusedError(f"{where}: configure cannot edit this form; add these lines, then run this again: "
                               f"{wanted}")
    return result


def _insert(lines: list[str], option: IniOption, missing: list[str], newline: str) -> None:
    layout = _Layout(lines)
    comment = comment_lines(option.comment)
    if option.section not in layout.sections:
        if lines and lines[-1].strip():
            lines.append(newline)
        added = [f"[{option.section}]\n", comment, _option_lines(option.key, missing, option.is_list)]
        at = len(lines)
    else:
        span = layout.options.get((option.section, option.key))
        if span is None:
            # After the section's last line that is not blank nor a comment ("" is in "#;" too).
            start, end = layout.sections[option.section]
            at = max((n for n in range(start + 1, end) if lines[n].strip()[:1] not in "#;"), default=start) + 1
            added = [comment, _option_lines(option.key, missing, option.is_list)]
        else:
            at = span[1]
            # Deeper than the option's own line, or configparser reads a new option, not more values.
            indent = lines[span[0]][:len(lines[span[0]]) - len(lines[span[0]].lstrip())]
            added = [f"{indent}    {value}\n" for value in missing]
    # Our lines in the file's own line ending (a CRLF file stays CRLF).
    lines[at:at] = [text.replace("\n", newline) for text in added]


def _option_lines(key: str, values: list[str], is_list: bool) -> str:
    if is_list and len(values) > 1:
        return f"{key} =\n" + "".join(f"    {value}\n" for value in values)
    return f"{key} = {values[0]}\n"


def _reads_as(before: configparser.RawConfigParser, text: str, expected: dict[tuple[str, str], list[str]],
              where: str) -> bool:
    """The edited file reads as the original plus exactly our options: an unusual layout that our
    line edits misread (a continuation we did not see) is refused instead of written."""
    try:
        after = _parser(text, where)
    except EditRefusedError:  # our edit broke it: never reported as the user's file
        return False
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
