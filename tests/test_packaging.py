"""What the sdist and the wheel carry, built with `uv build` as a release builds them.

The wheel: the package, its metadata and nothing else. The sdist: the package and the whole test
suite, runnable (distribution packagers run it from there), plus the changelog and docs/. One version
everywhere. Building needs the build backend from the package index (uv caches it).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest

import keyrings_gar
from tests.conftest import BUILD_TIMEOUT, FLOOR, REPO


class Dists:
    def __init__(self, directory: Path) -> None:
        [self.sdist] = directory.glob("keyrings_gar-*.tar.gz")
        [self.wheel] = directory.glob("keyrings_gar-*.whl")
        with zipfile.ZipFile(self.wheel) as wheel:
            self.wheel_names = set(wheel.namelist())
            self.metadata = Parser().parsestr(wheel.read(self._dist_info("METADATA")).decode())
            self.entry_points = wheel.read(self._dist_info("entry_points.txt")).decode()
        with tarfile.open(self.sdist) as sdist:
            root = f"keyrings_gar-{keyrings_gar.__version__}/"
            self.sdist_names = {m.name.removeprefix(root) for m in sdist.getmembers() if m.isfile()}

    def _dist_info(self, name: str) -> str:
        return f"keyrings_gar-{keyrings_gar.__version__}.dist-info/{name}"


@pytest.fixture(scope="module")
def dists(dist_folder: Path) -> Dists:
    return Dists(dist_folder)


def _source_files(folder: str) -> set[str]:
    return {path.relative_to(REPO).as_posix() for path in (REPO / folder).rglob("*.py")
            if "__pycache__" not in path.parts}


def _runtime_requirements(metadata: Message) -> list[str]:
    return [r for r in metadata.get_all("Requires-Dist", []) if "extra ==" not in r]


def test_wheel_holds_the_package_and_its_metadata_only(dists: Dists) -> None:
    info = f"keyrings_gar-{keyrings_gar.__version__}.dist-info/"
    expected = _source_files("keyrings_gar") | {"keyrings_gar/py.typed"} | {
        info + name for name in ("METADATA", "WHEEL", "RECORD", "entry_points.txt", "top_level.txt",
                                 "licenses/LICENSE")}
    assert dists.wheel_names == expected


def test_sdist_holds_every_test_file_the_changelog_and_the_docs(dists: Dists) -> None:
    docs = {path.relative_to(REPO).as_posix() for path in (REPO / "docs").glob("*.md")}
    assert docs, "no docs/*.md in the checkout: this test reads the wrong folder"
    wanted = _source_files("keyrings_gar") | _source_files("tests") | docs | {
        "keyrings_gar/py.typed", "pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "CONTRIBUTING.md",
        "SECURITY.md"}
    assert wanted - dists.sdist_names == set()
    assert {"tests/__init__.py", "tests/conftest.py", "tests/loopback/google.py",
            "tests/e2e/conftest.py"} <= dists.sdist_names


def test_unpacked_sdist_collects_the_same_tests_as_the_checkout(dists: Dists, tmp_path: Path) -> None:
    with tarfile.open(dists.sdist) as sdist:
        if hasattr(tarfile, "data_filter"):  # Python 3.12, and 3.9.17+ and 3.10.12+ by backport
            sdist.extractall(tmp_path, filter="data")
        else:
            sdist.extractall(tmp_path)  # noqa: S202 - our own freshly built archive
    [unpacked] = tmp_path.iterdir()

    def collect(where: Path) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
                                cwd=where, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                stdin=subprocess.DEVNULL)

    def count(process: subprocess.Popen[str]) -> str:
        try:
            out, _ = process.communicate(timeout=BUILD_TIMEOUT)
        finally:
            process.kill()
        assert process.returncode == 0, out[-3000:]
        [collected] = re.findall(r"^(\d+) tests? collected", out, re.MULTILINE)
        return str(collected)

    # Both collections at once: each is a process importing the whole suite.
    from_sdist, from_checkout = collect(unpacked), collect(REPO)
    assert count(from_sdist) == count(from_checkout)


def test_metadata_has_one_version_the_three_runtime_dependencies_and_project_urls(dists: Dists) -> None:
    metadata = dists.metadata
    assert metadata["Name"] == "keyrings.gar"
    assert metadata["Version"] == keyrings_gar.__version__
    assert metadata["Description-Content-Type"] == "text/markdown"
    names = sorted(re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0].lower() for r in _runtime_requirements(metadata))
    assert names == ["google-auth", "jaraco.classes", "keyring"]
    assert any(r.startswith("google-auth[requests]>=") for r in _runtime_requirements(metadata))
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL", []))
    assert set(urls) == {"Source", "Issues", "Changelog"}
    assert all(url.startswith("https://") for url in urls.values())


def test_changelog_has_a_section_for_this_version() -> None:
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## {re.escape(keyrings_gar.__version__)}\b", changelog, re.MULTILINE)


def test_python_classifiers_run_from_requires_python_without_gaps(dists: Dists) -> None:
    versions = _classified_pythons(dists.metadata)
    floor = re.fullmatch(r">=3\.(\d+)", dists.metadata["Requires-Python"])
    assert floor is not None
    minors = [int(v.split(".")[1]) for v in versions]
    assert minors == list(range(int(floor.group(1)), minors[-1] + 1))


def test_ci_workflow_tests_every_classified_python(dists: Dists) -> None:
    workflow = REPO / ".github" / "workflows" / "test.yml"
    if not workflow.exists():
        pytest.skip("no .github folder here (an unpacked sdist)")
    [matrix] = re.findall(r"^\s+python: \[(.*)\]$", workflow.read_text(encoding="utf-8"), re.MULTILINE)
    assert [v.strip().strip('"') for v in matrix.split(",")] == _classified_pythons(dists.metadata)


def test_entry_points_name_the_backend_and_the_command(dists: Dists) -> None:
    sections = dict(re.findall(r"^\[([^]]+)\]\n((?:.+\n?)*)", dists.entry_points, re.MULTILINE))
    assert sections["keyring.backends"].strip() == "gar = keyrings_gar.backend"
    assert sections["console_scripts"].strip() == "keyrings-gar = keyrings_gar.command.cli:main"


def _classified_pythons(metadata: Message) -> list[str]:
    found = [c.rsplit(" :: ", 1)[1] for c in metadata.get_all("Classifier", [])
             if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    return sorted(found, key=lambda v: int(v.split(".")[1]))


def test_every_floor_entry_names_a_test_module_or_function() -> None:
    """A renamed or moved test module must not silently leave the dependency-floor job (`-m floor`)."""
    for entry in FLOOR:
        module, _, function = entry.partition("::")
        path = REPO / "tests" / module
        assert path.is_file(), f"FLOOR in tests/conftest.py names {module}, which is not in tests/"
        if function:
            assert re.search(rf"^def {function}\(", path.read_text(encoding="utf-8"), re.MULTILINE), entry
