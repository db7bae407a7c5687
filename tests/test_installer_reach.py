"""Will an installer reach keyrings.gar? Real venvs (with this checkout's keyring, with or without the
plugin) probed by their own interpreters, as `doctor --installer` does for poetry, pdm, pip and uv."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from keyrings_gar.command import cli, installer_reach
from keyrings_gar.command.environments import (
    NOTE,
    OK,
    PROBLEM,
    Environment,
    Finding,
    script_interpreter,
    uninstall_command,
)
from keyrings_gar.command.installer_reach import _broken_tool, _install_fix, check_installer
from keyrings_gar.command.installer_settings import install_hint, install_source

SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])
PLUGIN_ENTRIES = ("keyrings_gar", "__editable__.keyrings_gar", "__editable___keyrings_gar")


def make_venv(where: Path, *, keyring: bool = True, plugin: bool = False, keyring_version: str | None = None,
              scripts: tuple[str, ...] = ()) -> Path:
    """A venv at `where` holding this test run's keyring (and keyrings.gar when `plugin`), by links to
    its packages; `scripts` are console scripts in its bin folder that run its python. Its bin folder."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    bin_dir = where / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True, timeout=60).stdout.strip())
    for entry in SITE_PACKAGES.iterdir() if keyring else ():
        if entry.name.startswith(PLUGIN_ENTRIES) and not plugin:
            continue
        if keyring_version and entry.name.startswith("keyring-") and entry.name.endswith(".dist-info"):
            # Another keyring release, as its metadata says: an older one without `--mode creds`.
            copy = site / f"keyring-{keyring_version}.dist-info"
            shutil.copytree(entry, copy)
            metadata = copy / "METADATA"
            lines = [f"Version: {keyring_version}" if line.startswith("Version: ") else line
                     for line in metadata.read_text().splitlines()]
            metadata.write_text("\n".join(lines) + "\n")
            continue
        (site / entry.name).symlink_to(entry)
    for name in scripts:
        script = bin_dir / name
        script.write_text(f"#!{python}\nraise SystemExit(0)\n")
        script.chmod(0o755)
    return bin_dir


def on_path(tmp_path: Path, *commands: Path) -> dict[str, str]:
    """An environment whose PATH holds only a folder of links to `commands` (what pipx leaves in
    ~/.local/bin): the scripts run their venv's python by its full path."""
    folder = tmp_path / "local-bin"
    folder.mkdir(exist_ok=True)
    for command in commands:
        (folder / command.name).symlink_to(command)
    return {"PATH": str(folder), "HOME": str(tmp_path)}


def check_in(monkeypatch: pytest.MonkeyPatch, tool: str, env: dict[str, str]) -> list[Finding]:
    """check_installer run with `env` as the whole environment."""
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return check_installer(tool)


def levels(findings: list[Finding]) -> list[str]:
    return [f.level for f in findings]


def test_poetry_in_a_pipx_venv_without_the_plugin_is_a_problem_with_pipx_inject(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = make_venv(tmp_path / "pipx" / "venvs" / "poetry", scripts=("poetry",))
    [finding] = check_in(monkeypatch, "poetry", on_path(tmp_path, bin_dir / "poetry"))
    assert finding.level == PROBLEM
    assert "has keyring 25" in finding.text
    assert "but not keyrings.gar" in finding.text
    assert finding.text.endswith(f"install it there: pipx inject poetry {install_source()}")


def test_poetry_with_the_plugin_in_its_venv_is_ok(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = make_venv(tmp_path / "pypoetry" / "venv", plugin=True, scripts=("poetry",))
    [finding] = check_in(monkeypatch, "poetry", on_path(tmp_path, bin_dir / "poetry"))
    assert finding.level == OK, finding.text
    assert "poetry loads keyring 25" in finding.text
    assert str(bin_dir / "python") in finding.text


def test_poetry_from_its_installer_is_told_poetry_self_add(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = make_venv(tmp_path / "pypoetry" / "venv", scripts=("poetry",))
    [finding] = check_in(monkeypatch, "poetry", on_path(tmp_path, bin_dir / "poetry"))
    assert finding.text.endswith(f"install it there: poetry self add {install_source()}")


def test_a_keyring_backend_forced_by_the_environment_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = make_venv(tmp_path / "pypoetry" / "venv", plugin=True, scripts=("poetry",))
    env = on_path(tmp_path, bin_dir / "poetry") | {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    [finding] = check_in(monkeypatch, "poetry", env)
    assert finding.level == PROBLEM
    assert "keyring there uses keyring.backends.fail.Keyring (PYTHON_KEYRING_BACKEND" in finding.text


def test_pdm_without_keyring_in_its_venv_falls_back_to_the_keyring_on_path(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    pdm = make_venv(tmp_path / "pdm-venv", keyring=False, scripts=("pdm",))
    keyring_bin = make_venv(tmp_path / "pipx" / "venvs" / "keyring", scripts=("keyring",))
    findings = check_in(monkeypatch, "pdm", on_path(tmp_path, pdm / "pdm", keyring_bin / "keyring"))
    assert levels(findings) == [NOTE, PROBLEM]
    assert "has no keyring, so pdm runs the `keyring` on PATH" in findings[0].text
    assert findings[1].text.endswith(f"install it there: pipx inject keyring {install_source()}")


def test_pdm_with_keyring_but_not_the_plugin_never_reaches_the_path(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    pdm = make_venv(tmp_path / "pdm-venv", scripts=("pdm",))
    keyring_bin = make_venv(tmp_path / "keyring-venv", plugin=True, scripts=("keyring",))
    [finding] = check_in(monkeypatch, "pdm", on_path(tmp_path, pdm / "pdm", keyring_bin / "keyring"))
    assert finding.level == PROBLEM
    assert finding.text.endswith(f"pdm self add {install_source()}")


def test_uv_needs_a_keyring_on_path_with_the_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_in(monkeypatch, "uv", on_path(tmp_path)) == [
        Finding(PROBLEM, f"uv runs the `keyring` on PATH, and no `keyring` on PATH: {install_hint()}")]
    keyring_bin = make_venv(tmp_path / "keyring-venv", plugin=True, scripts=("keyring",))
    [finding] = check_in(monkeypatch, "uv", on_path(tmp_path, keyring_bin / "keyring"))
    assert finding.level == OK
    assert "keyring 25" in finding.text


def test_a_keyring_without_creds_mode_is_a_problem_for_pip_and_a_note_for_uv(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    keyring_bin = make_venv(tmp_path / "old-keyring", plugin=True, keyring_version="24.3.1", scripts=("keyring",))
    env = on_path(tmp_path, keyring_bin / "keyring")
    assert levels(check_in(monkeypatch, "uv", env)) == [OK, NOTE]
    findings = check_in(monkeypatch, "pip", env)  # no pip on PATH: its version unknown, so 26.2+ is assumed
    assert levels(findings) == [OK, PROBLEM]
    assert "keyring 24.3.1 there has no `--mode creds`" in findings[1].text


def test_pip_skips_a_keyring_in_its_own_scripts_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pip's subprocess provider ignores a `keyring` beside pip (it would be the import provider
    again); without the plugin in pip's venv and no other keyring, neither way reaches us."""
    pip_bin = make_venv(tmp_path / "project-venv", scripts=("pip", "keyring"))
    env = {"PATH": str(pip_bin), "HOME": str(tmp_path)}
    findings = check_in(monkeypatch, "pip", env)
    assert levels(findings) == [PROBLEM, PROBLEM]
    assert "--keyring-provider import will not reach keyrings.gar" in findings[0].text
    assert findings[1].text == (f"pip --keyring-provider subprocess skips the `keyring` in pip's own environment "
                                f"({pip_bin / 'keyring'}), and there is no other on PATH: install one outside it "
                                f"({install_hint()})")


def test_one_working_pip_provider_turns_the_other_into_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pip_bin = make_venv(tmp_path / "project-venv", plugin=True, scripts=("pip",))
    env = {"PATH": str(pip_bin), "HOME": str(tmp_path)}
    assert levels(check_in(monkeypatch, "pip", env)) == [OK, NOTE]


def test_the_interpreter_of_a_long_path_script_is_read_from_its_exec_line(tmp_path: Path) -> None:
    """pip writes `#!/bin/sh` and an `exec` line when the interpreter's path is too long for `#!`."""
    script = tmp_path / "poetry"
    python = "/very/long/path/" + "x" * 150 + "/bin/python"
    script.write_text(f"#!/bin/sh\n'''exec' \"{python}\" \"$0\" \"$@\"\n' '''\nimport sys\n")
    assert script_interpreter(script) == Path(python)
    script.write_text("#!/opt/venv/bin/python3 -E\n")
    assert script_interpreter(script) == Path("/opt/venv/bin/python3")


def test_doctor_installer_exits_1_with_the_fix(tmp_path: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    bin_dir = make_venv(tmp_path / "pipx" / "venvs" / "poetry", scripts=("poetry",))
    for name, value in on_path(tmp_path, bin_dir / "poetry").items():
        monkeypatch.setenv(name, value)
    code = cli.main(["doctor", "--installer", "poetry"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "problem          poetry will not reach keyrings.gar" in out
    assert "install it there: pipx inject poetry " in out
    assert "Traceback" not in err


def test_a_keyring_module_planted_in_the_current_folder_is_not_run(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe runs the installer's python in whatever folder doctor runs in; a `keyring.py` there
    must neither run nor stand in for the installer's keyring."""
    bin_dir = make_venv(tmp_path / "pypoetry" / "venv", plugin=True, scripts=("poetry",))
    planted = tmp_path / "project"
    planted.mkdir()
    marker = tmp_path / "planted-code-ran"
    (planted / "keyring.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.chdir(planted)
    [finding] = check_in(monkeypatch, "poetry", on_path(tmp_path, bin_dir / "poetry") | {"PYTHONPATH": str(planted)})
    assert finding.level == OK, finding.text
    assert not marker.exists()


@pytest.mark.parametrize("path", ["", ".", "bin", "/nonexistent:."], ids=["empty", "dot", "relative", "after-dot"])
def test_an_installer_planted_in_the_current_folder_is_never_probed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    path: str) -> None:
    """Empty and relative PATH entries mean the current folder: a `poetry` or `keyring` planted there
    would name an interpreter of its choosing, which the probe would run."""
    planted = tmp_path / "project"
    (planted / "bin").mkdir(parents=True)
    marker = tmp_path / "planted-interpreter-ran"
    evil = tmp_path / "evil"
    evil.write_text(f"#!/bin/sh\ntouch {marker}\n")
    evil.chmod(0o755)
    for folder in (planted, planted / "bin"):
        for name in ("poetry", "keyring"):
            (folder / name).write_text(f"#!{evil}\n")
            (folder / name).chmod(0o755)
    monkeypatch.chdir(planted)
    env = {"PATH": path, "HOME": str(tmp_path)}
    [finding] = check_in(monkeypatch, "poetry", env)
    assert finding.text.startswith("no `poetry` on PATH; keyrings.gar must be installed where poetry imports keyring")
    assert levels(check_in(monkeypatch, "uv", env)) == [PROBLEM]
    assert not marker.exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_planted_as_an_installer_on_path_does_not_hang_the_probe(tmp_path: Path) -> None:
    """Another user can plant a FIFO where a command is looked up: reading its `#!` line must not
    block, as no file we read may."""
    fifo = tmp_path / "poetry"
    os.mkfifo(fifo)
    code = ("import sys; from pathlib import Path; "
            "from keyrings_gar.command.environments import script_interpreter; "
            "print(script_interpreter(Path(sys.argv[1])))")
    try:
        result = subprocess.run([sys.executable, "-c", code, str(fifo)], capture_output=True, text=True, timeout=30,
                                check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail("reading a FIFO's `#!` line hung", pytrace=False)
    assert (result.returncode, result.stdout) == (0, "None\n"), result.stderr


def _pdm_environment(python: Path, **versions: str | None) -> Environment:
    return Environment(python, {"keyring": None, "keyrings.gar": None, "pip": None, "hishel": "2.0.0", **versions},
                       [], None, "AttributeError: module 'hishel' has no attribute 'SyncSqliteStorage'")


@pytest.mark.parametrize(("python", "versions", "fix"), [
    # Plain `pipx inject pdm 'hishel<2'` says hishel is already installed and exits 0 having changed nothing.
    ("/home/u/.local/share/pipx/venvs/pdm/bin/python", {}, "pipx inject --force pdm 'hishel<2'"),
    # uv tool install replaces the extra requirements: the plugin must be named again or it goes.
    ("/home/u/.local/share/uv/tools/pdm/bin/python", {"keyring": "25.7.0", "keyrings.gar": "0.1.0"},
     f"uv tool install pdm --with keyring --with {install_source()} --with 'hishel<2' --reinstall"),
    ("/srv/venv/bin/python", {"pip": "26.2"}, "/srv/venv/bin/python -m pip install 'hishel<2'"),
    ("/srv/venv/bin/python", {}, "uv pip install --python /srv/venv/bin/python 'hishel<2'"),
])
def test_pdm_crashing_on_hishel_2_gets_the_pin_that_fits_how_pdm_is_installed(
    python: str, versions: dict[str, str], fix: str
) -> None:
    finding = _broken_tool("pdm", _pdm_environment(Path(python), **versions), "pdm's environment")
    assert finding.level == PROBLEM
    assert "pdm crashes before it asks keyring" in finding.text
    assert "hishel 2.0.0" in finding.text
    assert finding.text.endswith(f"pin it there: {fix}")


def test_pdm_failing_to_import_for_another_reason_is_shown_as_it_is() -> None:
    found = _pdm_environment(Path("/srv/venv/bin/python"), hishel="1.4.0")._replace(
        tool_error="ModuleNotFoundError: No module named 'unearth'")
    finding = _broken_tool("pdm", found, "pdm's environment")
    assert finding.level == PROBLEM
    assert "No module named 'unearth'" in finding.text
    assert "hishel<2" not in finding.text


WHEEL_WITH_SPACES = "'/tmp/my wheels/keyrings_gar-0.1.0-py3-none-any.whl'"


@pytest.mark.parametrize(("tool", "python", "pip", "fix"), [
    # Split into words, the quoted path became `--with '/tmp/my` and `--with wheels/...'`: a broken command.
    ("uv", "/home/u/.local/share/uv/tools/keyring/bin/python", None,
     f"uv tool install keyring --with keyring --with {WHEEL_WITH_SPACES} --reinstall"),
    # A venv made by uv has no pip: `python -m pip` there says "No module named pip".
    ("pip", "/srv/venv/bin/python", None, f"uv pip install --python /srv/venv/bin/python keyring {WHEEL_WITH_SPACES}"),
    ("pip", "/srv/venv/bin/python", "26.2", f"/srv/venv/bin/python -m pip install keyring {WHEEL_WITH_SPACES}"),
])
def test_the_install_fix_keeps_a_quoted_path_whole_and_uses_uv_where_there_is_no_pip(
    tool: str, python: str, pip: str | None, fix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(installer_reach, "install_source", lambda: WHEEL_WITH_SPACES)
    found = Environment(Path(python), {"keyring": None, "keyrings.gar": None, "pip": pip}, [], None)
    assert _install_fix(tool, found, with_keyring=True) == f"install it there: {fix}"


@pytest.mark.parametrize(("python", "has_pip", "command"), [
    # Seen: `pip uninstall` where keyring is a pipx app; and pipx runpip without -y stops at `Proceed (Y/n)?`.
    ("/home/u/.local/share/pipx/venvs/keyring/bin/python", False,
     "pipx runpip keyring uninstall -y keyrings.google-artifactregistry-auth"),
    ("/home/u/.local/share/uv/tools/keyring/bin/python", False,
     ("uv pip uninstall --python /home/u/.local/share/uv/tools/keyring/bin/python "
      "keyrings.google-artifactregistry-auth")),
    ("/srv/venv/bin/python", True, "/srv/venv/bin/python -m pip uninstall -y keyrings.google-artifactregistry-auth"),
    ("/srv/venv/bin/python", False,
     "uv pip uninstall --python /srv/venv/bin/python keyrings.google-artifactregistry-auth"),
])
def test_the_uninstall_command_fits_how_the_environment_was_installed(python: str, has_pip: bool,
                                                                       command: str) -> None:
    assert uninstall_command(Path(python), "keyrings.google-artifactregistry-auth", has_pip=has_pip) == command


def test_configure_pip_with_keyring_and_the_plugin_beside_pip_names_the_skip_and_offers_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen: keyring in the active venv, `which keyring` finds it, and configure said `no keyring on PATH`."""
    from keyrings_gar.command.installer_reach import reach_problem

    pip_bin = make_venv(tmp_path / "project-venv", plugin=True, scripts=("pip", "keyring"))
    monkeypatch.setenv("PATH", str(pip_bin))
    problem = reach_problem("pip")
    assert problem is not None
    assert "no `keyring` on PATH" not in problem
    assert f"skips the `keyring` in pip's own environment ({pip_bin / 'keyring'})" in problem
    assert ("use pip's import provider, which uses the keyring and keyrings.gar in pip's environment "
            f"({pip_bin / 'python'})") in problem
    assert "`keyring-provider = import` in pip.conf" in problem


def test_uv_is_named_with_its_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """doctor names the installer it checked: uv by what `uv --version` says (here this venv's uv)."""
    uv = Path(sys.executable).with_name("uv")
    if not uv.exists():
        pytest.skip("no uv beside this interpreter")
    version = subprocess.run([str(uv), "--version"], capture_output=True, text=True, check=True,
                             timeout=60).stdout.split()[1]
    findings = check_in(monkeypatch, "uv", on_path(tmp_path, uv))
    assert findings[0].text.startswith(f"uv {version} runs the `keyring` on PATH"), findings
