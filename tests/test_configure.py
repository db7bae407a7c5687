"""`keyrings-gar configure`: which file each tool gets, idempotence, --dry-run, refusals, and that it
writes what `settings` prints. The real installers read these files in tests/e2e/test_configure.py."""

from __future__ import annotations

import configparser
import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from keyrings_gar.command import cli
from tests.conftest import AR_HOST, AR_URL, Identities, assert_no_secrets
from tests.toml_reader import toml_reader


def _toml(text: str) -> dict[str, Any]:
    """tomllib (tomli before Python 3.11, as configure itself uses) reads what was written."""
    tomllib = toml_reader()
    parsed: dict[str, Any] = tomllib.loads(text)
    return parsed

UPLOAD_URL = f"https://{AR_HOST}/acme-prod/team-repo/"
OTHER_URL = "https://europe-python.pkg.dev/acme-prod/shared/simple/"
PROJECT = '[project]\nname = "consumer"\nversion = "0.1.0"\n'


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command in this process. Without --virtual or --standard configure asks the Artifact
    Registry API (test_configure_mode.py); these tests name the kind instead: virtual, as the
    default was, and standard for twine (which publishes, and a virtual repository takes no uploads)."""
    if args[0] == "configure" and not {"--virtual", "--standard"} & set(args):
        args = (*args, "--standard" if args[1] == "twine" else "--virtual")
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def project(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = isolated / "project"
    folder.mkdir()
    (folder / "pyproject.toml").write_text(PROJECT)
    monkeypatch.chdir(folder)
    return folder


def _pip_conf(home: Path) -> Path:
    return home / ".config" / "pip" / "pip.conf"


def test_pip_writes_the_user_file_pip_config_edits(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "configure", "pip", AR_URL)
    assert (code, err) == (0, "")
    parser = configparser.RawConfigParser()
    parser.read(_pip_conf(isolated))
    assert parser.get("global", "index-url") == f"https://oauth2accesstoken@{AR_HOST}/acme-prod/team-repo/simple/"
    assert parser.get("global", "keyring-provider") == "subprocess"
    assert f"changed {_pip_conf(isolated)}" in out


def test_pip_config_file_variable_names_the_file(isolated: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    named = isolated / "team-pip.conf"
    monkeypatch.setenv("PIP_CONFIG_FILE", str(named))
    assert _run(capsys, "configure", "pip", AR_URL)[0] == 0
    assert "keyring-provider = subprocess" in named.read_text()
    assert not _pip_conf(isolated).exists()


@pytest.mark.parametrize("tool", ["pip", "uv", "pdm", "twine"])
def test_a_second_run_changes_nothing_and_says_so(project: Path, isolated: Path, capsys: pytest.CaptureFixture[str],
                                                  tool: str) -> None:
    assert _run(capsys, "configure", tool, AR_URL, OTHER_URL)[0] == 0
    written = {path: path.read_bytes() for path in (_pip_conf(isolated), project / "pyproject.toml",
                                                    isolated / ".pypirc") if path.exists()}
    code, out, _ = _run(capsys, "configure", tool, AR_URL, OTHER_URL)
    assert code == 0
    assert "nothing to change in" in out
    assert "changed" not in out
    assert {path: path.read_bytes() for path in written} == written


@pytest.mark.parametrize("tool", ["pip", "uv", "pdm", "twine"])
def test_dry_run_prints_the_diff_and_writes_nothing(project: Path, isolated: Path,
                                                     capsys: pytest.CaptureFixture[str], tool: str) -> None:
    code, out, _ = _run(capsys, "configure", tool, AR_URL, "--dry-run")
    assert code == 0
    assert "would change" in out
    assert "dry run: nothing written" in out
    assert "\n+" in out
    assert (project / "pyproject.toml").read_text() == PROJECT
    assert not _pip_conf(isolated).exists()
    assert not (isolated / ".pypirc").exists()


def test_uv_goes_into_pyproject_or_uv_toml(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "configure", "uv", AR_URL)[0] == 0
    uv = _toml((project / "pyproject.toml").read_text())["tool"]["uv"]
    assert uv["keyring-provider"] == "subprocess"
    # A virtual repository takes no uploads: no publish-url.
    assert uv["index"] == [{"name": "team-repo", "url": AR_URL, "authenticate": "always", "default": True}]
    assert _run(capsys, "configure", "uv", AR_URL, "--uv-toml", "--standard")[0] == 0
    config = _toml((project / "uv.toml").read_text())
    assert config["keyring-provider"] == "subprocess"
    assert config["index"] == [{"name": "team-repo", "url": AR_URL, "publish-url": UPLOAD_URL,
                                "authenticate": "always"}]


@pytest.mark.parametrize("tool", ["uv", "pdm", "poetry"])
def test_a_project_tool_outside_a_project_is_refused(isolated: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str], tool: str) -> None:
    monkeypatch.chdir(isolated)
    code, out, err = _run(capsys, "configure", tool, AR_URL)
    assert (code, out) == (1, "")
    assert "no pyproject.toml in" in err


def test_several_repositories_in_one_call_follow_the_rule(project: Path, isolated: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Virtual: the first is the only index, the rest are ours too; pdm names the first pypi."""
    assert _run(capsys, "configure", "pdm", AR_URL, OTHER_URL)[0] == 0
    sources = _toml((project / "pyproject.toml").read_text())["tool"]["pdm"]["source"]
    assert sources == [{"name": "pypi", "url": AR_URL}, {"name": "shared", "url": OTHER_URL}]
    assert _run(capsys, "configure", "pip", AR_URL, OTHER_URL)[0] == 0
    parser = configparser.RawConfigParser()
    parser.read(_pip_conf(isolated))
    assert parser.get("global", "index-url").endswith("/acme-prod/team-repo/simple/")
    assert parser.get("global", "extra-index-url").split() == [OTHER_URL.replace("https://", "https://oauth2accesstoken@")]


def test_existing_entries_and_comments_stay(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (PROJECT + "# our own mirror\n[[tool.uv.index]]\nname = \"mirror\"\n"
              "url = \"https://mirror.example/simple/\"  # fast\n")
    (project / "pyproject.toml").write_text(before)
    assert _run(capsys, "configure", "uv", AR_URL, "--standard")[0] == 0
    after = (project / "pyproject.toml").read_text()
    assert after.startswith(before)
    assert [i["name"] for i in _toml(after)["tool"]["uv"]["index"]] == ["mirror", "team-repo"]


@pytest.mark.parametrize(("tool", "existing", "expected"), [
    ("uv", '[[tool.uv.index]]\nname = "team-repo"\nurl = "https://elsewhere.example/simple/"\n', "other settings"),
    ("uv", '[[tool.uv.index]]\nname = "corp"\nurl = "https://corp.example/simple/"\ndefault = true\n',
     "already the default"),
    ("pdm", '[[tool.pdm.source]]\nname = "pypi"\nurl = "https://mirror.example/simple/"\n', "other settings"),
    ("uv", '[tool.uv]\nkeyring-provider = "disabled"\n', "already set to another value"),
])
def test_a_conflicting_entry_is_refused_and_the_file_left_alone(
    project: Path, capsys: pytest.CaptureFixture[str], tool: str, existing: str, expected: str
) -> None:
    (project / "pyproject.toml").write_text(PROJECT + existing)
    code, out, err = _run(capsys, "configure", tool, AR_URL)
    assert (code, out) == (1, "")
    assert expected in err
    assert (project / "pyproject.toml").read_text() == PROJECT + existing


def test_one_repository_cannot_be_both_kinds_in_pip(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "configure", "pip", AR_URL, "--standard")[0] == 0
    code, _, err = _run(capsys, "configure", "pip", AR_URL, "--virtual")
    assert code == 1
    assert "already has this repository as extra-index-url" in err


def test_twine_gets_the_server_the_upload_url_and_the_username(isolated: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    (isolated / ".pypirc").write_text("[distutils]\nindex-servers =\n    pypi\n\n# PyPI itself\n[pypi]\n"
                                      "username = __token__\n")
    assert _run(capsys, "configure", "twine", AR_URL)[0] == 0
    text = (isolated / ".pypirc").read_text()
    assert "# PyPI itself\n[pypi]\nusername = __token__\n" in text
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    assert parser.get("distutils", "index-servers").split() == ["pypi", "team-repo"]
    assert dict(parser["team-repo"]) == {"repository": UPLOAD_URL, "username": "oauth2accesstoken"}


@pytest.mark.parametrize("tool", ["pip", "uv", "poetry", "pdm", "twine"])
def test_a_dry_run_runs_no_program(project: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str], tool: str) -> None:
    """--dry-run writes nothing and runs nothing: not poetry, and not the installer's own Python or the
    `keyring` on PATH that the reach check starts (issue 22: a dry run in a clone must be harmless)."""
    ran = isolated / "ran"
    bin_folder = isolated / "bin"
    bin_folder.mkdir()
    for name in ("keyring", "pip", "python", "python3", "uv", "poetry", "pdm", "twine", "pipx"):
        script = bin_folder / name
        script.write_text(f"#!/bin/sh\necho {name} >> {ran}\n")
        script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_folder))
    code, out, err = _run(capsys, "configure", tool, AR_URL, "--dry-run")
    assert (code, err) == (0, ""), out
    assert f"was not checked (`keyrings-gar doctor --installer {tool}` checks it)" in out
    assert not ran.exists(), ran.read_text()
    if tool == "pip":  # the same without --dry-run does run the reach check: the test can tell
        assert _run(capsys, "configure", tool, AR_URL)[0] == 0
        assert ran.exists()


@pytest.mark.parametrize("dry_run", [True, False])
def test_poetry_is_never_run_its_files_are_written(project: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str], dry_run: bool) -> None:
    """`poetry source add` in a cloned project loads the project's plugins, and a trailing `:` in
    PATH made even --dry-run run the clone's own ./poetry: configure writes poetry's two files itself."""
    ran = isolated / "poetry-ran"
    bin_folder = isolated / "bin"
    for folder in (bin_folder, project):  # poetry on PATH, and one planted in the clone
        _script(folder, "poetry", f"/bin/sh\necho $0 >> {ran}")
    monkeypatch.setenv("PATH", f"{bin_folder}:")
    code, out, err = _run(capsys, "configure", "poetry", AR_URL, "--standard", *(["--dry-run"] if dry_run else []))
    assert (code, err) == (0, "")
    assert not ran.exists()
    config = isolated / ".config" / "pypoetry" / "config.toml"
    if dry_run:
        assert (project / "pyproject.toml").read_text() == PROJECT
        assert not config.exists()
        assert f"would change {config}" in out
        return
    sources = _toml((project / "pyproject.toml").read_text())["tool"]["poetry"]["source"]
    assert sources == [{"name": "team-repo", "url": AR_URL, "priority": "explicit"}]
    assert _toml(config.read_text()) == {"repositories": {"team-repo": {"url": UPLOAD_URL}}}
    assert "nothing to change in" in _run(capsys, "configure", "poetry", AR_URL, "--standard")[1]


def test_poetry_gets_no_publish_repository_for_a_virtual_one(project: Path, isolated: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A virtual repository takes no uploads: nothing to publish to, so poetry's config.toml is left alone."""
    code, out, err = _run(capsys, "configure", "poetry", AR_URL, "--virtual")
    assert (code, err) == (0, "")
    sources = _toml((project / "pyproject.toml").read_text())["tool"]["poetry"]["source"]
    assert sources == [{"name": "team-repo", "url": AR_URL, "priority": "primary"}]
    assert not (isolated / ".config" / "pypoetry" / "config.toml").exists()
    assert "poetry publish" not in out


def test_poetry_config_dir_names_poetry_s_config_folder(project: Path, isolated: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("POETRY_CONFIG_DIR", str(isolated / "poetry-config"))
    (isolated / "poetry-config").mkdir()
    (isolated / "poetry-config" / "config.toml").write_text('[virtualenvs]\nin-project = true\n')
    assert _run(capsys, "configure", "poetry", AR_URL, "--standard")[0] == 0
    written = _toml((isolated / "poetry-config" / "config.toml").read_text())
    assert written == {"virtualenvs": {"in-project": True}, "repositories": {"team-repo": {"url": UPLOAD_URL}}}
    assert not (isolated / ".config" / "pypoetry").exists()
    assert _toml((project / "pyproject.toml").read_text())["tool"]["poetry"]["source"][0]["priority"] == "explicit"


@pytest.mark.parametrize("tool", ["pip", "uv", "poetry", "pdm", "twine"])
@pytest.mark.parametrize(("url", "expected"), [
    ("http://us-central1-python.pkg.dev/acme-prod/team-repo/simple/", "never travels without TLS"),
    ("https://oauth2accesstoken:ya29.secret@us-central1-python.pkg.dev/acme-prod/team-repo/", "carries a password"),
    ("https://pypi.org/simple/", "not an Artifact Registry Python host"),
    ("https://us-docker.pkg.dev/acme-prod/team-repo/", "not an Artifact Registry Python host"),
    (f"https://{AR_HOST}/acme-prod/", "give the repository's URL"),
    (f"https://{AR_HOST}/acme-prod/team%5Drepo/", "does not name a repository"),
])
def test_only_https_artifact_registry_python_repositories_are_written(
    project: Path, capsys: pytest.CaptureFixture[str], tool: str, url: str, expected: str
) -> None:
    """Every tool takes its URLs through the one grammar (hosts.py): a plain-http, foreign or
    password-carrying URL never reaches a file, even beside a good one."""
    code, out, err = _run(capsys, "configure", tool, AR_URL, url)
    assert (code, out) == (1, "")
    assert expected in err
    assert "ya29.secret" not in err
    assert (project / "pyproject.toml").read_text() == PROJECT
    home = project.parent
    assert not _pip_conf(home).exists()
    assert not (home / ".pypirc").exists()


@pytest.mark.parametrize("tool", ["pip", "uv", "pdm", "twine"])
def test_no_credential_is_written_or_printed(google: Identities, project: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str], tool: str) -> None:
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", google.sa_key.base64)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    code, out, err = _run(capsys, "configure", tool, AR_URL)
    assert code == 0
    home = project.parent
    files = [p.read_text() for p in (_pip_conf(home), project / "pyproject.toml", home / ".pypirc") if p.exists()]
    assert not google.google.tokens  # configure never mints
    assert_no_secrets(google, out, err, *files)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
@pytest.mark.parametrize("tool", ["pip", "uv", "twine"])
def test_a_fifo_where_the_config_file_belongs_is_refused_at_once(
    project: Path, isolated: Path, capsys: pytest.CaptureFixture[str], tool: str
) -> None:
    target = {"pip": _pip_conf(isolated), "uv": project / "pyproject.toml", "twine": isolated / ".pypirc"}[tool]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    os.mkfifo(target)
    result: list[tuple[int, str, str]] = []
    worker = threading.Thread(target=lambda: result.append(_run(capsys, "configure", tool, AR_URL)), daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():  # unblock the reader so the test run can end
        with target.open("w"):
            pass
        pytest.fail("configure hung on a FIFO")
    code, _, err = result[0]
    assert code == 1
    assert "not a regular file" in err


# --- configure writes what settings prints ---------------------------------------------------


@pytest.mark.parametrize("kind", ["--virtual", "--standard"])
def test_uv_and_pdm_write_what_settings_prints(project: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    for tool in ("uv", "pdm"):
        _, snippet, _ = _run(capsys, "settings", tool, AR_URL, kind)
        assert _run(capsys, "configure", tool, AR_URL, kind)[0] == 0
        written = _toml((project / "pyproject.toml").read_text())
        printed = _toml(snippet)
        assert written["tool"][tool] == printed["tool"][tool]
        (project / "pyproject.toml").write_text(PROJECT)


@pytest.mark.parametrize("kind", ["--virtual", "--standard"])
def test_pip_writes_what_settings_prints(isolated: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    _, snippet, _ = _run(capsys, "settings", "pip", AR_URL, kind)
    assert _run(capsys, "configure", "pip", AR_URL, kind)[0] == 0
    printed, written = configparser.RawConfigParser(), configparser.RawConfigParser()
    printed.read_string(snippet)
    written.read(_pip_conf(isolated))
    assert dict(written["global"]) == dict(printed["global"])


# --- whether the tool will reach the plugin ---------------------------------------------------


def _script(folder: Path, name: str, python: str) -> None:
    folder.mkdir(exist_ok=True)
    script = folder / name
    script.write_text(f"#!{python}\nimport sys\n")
    script.chmod(0o755)


@pytest.mark.parametrize(("python", "warning"), [
    (None, "pip runs the `keyring` on PATH, and no `keyring` on PATH: pipx install keyring"),
    ("/bin/false", "/bin/false, did not answer as a Python 3 would: pipx install keyring && pipx inject"),
    (sys.executable, None),  # this test venv holds keyring and keyrings.gar
])
def test_configure_says_what_to_install_where_when_pip_will_not_reach_the_plugin(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], python: str | None,
    warning: str | None
) -> None:
    bin_folder = isolated / "bin"
    bin_folder.mkdir()
    if python is not None:
        _script(bin_folder, "keyring", python)
    monkeypatch.setenv("PATH", str(bin_folder))
    code, out, _ = _run(capsys, "configure", "pip", AR_URL)
    assert code == 0
    if warning is None:
        assert "warning" not in out
    else:
        assert "warning: pip runs the `keyring`" in out
        assert warning in out


def test_configure_poetry_names_poetry_self_add_when_poetry_lacks_the_plugin(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keyrings_gar.command.installer_reach import reach_problem

    _script(isolated / "bin", "poetry", "/bin/false")
    monkeypatch.setenv("PATH", str(isolated / "bin"))
    problem = reach_problem("poetry")
    assert problem is not None
    assert "keyrings.gar must be installed where poetry imports keyring (`poetry self add" in problem


def test_before_python_3_11_without_tomli_a_project_file_is_refused_not_edited_blind(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "tomllib", None)
    monkeypatch.setitem(sys.modules, "tomli", None)
    code, out, err = _run(capsys, "configure", "uv", AR_URL)
    assert (code, out) == (1, "")
    assert "needs Python 3.11+ or tomli (`pip install tomli` beside keyrings.gar)" in err
    assert (project / "pyproject.toml").read_text() == PROJECT


# What redact.showable refuses to print; a JWT joins this list when the redactor learns JWTs (issue 17).
TOKEN = "ya29.a0AfH6SMBx" + "Q" * 60
KEY_BASE64 = "ewogICJ0eXBlIjogInNlcnZpY2VfYWNjb3VudCIsCiAgInByb2plY3RfaWQiOiAiYWNtZS1wcm9kIgp9"


@pytest.mark.parametrize("variable", ["PIP_CONFIG_FILE", "XDG_CONFIG_HOME"])
@pytest.mark.parametrize("secret", [TOKEN, KEY_BASE64])
def test_a_token_where_a_path_belongs_is_never_a_file_nor_echoed(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, secret: str
) -> None:
    monkeypatch.chdir(isolated)
    monkeypatch.setenv(variable, secret)
    code, out, err = _run(capsys, "configure", "pip", AR_URL)
    assert (code, out) == (1, "")
    assert "looks like a key or token, not a path" in err
    assert secret not in err
    assert secret[:20] not in err
    assert not any(secret[:20] in str(p) for p in isolated.rglob("*"))


def test_a_token_given_as_file_is_refused_for_every_file_tool(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for tool in ("pip", "uv", "pdm", "twine"):
        code, _, err = _run(capsys, "configure", tool, AR_URL, "--file", TOKEN)
        assert code == 1
        assert TOKEN[:20] not in err
        assert not (project / TOKEN).exists()
