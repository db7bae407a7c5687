"""`keyrings-gar configure` without --virtual or --standard: the real command asks the loopback Artifact
Registry API (through the TLS proxy, with the identity a lookup would use) for the repository's mode,
writes the form for that mode, and stops with nothing written when the API cannot tell."""

from __future__ import annotations

import configparser
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.conftest import console_script
from tests.loopback.keys import ServiceAccountKey, UserCredentials
from tests.loopback.registry import REMOTE, VIRTUAL
from tests.loopback.stack import (
    AR_HOST,
    JSON_KEY_BASE64,
    PROJECT,
    REPOSITORY,
    SERVICE_ACCOUNT_KEY,
    LoopbackStack,
)
from tests.toml_reader import toml_reader

COMMAND = console_script("keyrings-gar")
STANDARD_URL = f"https://{AR_HOST}/{PROJECT}/{REPOSITORY}/simple/"
VIRTUAL_URL = f"https://{AR_HOST}/{PROJECT}/all-python/simple/"
PYPROJECT = '[project]\nname = "consumer"\nversion = "0.1.0"\n'



@pytest.fixture
def stack(identities: tuple[ServiceAccountKey, UserCredentials], private_ca: trustme.CA) -> Iterator[LoopbackStack]:
    with LoopbackStack(*identities, ca=private_ca) as running:
        running.registry.add_repository("all-python", mode=VIRTUAL, upstreams=[REPOSITORY])
        yield running


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    (folder / "project").mkdir()
    (folder / "project" / "pyproject.toml").write_text(PYPROJECT)
    return folder


def _configure(stack: LoopbackStack, home: Path, *args: str, kind: str = SERVICE_ACCOUNT_KEY,
               extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**stack.environ(home), **stack.credential(kind, home).environ, **(extra or {})}
    result = subprocess.run([COMMAND, "configure", *args], capture_output=True, text=True, timeout=60, env=env,
                            cwd=home / "project", stdin=subprocess.DEVNULL, check=False)
    assert "Traceback" not in result.stderr
    assert stack.leaked(result.stdout + result.stderr) == []
    return result


def _pip_conf(home: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(home / ".config" / "pip" / "pip.conf")
    return parser


def test_a_standard_repository_goes_beside_pypi_with_the_dependency_confusion_warning(
    stack: LoopbackStack, home: Path
) -> None:
    result = _configure(stack, home, "pip", STANDARD_URL)
    assert result.returncode == 0, result.stderr
    assert "team-repo is a standard repository (the Artifact Registry API says so): added beside PyPI" in (
        result.stdout)
    conf = _pip_conf(home)
    assert "index-url" not in conf["global"]
    assert conf["global"]["extra-index-url"].strip() == STANDARD_URL.replace("https://", "https://oauth2accesstoken@")
    assert "whoever\n# publishes a private package's name on PyPI wins (dependency confusion)" in (
        (home / ".config" / "pip" / "pip.conf").read_text())
    assert [(method, path.rsplit("/", 1)[-1]) for method, path, _ in stack.api.requests] == [
        ("GET", "team-repo"), ("POST", "team-repo:testIamPermissions")]


def test_a_virtual_repository_is_the_only_index(stack: LoopbackStack, home: Path) -> None:
    result = _configure(stack, home, "pip", VIRTUAL_URL)
    assert result.returncode == 0, result.stderr
    assert "all-python is a virtual repository (the Artifact Registry API says so): the only index" in result.stdout
    assert _pip_conf(home)["global"]["index-url"] == VIRTUAL_URL.replace("https://", "https://oauth2accesstoken@")


def test_a_remote_repository_is_the_only_index_too(stack: LoopbackStack, home: Path) -> None:
    stack.registry.add_repository("pypi-cache", mode=REMOTE)
    url = f"https://{AR_HOST}/{PROJECT}/pypi-cache/simple/"
    result = _configure(stack, home, "pdm", url)
    assert result.returncode == 0, result.stderr
    assert "pypi-cache is a remote repository" in result.stdout
    sources = toml_reader().loads((home / "project" / "pyproject.toml").read_text())["tool"]["pdm"]["source"]
    assert sources == [{"name": "pypi", "url": url}]


@pytest.mark.parametrize("tool", ["uv", "poetry"])
def test_each_project_tool_gets_the_form_the_api_answer_calls_for(stack: LoopbackStack, home: Path,
                                                                  tool: str) -> None:
    result = _configure(stack, home, tool, "--dry-run", STANDARD_URL, kind=JSON_KEY_BASE64)
    assert result.returncode == 0, result.stderr
    if tool == "uv":
        assert f'+publish-url = "https://{AR_HOST}/{PROJECT}/{REPOSITORY}/"' in result.stdout
        assert "+default = true" not in result.stdout
    else:
        assert '+priority = "explicit"' in result.stdout
        assert f'+url = "https://{AR_HOST}/{PROJECT}/{REPOSITORY}/"' in result.stdout  # poetry's publish URL
    # The json key secret's identity asked, with a token minted from its key.
    assert {identity for _, _, identity in stack.api.requests} == {stack.sa_key.email}


def test_uploads_are_offered_only_where_they_can_go(stack: LoopbackStack, home: Path) -> None:
    standard = _configure(stack, home, "uv", "--dry-run", STANDARD_URL)
    assert f"check uploading without uploading: keyrings-gar doctor --check-access --for upload {STANDARD_URL}" in (
        standard.stdout)
    virtual = _configure(stack, home, "uv", "--dry-run", VIRTUAL_URL)
    assert virtual.returncode == 0, virtual.stderr
    assert "publish-url" not in virtual.stdout
    assert "+default = true" in virtual.stdout
    assert ("note: all-python takes no uploads (a virtual or remote repository): uploads go to a standard "
            "repository behind it") in virtual.stdout
    assert "--for upload" not in virtual.stdout
    twine = _configure(stack, home, "twine", VIRTUAL_URL)
    assert twine.returncode == 1
    assert ("all-python is a virtual (or remote) repository, which takes no uploads: configure twine for the "
            "standard repository behind it; nothing was written") in twine.stderr
    assert not (home / ".pypirc").exists()
    assert _configure(stack, home, "twine", STANDARD_URL).returncode == 0
    assert (home / ".pypirc").exists()


@pytest.mark.parametrize("why", ["API disabled", "no permission", "a host from KEYRINGS_GAR_HOSTS"])
def test_when_the_api_cannot_tell_nothing_is_written_and_the_flags_are_asked_for(
    stack: LoopbackStack, home: Path, why: str
) -> None:
    url, extra = STANDARD_URL, {}
    if why == "API disabled":
        stack.api.disabled = True
        says = "the Artifact Registry API is not enabled in project 123456789012"
    elif why == "no permission":
        stack.registry.grant("someone-else@example.com", "reader")
        says = "it lacks artifactregistry.repositories.get there"
    else:
        front = stack.front_upload_url()  # https://127.0.0.1:PORT/P/R/
        url = f"{front}simple/"
        extra = {"KEYRINGS_GAR_HOSTS": front.split("/")[2], "NO_PROXY": "127.0.0.1"}
        says = "names no location (a host from KEYRINGS_GAR_HOSTS)"
    result = _configure(stack, home, "pip", url, extra=extra)
    assert result.returncode == 1
    assert "cannot tell whether team-repo is a virtual or a standard repository" in result.stderr
    assert says in result.stderr
    assert "pass --virtual (a virtual repository fronts PyPI: the only index) or --standard" in result.stderr
    assert "nothing was written" in result.stderr
    assert not (home / ".config" / "pip" / "pip.conf").exists()
    if why == "a host from KEYRINGS_GAR_HOSTS":
        assert stack.api.requests == []


def test_an_explicit_kind_skips_the_api(stack: LoopbackStack, home: Path) -> None:
    stack.api.disabled = True
    result = _configure(stack, home, "pip", "--standard", STANDARD_URL)
    assert result.returncode == 0, result.stderr
    assert stack.api.requests == []
    assert "extra-index-url" in _pip_conf(home)["global"]


def test_a_missing_repository_is_named_and_nothing_written(stack: LoopbackStack, home: Path) -> None:
    result = _configure(stack, home, "pip", f"https://{AR_HOST}/{PROJECT}/no-such-repo/simple/")
    assert result.returncode == 1
    assert "Artifact Registry has no repository no-such-repo there (its API says so)" in result.stderr
    assert not (home / ".config" / "pip" / "pip.conf").exists()
