"""README is the PyPI page, read in minutes; the reference lives in docs/, one absolute link away.

PyPI renders README with no repository around it, so its links must be absolute; docs/ renders on
GitHub, where relative links work. Each link must reach an existing file and heading, each
environment variable and command-line option the package has must be documented, and the install
lines must work both before and after the first release.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyrings_gar.command.cli import build_parser
from tests.toml_reader import toml_reader

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
README_MAX_LINES = 250

_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def _source_url() -> str:
    with (REPO / "pyproject.toml").open("rb") as file:
        url: str = toml_reader().load(file)["project"]["urls"]["Source"]
    return url.rstrip("/")


def _doc_pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def _links(path: Path) -> Iterator[str]:
    yield from _LINK.findall(_FENCE.sub("", path.read_text(encoding="utf-8")))


def _anchors(path: Path) -> set[str]:
    """The heading anchors GitHub gives a Markdown file (lower case, punctuation dropped, - for space)."""
    seen: dict[str, int] = {}
    anchors = set()
    for line in _FENCE.sub("", path.read_text(encoding="utf-8")).splitlines():
        heading = re.match(r"#{1,6} +(.*?) *#* *$", line)
        if heading is None:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _broken(target: Path, anchor: str) -> str | None:
    if not target.is_file():
        return f"{target.relative_to(REPO)} does not exist"
    if anchor and anchor not in _anchors(target):
        return f"{target.relative_to(REPO)} has no heading #{anchor}"
    return None


def test_readme_is_a_page_of_at_most_250_lines() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README has {len(lines)} lines; move reference text into docs/"


def test_readme_keeps_its_two_set_up_commands_first() -> None:
    first_block = _FENCE.search(README.read_text(encoding="utf-8"))
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(0).splitlines()[1:-1]]
    assert commands == ["python3 scripts/demo.py", "scripts/test"]
    assert (REPO / "scripts" / "demo.py").is_file()
    # CI's main job runs exactly README's test command (its two halves at once, asking pytest for
    # its slowest tests too).
    assert re.search(r"^job main bash scripts/test( --halves)?( --durations=\d+)?$",
                     (REPO / ".ci" / "run").read_text(), re.MULTILINE)


def test_every_readme_link_is_absolute_and_every_link_to_this_repository_reaches_a_file_and_heading() -> None:
    blob = _source_url() + "/blob/main/"
    problems = []
    for link in _links(README):
        if not link.startswith("https://"):
            problems.append(f"{link}: not absolute, so it breaks on PyPI")
        elif link.startswith(_source_url() + "/") and not link.startswith(_source_url() + "/issues"):
            if not link.startswith(blob):
                problems.append(f"{link}: not under {blob}")
                continue
            path, _, anchor = link[len(blob):].partition("#")
            problem = _broken(REPO / path, anchor)
            if problem:
                problems.append(f"{link}: {problem}")
    assert problems == []


def test_every_relative_link_in_docs_reaches_a_file_and_heading() -> None:
    problems = []
    for page in _doc_pages():
        for link in _links(page):
            if re.match(r"[a-z]+:", link):
                continue
            path, _, anchor = link.partition("#")
            target = (page.parent / path).resolve() if path else page
            problem = _broken(target, anchor)
            if problem:
                problems.append(f"{page.name}: {link}: {problem}")
    assert problems == []


def test_every_docs_page_is_one_link_from_readme() -> None:
    linked = {link.partition("#")[0] for link in _links(README)}
    blob = _source_url() + "/blob/main/"
    missing = [page.name for page in _doc_pages()
               if page.name != "README.md" and blob + "docs/" + page.name not in linked]
    assert missing == []


def test_every_environment_variable_the_package_reads_is_documented() -> None:
    named = {match for path in (REPO / "keyrings_gar").rglob("*.py")
             for match in re.findall(r"\bKEYRINGS_GAR_[A-Z0-9_]+\b", path.read_text(encoding="utf-8"))}
    table = (DOCS / "environment-variables.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(KEYRINGS_GAR_[A-Z0-9_]+)` \|", table, re.MULTILINE))
    assert named, "the package names no KEYRINGS_GAR_ variable: this test reads the wrong folder"
    assert sorted(named - documented) == []


def _subcommand_options(parser: argparse.ArgumentParser, prefix: str = "") -> Iterator[tuple[str, str]]:
    for action in parser._actions:  # argparse has no public API to walk its subcommands
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subcommand_options(sub, f"{prefix}{name} ")
        elif prefix:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    yield prefix.strip(), option


def test_the_command_page_names_every_subcommand_and_option() -> None:
    page = (DOCS / "command.md").read_text(encoding="utf-8")
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    missing = []
    for command, option in _subcommand_options(build_parser()):
        if option == "--verbose":
            continue  # `-v` is described once, below the table, for every subcommand
        # The subcommand's own rows: those whose first cell names it.
        own = [row for row in rows if re.search(rf"(keyrings-gar |`){command}\b", row.split("|")[1])]
        if not any(option in row for row in own):
            missing.append(f"{command} {option}")
    assert missing == []


def _first_release() -> str:
    """The first release's major.minor: the oldest section of the changelog."""
    versions = re.findall(r"^## (\d+)\.(\d+)\.\d+\b", (REPO / "CHANGELOG.md").read_text(encoding="utf-8"),
                          re.MULTILINE)
    assert versions, "CHANGELOG.md has no `## X.Y.Z` section"
    return ".".join(versions[-1])


@pytest.mark.parametrize("route", ["pip install", "pipx inject --include-apps keyring"])
def test_readme_gives_the_pre_release_install_beside_the_pypi_one(route: str) -> None:
    """Until the first release `pip install keyrings.gar` finds nothing: the git route sits on the next
    line, marked as the route until then, so the page stays true after the release (and later
    releases) too."""
    release = _first_release()
    git = f"git+{_source_url()}"
    lines = [line for block in _FENCE.findall(README.read_text(encoding="utf-8")) for line in block.splitlines()]
    pypi = [i for i, line in enumerate(lines) if re.search(rf"{re.escape(route)} keyrings\.gar(\s|$)", line)]
    assert pypi, f"README has no `{route} keyrings.gar`"
    for i in pypi:
        assert f"once {release} is on PyPI" in lines[i]
        beside = lines[i + 1]
        assert f"{route} {git} " in beside or beside.endswith(f"{route} {git}")
        assert f"until {release} is on PyPI" in beside


def test_readme_gives_the_subprocess_index_url_line_once() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(re.findall(r"--index-url https://oauth2accesstoken@", text)) == 1


def test_messages_send_the_user_to_docs_pages_that_exist_not_to_readme() -> None:
    """README no longer holds the reference: a message naming it would send the user to a page without it."""
    named = set()
    for path in (REPO / "keyrings_gar").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "README" not in text, f"{path.relative_to(REPO)} sends the user to README; name the docs/ page"
        named |= set(re.findall(r"\bdocs/[\w-]+\.md\b", text))
    assert named, "no message names a docs/ page: this test reads the wrong folder"
    assert sorted(page for page in named if not (REPO / page).is_file()) == []
