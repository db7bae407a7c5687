"""`configure`'s TOML merge against a corpus of the forms TOML 1.0 allows (https://toml.io/en/v1.0.0):
for uv in pyproject.toml and uv.toml, and for pdm, every form either merges (the result parses as the
original plus exactly our key and entry, keeps every character the user wrote, and a second run
changes nothing) or is refused with the lines to add. Never a message blaming the user's file."""

from __future__ import annotations

import copy
import string
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keyrings_gar.command import cli
from keyrings_gar.command.index_rule import VIRTUAL, Repository, pdm_source, uv_index
from keyrings_gar.command.toml_edit import TomlEntry, TomlKey, merge_toml
from keyrings_gar.errors import EditRefusedError
from tests.conftest import AR_URL
from tests.toml_reader import toml_reader

REPOSITORY = Repository("us-central1-python.pkg.dev", "us-central1", "acme-prod", "team-repo", "team-repo")
COMMENT = "# why: the rule's comment\n# second line"


class Tool(NamedTuple):
    name: str
    keys: list[TomlKey]
    entry: TomlEntry


UV = Tool("uv", [TomlKey(("tool", "uv"), "keyring-provider", "subprocess", "# why keyring")],
          TomlEntry(("tool", "uv", "index"), uv_index(REPOSITORY, VIRTUAL, first=True), COMMENT))
UV_TOML = Tool("uv.toml", [TomlKey((), "keyring-provider", "subprocess", "# why keyring")],
               TomlEntry(("index",), uv_index(REPOSITORY, VIRTUAL, first=True), COMMENT))
PDM = Tool("pdm", [], TomlEntry(("tool", "pdm", "source"), pdm_source(REPOSITORY, VIRTUAL, first=True), COMMENT))

# pyproject.toml forms, for uv ($t = uv, $a = index) and pdm ($t = pdm, $a = source).
PYPROJECT_FORMS: dict[str, str] = {
    "empty file": "",
    "only [project]": '[project]\nname = "consumer"\nversion = "0.1.0"\n',
    "[tool.$t] with other keys": '[project]\nname = "x"\n\n[tool.$t]\nsome-setting = "value"\n',
    "inline array of tables, one line (the report)": (
        '[project]\nname = "x"\n\n[tool.$t]\n$a = [{ name = "other", url = "https://other.example/simple/", '
        'explicit = true }]\n'),
    "inline array, several lines, trailing comma, comments": (
        '[tool.$t]\n$a = [\n    # the mirror\n    { name = "other", url = "https://o.example/simple/" },  # first\n'
        ']\nafter = 1\n'),
    "inline array, several lines, no trailing comma": (
        '[tool.$t]\n$a = [\n  { name = "a", url = "https://a.example/simple/" },\n'
        '  { name = "b", url = "https://b.example/simple/" }\n]\n'),
    "inline array, closing bracket after the last element": (
        '[tool.$t]\n$a = [\n    { name = "a", url = "https://a.example/simple/" }]\n'),
    "inline array, one line, trailing comma": '[tool.$t]\n$a = [{ name = "a", url = "https://a.example/" },]\n',
    "empty inline array": "[tool.$t]\n$a = []\n",
    "empty inline array over lines": "[tool.$t]\n$a = [\n]\n",
    "dotted key at the top": (
        'tool.$t.$a = [{ name = "a", url = "https://a.example/simple/" }]\n[project]\nname = "x"\n'),
    "dotted key under [tool]": '[tool]\n$t.$a = [{ name = "a", url = "https://a.example/simple/" }]\n',
    "dotted key under [tool], other key": '[tool]\n$t.other = true\n\n[tool.black]\nline-length = 88\n',
    "inline table under [tool]": '[tool]\n$t = { $a = [{ name = "a", url = "https://a.example/simple/" }] }\n',
    "inline table without the array": "tool.$t = { other = 1 }\n",
    "empty inline table": "[tool]\n$t = {}\n",
    "dotted keys inside an inline table": 'tool = { $t.other = 1 }\n',
    "[[array]] tables": (
        '[[tool.$t.$a]]\nname = "a"\nurl = "https://a.example/simple/"\n\n[[tool.$t.$a]]\nname = "b"\n'
        'url = "https://b.example/simple/"\n'),
    "sub-table only": '[tool.$t.sources]\nacme = { index = "other" }\n',
    "super-table defined after its sub-tables": '[tool.$t.scripts]\nx = "y"\n\n[tool.$t]\nother = 1\n',
    "[tool] super-table, then [tool.$t]": '[tool]\n\n[tool.$t]\nother = 1\n',
    "quoted keys in the header": '[tool."$t"]\nother = 1\n',
    "literal-quoted keys in the header": "['tool'.'$t']\nother = 1\n",
    "whitespace around dots and equals": "[ tool . $t ]\nother   =   1\n",
    "whitespace around dots in a dotted key": 'tool . $t . $a=[ { name = "a", url = "https://a.example/" } ]\n',
    "comments after headers and values": "[tool.$t] # settings\nother = 1 # a value\n# closing\n",
    "strings that look like TOML": (
        '[project]\ndescription = """\n[tool.$t]\n$a = [\n"""\nsummary = \'\'\'[[tool.$t.$a]]\'\'\'\n'
        'odd = "a ] } # \\" ["\n\n[tool.$t]\n$a = [{ name = "a", url = "https://a.example/" }]  # ] [\n'),
    "multi-line strings ending in extra quotes": '[tool.$t]\nnote = """quoted ""x"""""\nlit = \'\'\'it\'\'\'\'\'\n',
    "unicode values and quoted unicode keys": (
        '[project]\ndescription = "Ünïcödé ☃ 🚀"\n"ключ" = "значение"\n\n[tool.$t]\n'),
    "dates, numbers, nested arrays": (
        "[project]\nreleased = 1979-05-27 07:32:00Z\nn = [[1, 2], [3.5, -inf]]\nhex = 0xDEAD_BEEF\n\n[tool.$t]\n"),
    "no newline at the end": '[tool.$t]\n$a = [{ name = "a", url = "https://a.example/" }]',
    "CRLF line endings": (
        '[project]\r\nname = "x"\r\n\r\n[tool.$t]\r\n$a = [\r\n  { name = "a", url = "https://a/" },\r\n]\r\n'),
    "CRLF without the table": '[project]\r\nname = "x"\r\n',
}

UV_TOML_FORMS: dict[str, str] = {
    "empty file": "",
    "other keys": 'index-strategy = "first-index"\n',
    "inline array of tables, one line": (
        'index = [{ name = "other", url = "https://o.example/simple/", explicit = true }]\n'),
    "inline array over lines": 'index = [\n  { name = "other", url = "https://o.example/simple/" },\n]\n',
    "[[index]] tables": '[[index]]\nname = "other"\nurl = "https://o.example/simple/"\n',
    "a table after the keys": 'native-tls = true\n\n[pip]\nindex-url = "https://o.example/simple/"\n',
    "comments first": "# uv settings for the team\n\n[pip]\nsystem = true\n",
    "CRLF": "index-strategy = \"first-index\"\r\n\r\n[[index]]\r\nname = \"o\"\r\nurl = \"https://o/\"\r\n",
}

# Forms configure refuses, with the lines to add: a quoted key written with an escape is not one
# the scanner decodes, so it cannot tell it names the table.
REFUSED: dict[str, str] = {
    "escaped quoted key": '[tool."\\u0075v"]\nindex = [{ name = "a", url = "https://a.example/" }]\n',
}


def _cases() -> list[Any]:
    cases = []
    for name, form in PYPROJECT_FORMS.items():
        for tool, t, a in ((UV, "uv", "index"), (PDM, "pdm", "source")):
            cases.append(pytest.param(tool, string.Template(form).substitute(t=t, a=a), id=f"{tool.name}: {name}"))
    cases.extend(pytest.param(UV_TOML, form, id=f"uv.toml: {name}") for name, form in UV_TOML_FORMS.items())
    return cases


def _expected(document: dict[str, Any], tool: Tool) -> dict[str, Any]:
    """The original document plus our key and entry, built without the merger."""
    wanted = copy.deepcopy(document)
    for key in tool.keys:
        node = wanted
        for part in key.table:
            node = node.setdefault(part, {})
        node[key.key] = key.value
    node = wanted
    for part in tool.entry.array[:-1]:
        node = node.setdefault(part, {})
    node.setdefault(tool.entry.array[-1], []).append(dict(tool.entry.entry))
    return wanted


def _is_kept_in(original: str, merged: str) -> bool:
    """Every character of the original is in the merged text, in order: ours were only added."""
    rest = iter(merged)
    return all(char in rest for char in original)


def _assert_merges(tool: Tool, text: str) -> str:
    tomllib = toml_reader()
    merged = merge_toml(text, tool.keys, [tool.entry], "pyproject.toml")
    assert tomllib.loads(merged) == _expected(tomllib.loads(text), tool)
    assert _is_kept_in(text, merged)
    # configure's second run: the entry is there, so only the keys are asked for again.
    assert merge_toml(merged, tool.keys, [], "pyproject.toml") == merged
    return merged


@pytest.mark.parametrize(("tool", "text"), _cases())
def test_every_form_merges_into_exactly_the_original_plus_ours(tool: Tool, text: str) -> None:
    merged = _assert_merges(tool, text)
    if "\r\n" in text:
        assert "\n" not in merged.replace("\r\n", "")
    else:
        assert "\r" not in merged


def test_an_inline_array_of_tables_gets_one_more_inline_table() -> None:
    """The report: `index = [{...}]` was merged as `[[tool.uv.index]]`, which TOML forbids beside an
    inline array, and the user was told their file was not valid TOML."""
    text = '[tool.uv]\nindex = [{ name = "other", url = "https://o.example/simple/", explicit = true }]\n'
    merged = merge_toml(text, UV.keys, [UV.entry], "pyproject.toml")
    assert merged == (
        "[tool.uv]\n# why keyring\nkeyring-provider = \"subprocess\"\n# why: the rule's comment\n# second line\n"
        'index = [{ name = "other", url = "https://o.example/simple/", explicit = true }, { name = "team-repo", '
        'url = "https://us-central1-python.pkg.dev/acme-prod/team-repo/simple/", publish-url = '
        '"https://us-central1-python.pkg.dev/acme-prod/team-repo/", authenticate = "always", default = true }]\n')


@pytest.mark.parametrize("case", [("uv", "index"), ("pdm", "source")], ids=["uv", "pdm"])
@pytest.mark.usefixtures("isolated")
def test_configure_merges_into_the_inline_array_the_user_reported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], case: tuple[str, str]
        ) -> None:
    """What the user saw: `pyproject.toml is not valid TOML (Cannot mutate immutable namespace ...)`
    for a file tomllib reads, because configure's own merge broke it."""
    tool, array = case
    table = tool
    project = tmp_path / "project"
    project.mkdir()
    text = (f'[project]\nname = "consumer"\n\n[tool.{table}]\n'
            f'{array} = [{{ name = "other", url = "https://other.example/simple/", explicit = true }}]\n')
    (project / "pyproject.toml").write_text(text)
    monkeypatch.chdir(project)
    code = cli.main(["configure", tool, AR_URL, "--virtual"])  # the kind named: the API is not asked here
    captured = capsys.readouterr()
    assert (code, captured.err) == (0, "")
    written = toml_reader().loads((project / "pyproject.toml").read_text())
    assert [entry["url"] for entry in written["tool"][table][array]] == ["https://other.example/simple/", AR_URL]


def test_a_multi_line_inline_array_gets_a_line_of_its_own_with_the_comment() -> None:
    text = '[tool.pdm]\nsource = [\n    { name = "a", url = "https://a.example/" },  # first\n]\n'
    merged = merge_toml(text, [], [PDM.entry], "pyproject.toml")
    assert merged == ('[tool.pdm]\nsource = [\n    { name = "a", url = "https://a.example/" },  # first\n'
                      "    # why: the rule's comment\n    # second line\n"
                      '    { name = "pypi", url = "https://us-central1-python.pkg.dev/acme-prod/team-repo/simple/" },\n'
                      "]\n")


def test_a_table_made_by_dotted_keys_gets_a_dotted_key() -> None:
    """`[tool.uv]` after `uv.x = ...` under `[tool]` would declare the table twice."""
    text = "[tool]\nuv.other = true\n"
    merged = merge_toml(text, UV.keys, [], "pyproject.toml")
    assert merged == '[tool]\nuv.other = true\n# why keyring\nuv.keyring-provider = "subprocess"\n'


def test_an_inline_table_takes_the_key_inside_its_braces() -> None:
    merged = merge_toml("tool.uv = { other = 1 }\n", UV.keys, [], "pyproject.toml")
    assert merged == '# why keyring\ntool.uv = { other = 1, keyring-provider = "subprocess" }\n'


@pytest.mark.parametrize("text", list(REFUSED.values()), ids=list(REFUSED))
def test_a_form_configure_cannot_edit_is_refused_with_the_lines_to_add(text: str) -> None:
    with pytest.raises(EditRefusedError) as refused:
        merge_toml(text, UV.keys, [UV.entry], "pyproject.toml")
    message = str(refused.value)
    assert "configure cannot edit this form" in message
    assert "not valid TOML" not in message
    assert 'keyring-provider = "subprocess"' in message
    assert REPOSITORY.index_url in message


# Pieces of TOML that may sit anywhere between statements, and the target table in its forms: a
# generated file is any mix of them, with either line ending and with or without a final newline.
_FILLERS = [
    "# a comment\n", "\n", "   \n", '[project]\nname = "x"  # trailing comment\n',
    'description = """\n[tool.uv]\nindex = [\n"""\n', "lit = '''a ] [ } {'''\n",
    "[tool.black]\nline-length = 88\n", 'n = [ [1], [ "a", \'b\' ], ]\n', '"quoted key" = { a.b = 1 }\n',
    "when = 1979-05-27 07:32:00-08:00\n", "[[tool.other]]\nx = 1\n",
]
_TARGETS = [
    "[tool.uv]\n", '[tool.uv]\nindex = [{ name = "o", url = "https://o/" }]\n',
    '[tool.uv]\nindex = [\n  { name = "o", url = "https://o/" },  # c\n]\n',
    '[tool]\nuv.index = [{ name = "o", url = "https://o/" }]\n',
    '[[tool.uv.index]]\nname = "o"\nurl = "https://o/"\n',
    '[tool.uv.sources]\nx = { index = "o" }\n', "",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=st.lists(st.sampled_from(_FILLERS), max_size=4), target=st.sampled_from(_TARGETS),
       after=st.lists(st.sampled_from(_FILLERS), max_size=4), crlf=st.booleans(), final_newline=st.booleans())
def test_generated_files_merge_into_exactly_the_original_plus_ours(
        before: list[str], target: str, after: list[str], crlf: bool, final_newline: bool) -> None:
    tomllib = toml_reader()
    # A generated file that is not TOML (a key twice, a top-level key after a header) is no case.
    text = "".join([*before, target, *after])
    if not final_newline:
        text = text.rstrip("\n")
    if crlf:
        text = text.replace("\n", "\r\n")
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return
    _assert_merges(UV, text)
