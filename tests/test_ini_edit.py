"""The line-preserving INI merger behind `configure pip` and `configure twine`."""

from __future__ import annotations

import configparser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keyrings_gar.command.ini_edit import IniOption, merge_ini
from keyrings_gar.errors import EditRefusedError

INDEX = "https://oauth2accesstoken@us-central1-python.pkg.dev/acme-prod/team-repo/simple/"
OPTIONS = [
    IniOption("global", "extra-index-url", (INDEX,), is_list=True, comment="# why this index"),
    IniOption("global", "keyring-provider", ("subprocess",)),
]

USER_FILE = """\
# pip settings for my laptop
[global]
timeout = 60
; the company mirror
extra-index-url =
    https://mirror.example.com/simple/
    https://other.example.com/simple/
# keep this comment

[install]
user = false
"""


def _read(text: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    return parser


def test_every_other_line_and_comment_stays_as_written() -> None:
    merged = merge_ini(USER_FILE, OPTIONS, "pip.conf")
    assert [line for line in merged.splitlines() if line not in USER_FILE.splitlines()] == [
        f"    {INDEX}", "keyring-provider = subprocess"]
    parser = _read(merged)
    assert parser.get("global", "extra-index-url").split() == [
        "https://mirror.example.com/simple/", "https://other.example.com/simple/", INDEX]
    assert parser.get("install", "user") == "false"
    # Our option sits inside [global], before the user's trailing comment and [install].
    assert merged.index("keyring-provider") < merged.index("# keep this comment")


def test_merging_twice_changes_nothing() -> None:
    once = merge_ini(USER_FILE, OPTIONS, "pip.conf")
    assert merge_ini(once, OPTIONS, "pip.conf") == once


def test_an_empty_file_gets_the_section_with_its_comment() -> None:
    merged = merge_ini("", OPTIONS, "pip.conf")
    assert merged == f"[global]\n# why this index\nextra-index-url = {INDEX}\nkeyring-provider = subprocess\n"


def test_a_list_option_on_one_line_gets_a_continuation_line() -> None:
    merged = merge_ini("[distutils]\nindex-servers = pypi", [IniOption("distutils", "index-servers", ("team-repo",),
                                                                        is_list=True)], ".pypirc")
    assert merged == "[distutils]\nindex-servers = pypi\n    team-repo\n"
    assert _read(merged).get("distutils", "index-servers").split() == ["pypi", "team-repo"]


@pytest.mark.parametrize("text", [USER_FILE.replace("\n", "\r\n"), "[install]\r\nuser = false"],
                         ids=["options added to a section", "a new section, no final line ending"])
def test_a_crlf_file_keeps_crlf(text: str) -> None:
    """A pip.ini written on Windows: lines with bare LF beside CRLF ones would be a mixed file."""
    merged = merge_ini(text, OPTIONS, "pip.ini")
    assert merged != text
    assert "\n" not in merged.replace("\r\n", "")
    assert _read(merged).get("global", "keyring-provider") == "subprocess"
    assert merge_ini(merged, OPTIONS, "pip.ini") == merged


def test_an_option_set_to_another_value_is_refused_not_overwritten() -> None:
    text = "[global]\nkeyring-provider = import\n"
    with pytest.raises(EditRefusedError, match=r"\[global\] keyring-provider is already set to another value"):
        merge_ini(text, OPTIONS, "pip.conf")


@pytest.mark.parametrize("text", [
    "index-url = https://example.com/simple/\n",           # no section header
    "[global]\ntimeout = 1\n[global]\ntimeout = 2\n",      # a section twice (pip's parser is strict)
    "[global\ntimeout = 1\n",                               # an unclosed header
])
def test_a_file_that_does_not_parse_is_refused(text: str) -> None:
    with pytest.raises(EditRefusedError, match="cannot be parsed as an INI file"):
        merge_ini(text, OPTIONS, "pip.conf")


def test_options_with_other_case_and_colon_delimiter_are_recognised() -> None:
    """configparser reads `Keyring-Provider: subprocess` as our option: it is there already."""
    text = "[global]\nKeyring-Provider: subprocess\n"
    assert merge_ini(text, OPTIONS[1:], "pip.conf") == text


def test_a_list_with_a_comment_between_its_values_gets_ours_after_the_last() -> None:
    """configparser reads on past a comment line inside a value; the merger stopped at the comment,
    put ours in the middle, and refused the file as `laid out in a way this command cannot merge`."""
    text = ("[global]\nextra-index-url =\n    https://mirror.example/simple/\n    # off for now\n"
            "    https://other.example/simple/\ntimeout = 5\n")
    merged = merge_ini(text, OPTIONS, "pip.conf")
    assert _read(merged).get("global", "extra-index-url").split() == [
        "https://mirror.example/simple/", "https://other.example/simple/", INDEX]


_PIECES = ["[global]\n", "[install]\n", "extra-index-url = a\n", "extra-index-url =\n", "    b\n", "\n", "# c\n",
           "    # d\n", "; e\n", "keyring-provider = subprocess\n", "timeout: 5\n", "  x = 1\n", "\tq\n",
           "[global]  \n", " [global]\n", "index-url = z\n"]


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.sampled_from(_PIECES), min_size=1, max_size=7), crlf=st.booleans())
def test_any_layout_that_parses_merges_into_exactly_the_original_plus_ours(pieces: list[str], crlf: bool) -> None:
    text = "".join(pieces).replace("\n", "\r\n" if crlf else "\n")
    try:
        before = _read(text)
    except configparser.Error:
        return
    if before.has_option("global", "keyring-provider") and before.get("global", "keyring-provider") != "subprocess":
        with pytest.raises(EditRefusedError, match="already set to another value"):  # its continuation lines
            merge_ini(text, OPTIONS, "pip.conf")
        return
    merged = merge_ini(text, OPTIONS, "pip.conf")
    after = _read(merged)
    had = before.get("global", "extra-index-url").split() if before.has_option("global", "extra-index-url") else []
    assert after.get("global", "extra-index-url").split() == [*had, *([] if INDEX in had else [INDEX])]
    assert after.get("global", "keyring-provider") == "subprocess"
    assert merge_ini(merged, OPTIONS, "pip.conf") == merged
