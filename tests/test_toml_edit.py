"""The line-preserving TOML merger behind `configure uv` and `configure pdm`."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from keyrings_gar.command.toml_edit import TomlEntry, TomlKey, load_toml, merge_toml
from keyrings_gar.errors import EditRefusedError
from tests.toml_reader import toml_reader


def _toml(text: str) -> dict[str, Any]:
    """tomllib (tomli before Python 3.11, as configure itself uses) reads what was written."""
    tomllib = toml_reader()
    parsed: dict[str, Any] = tomllib.loads(text)
    return parsed

PROVIDER = TomlKey(("tool", "uv"), "keyring-provider", "subprocess", "# why keyring")
ENTRY = TomlEntry(("tool", "uv", "index"), {"name": "team-repo", "url": "https://example/simple/",
                                            "authenticate": "always", "default": True}, "# why this index")

PROJECT = """\
[project]
name = "consumer"  # the name
dependencies = [
    "requests",
]

# uv settings below
[tool.uv]
index-strategy = "first-index"

[[tool.uv.index]]
name = "other"
url = "https://other.example/simple/"

[tool.uv.sources]
acme = { index = "other" }
"""


def test_keys_and_entries_join_the_file_and_every_comment_stays() -> None:
    merged = merge_toml(PROJECT, [PROVIDER], [ENTRY], "pyproject.toml")
    assert all(line in merged.splitlines() for line in PROJECT.splitlines())
    document = _toml(merged)
    assert document["tool"]["uv"]["keyring-provider"] == "subprocess"
    assert [i["name"] for i in document["tool"]["uv"]["index"]] == ["other", "team-repo"]
    assert document["tool"]["uv"]["sources"] == {"acme": {"index": "other"}}
    assert "# why keyring\nkeyring-provider" in merged
    assert "# why this index\n[[tool.uv.index]]" in merged


def test_a_table_without_its_own_header_gets_one_at_the_end() -> None:
    """Only `[tool.uv.sources]` is there: `[tool.uv]` after it is valid TOML."""
    text = '[project]\nname = "x"\n\n[tool.uv.sources]\nacme = { index = "other" }\n'
    merged = merge_toml(text, [PROVIDER], [], "pyproject.toml")
    assert merged == text + '\n[tool.uv]\n# why keyring\nkeyring-provider = "subprocess"\n'


def test_a_top_level_key_goes_first() -> None:
    merged = merge_toml('[[index]]\nname = "other"\nurl = "https://o/"\n',
                        [TomlKey((), "keyring-provider", "subprocess")], [], "uv.toml")
    assert _toml(merged)["keyring-provider"] == "subprocess"
    assert merged.startswith('keyring-provider = "subprocess"\n')


def test_a_key_that_is_already_there_changes_nothing() -> None:
    once = merge_toml(PROJECT, [PROVIDER], [], "pyproject.toml")
    assert merge_toml(once, [PROVIDER], [], "pyproject.toml") == once


def test_a_key_set_to_another_value_is_refused() -> None:
    text = '[tool.uv]\nkeyring-provider = "disabled"\n'
    with pytest.raises(EditRefusedError, match=r"tool\.uv\.keyring-provider is already set to another value"):
        merge_toml(text, [PROVIDER], [], "pyproject.toml")


def test_invalid_toml_is_refused() -> None:
    with pytest.raises(EditRefusedError, match="is not valid TOML"):
        merge_toml("[project\nname = 1\n", [PROVIDER], [ENTRY], "pyproject.toml")


def test_a_header_inside_a_multi_line_string_is_no_header() -> None:
    """A line that looks like the header inside a multi-line string: the key lands in a real
    `[tool.uv]`, not in the string."""
    text = '[project]\ndescription = """\n[tool.uv]\n"""\n'
    merged = merge_toml(text, [PROVIDER], [], "pyproject.toml")
    assert merged == text + '\n[tool.uv]\n# why keyring\nkeyring-provider = "subprocess"\n'
    assert _toml(merged)["project"]["description"] == "[tool.uv]\n"


def test_an_edit_that_would_not_read_back_as_intended_is_refused_with_the_lines_to_add() -> None:
    """A key quoted with an escape names `[tool.uv]` in a way the scanner does not decode: every
    candidate edit parses to something else, so nothing is written and the user gets the lines."""
    text = '[tool."\\u0075v"]\nother = 1\n'
    with pytest.raises(EditRefusedError) as refused:
        merge_toml(text, [PROVIDER], [ENTRY], "pyproject.toml")
    assert str(refused.value) == (
        "pyproject.toml: configure cannot edit this form of tool.uv; add these lines, then run this again:\n"
        '  in the table tool.uv: keyring-provider = "subprocess"\n'
        "  [[tool.uv.index]]\n"
        '  name = "team-repo"\n'
        '  url = "https://example/simple/"\n'
        '  authenticate = "always"\n'
        "  default = true")


def test_values_nested_deeper_than_the_parser_reaches_are_refused_as_our_limit() -> None:
    """Valid TOML from a cloned repository, nested 5000 deep: a refusal, not a RecursionError."""
    text = "a = " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(EditRefusedError, match="configure cannot edit this form"):
        merge_toml(text, [PROVIDER], [ENTRY], "pyproject.toml")


def test_a_table_that_is_a_value_is_refused_without_blaming_our_edit() -> None:
    with pytest.raises(EditRefusedError, match=r"pyproject.toml: tool\.uv is not a table"):
        merge_toml('tool.uv = "fast"\n', [PROVIDER], [], "pyproject.toml")


def test_without_a_toml_parser_the_file_is_refused_not_edited_blind(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python 3.9 and 3.10 have no tomllib; tomli is no dependency of ours."""
    monkeypatch.setitem(sys.modules, "tomllib", None)
    monkeypatch.setitem(sys.modules, "tomli", None)
    with pytest.raises(EditRefusedError, match=r"needs Python 3\.11\+ or tomli"):
        load_toml(PROJECT, "pyproject.toml")
