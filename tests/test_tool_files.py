"""How `configure` replaces a file (tool_files.py): every attack a cloned project or another local
user can plant, tried at every file configure writes; the temporary copy's mode; a failed write;
and no existing secret in the diff or any output."""

from __future__ import annotations

import configparser
import errno
import io
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from keyrings_gar.command import cli
from keyrings_gar.command.configure import Where, plan_configure
from keyrings_gar.command.index_rule import STANDARD, VIRTUAL, parse_repository
from tests.conftest import AR_HOST, AR_URL

PROJECT = '[project]\nname = "consumer"\nversion = "0.1.0"\n'
VICTIM = "# the user's ~/.bashrc\nexport PATH=$HOME/bin:$PATH\n"
NOBODY = 65534
RUNS_AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="links, FIFOs and owners are POSIX here")


class Written(NamedTuple):
    """A file configure writes: the command that writes it, where it is, and what it holds first
    (an existing file keeps what it had; a file created new starts from nothing)."""

    args: tuple[str, ...]
    where: Callable[[Path, Path], Path]
    """(home, project) -> the file."""
    initial: str

    @property
    def in_project(self) -> bool:
        return self.where(Path("home"), Path("project")).is_relative_to("project")


FILES: dict[str, Written] = {
    "pip.conf": Written(("pip",), lambda home, _: home / ".config" / "pip" / "pip.conf", ""),
    "pyproject.toml (uv)": Written(("uv",), lambda _, project: project / "pyproject.toml", PROJECT),
    "uv.toml": Written(("uv", "--uv-toml"), lambda _, project: project / "uv.toml", ""),
    "pyproject.toml (pdm)": Written(("pdm",), lambda _, project: project / "pyproject.toml", PROJECT),
    ".pypirc": Written(("twine",), lambda home, _: home / ".pypirc", ""),
    "pyproject.toml (poetry)": Written(("poetry",), lambda _, project: project / "pyproject.toml", PROJECT),
    "config.toml (poetry)": Written(("poetry",), lambda home, _: home / ".config" / "pypoetry" / "config.toml", ""),
}

# What each attack should come to: "written" (the plant is never touched, the file is written)
# or the words of the one-line refusal (nothing written, nothing created).
ATTACKS: dict[str, str] = {
    "symlink at the old temporary name": "written",
    "FIFO at the old temporary name": "written",
    "symlink at the target": "is a symbolic link",
    "FIFO at the target": "not a regular file",
    "hard link to the target": "hard links",
    "target of another user's": "belongs to another user",
    "symlinked parent of another user's": "belongs to another user",
}

# A link in the project that leads out of it says so (one inside it is refused as a link, below).
IN_PROJECT = {"symlink at the target": "resolves outside the project folder"}

TABLE = [(file, attack) for file in FILES for attack in ATTACKS]


def _with_kind(args: list[str]) -> list[str]:
    """configure without --virtual or --standard asks the Artifact Registry API (test_configure_mode.py);
    these tests name the kind: standard for twine and poetry (whose publish settings are files written
    only for a repository that takes uploads), virtual otherwise."""
    if args[:1] == ["configure"] and not {"--virtual", "--standard"} & set(args):
        return [*args, "--standard" if args[1] in ("twine", "poetry") else "--virtual"]
    return args



def _as_another_user(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`path` belongs to someone else: chowned when the test runs as root (the sudo case itself),
    else configure is made to run as another uid."""
    if RUNS_AS_ROOT:
        os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
    else:
        other = os.geteuid() + 1
        monkeypatch.setattr(os, "geteuid", lambda: other)


def _plant(attack: str, target: Path, initial: str, victim: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    old_temporary = target.with_name(f".{target.name}.keyrings-gar-new")
    if attack == "symlink at the old temporary name":
        old_temporary.symlink_to(victim)
    elif attack == "FIFO at the old temporary name":
        os.mkfifo(old_temporary)
    elif attack == "symlink at the target":
        target.unlink(missing_ok=True)
        victim.write_text(initial or "# the user's own file\n")  # a file configure could edit
        target.symlink_to(victim)
    elif attack == "FIFO at the target":
        target.unlink(missing_ok=True)
        os.mkfifo(target)
    elif attack == "hard link to the target":
        target.write_text(initial)
        victim.unlink()
        os.link(target, victim)
    elif attack == "target of another user's":
        target.write_text(initial)
        _as_another_user(target, monkeypatch)
    elif attack == "symlinked parent of another user's":
        elsewhere = victim.parent / "elsewhere"
        elsewhere.mkdir()
        for each in target.parent.iterdir():
            each.rename(elsewhere / each.name)
        target.parent.rmdir()
        target.parent.symlink_to(elsewhere)
        _as_another_user(elsewhere, monkeypatch)
    else:
        pytest.fail(f"no plant for {attack}")


def _listing(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every name under `root` with its type and, for a regular file, its content (never opening a FIFO)."""
    found = {}
    for folder, folders, files in os.walk(root):
        for name in files + folders:
            path = Path(folder, name)
            mode = path.lstat().st_mode
            found[str(path.relative_to(root))] = (stat.S_IFMT(mode),
                                                  path.read_bytes() if stat.S_ISREG(mode) else b"")
    return found


def _run_with_deadline(args: list[str], capsys: pytest.CaptureFixture[str], unblock: Path) -> tuple[int, str, str]:
    result: list[tuple[int, str, str]] = []

    def run() -> None:
        code = cli.main(_with_kind(args))
        captured = capsys.readouterr()
        result.append((code, captured.out, captured.err))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(15)
    if worker.is_alive():  # let a blocked open of a FIFO end, so the test run can
        with unblock.open("w"):
            pass
        pytest.fail("configure hung on a FIFO")
    return result[0]


@pytest.fixture
def project(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = isolated / "project"
    folder.mkdir()
    (folder / "pyproject.toml").write_text(PROJECT)
    monkeypatch.chdir(folder)
    return folder


@pytest.mark.parametrize("case", [(*row, dry_run) for row in TABLE for dry_run in (False, True)],
                         ids=lambda case: f"{case[0]}: {case[1]}{' (dry run)' if case[2] else ''}")
def test_every_planted_attack_at_every_file_configure_writes(
    project: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    case: tuple[str, str, bool]
) -> None:
    file, attack, dry_run = case
    written = FILES[file]
    target = written.where(isolated, project)
    if written.initial and not target.exists():
        target.write_text(written.initial)
    victim = isolated.parent / "bashrc"
    victim.write_text(VICTIM)
    _plant(attack, target, written.initial, victim, monkeypatch)
    if attack == "symlinked parent of another user's" and target.parent == project:
        monkeypatch.chdir(project)  # the shell's cwd is the link; configure sees the real folder
    before = _listing(isolated.parent)
    victim_before = victim.read_bytes()
    args = ["configure", *written.args, AR_URL, *(["--dry-run"] if dry_run else [])]
    code, out, err = _run_with_deadline(args, capsys, target)
    assert victim.read_bytes() == victim_before
    expected = IN_PROJECT.get(attack, ATTACKS[attack]) if written.in_project else ATTACKS[attack]
    if expected != "written":
        assert (code, out) == (1, ""), err
        assert expected in err
        assert len(err.strip().splitlines()) == 1
        assert _listing(isolated.parent) == before
        return
    assert code == 0, err
    after = _listing(isolated.parent)
    planted = str(target.with_name(f".{target.name}.keyrings-gar-new").relative_to(isolated.parent))
    assert after[planted] == before[planted]
    if dry_run:
        assert after == before
    else:
        assert AR_HOST in target.read_text()
        assert not [name for name in after if name not in before and "keyrings-gar" in name]


def test_the_attack_table_covers_every_file_configure_writes(project: Path, isolated: Path) -> None:
    """A new file configure learns to write joins FILES, and so gets every attack."""
    where = Where(project)
    planned = {(args, change.path)
               for args in {w.args for w in FILES.values()}
               for kind in (VIRTUAL, STANDARD)
               for change in plan_configure(args[0], [parse_repository(AR_URL)], kind,
                                            where._replace(uv_toml="--uv-toml" in args)).files}
    assert planned == {(w.args, w.where(isolated, project)) for w in FILES.values()}
    assert set(TABLE) == {(file, attack) for file in FILES for attack in ATTACKS}


@pytest.mark.parametrize("tool", ["uv", "pdm", "poetry"])
def test_a_project_file_linked_within_the_project_is_refused_as_a_link(
    project: Path, capsys: pytest.CaptureFixture[str], tool: str
) -> None:
    (project / "pyproject.toml").rename(project / "real.toml")
    (project / "pyproject.toml").symlink_to("real.toml")
    assert cli.main(_with_kind(["configure", tool, AR_URL])) == 1
    assert "pyproject.toml is a symbolic link, and configure writes no file through a link" in capsys.readouterr().err
    assert (project / "real.toml").read_text() == PROJECT


# --- the mode, from the first byte -----------------------------------------------------------


@pytest.mark.parametrize("case", [(file, exists) for file in (".pypirc", "pip.conf", "config.toml (poetry)")
                                  for exists in (True, False)],
                         ids=lambda case: f"{case[0]} ({'existing 0600' if case[1] else 'new'})")
def test_the_temporary_copy_is_never_more_readable_than_the_file(
    project: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    case: tuple[str, bool]
) -> None:
    """Another local user read the PyPI token from the 0644 temporary copy of a 0600 .pypirc before
    the chmod: each file created in the folder is checked the moment it is opened."""
    file, exists = case
    old_umask = os.umask(0o022)
    try:
        written = FILES[file]
        target = written.where(isolated, project)
        target.parent.mkdir(parents=True, exist_ok=True)
        if exists:
            target.write_text("# mine\n")
            target.chmod(0o600)
        created: list[int] = []
        real_open, real_io_open = os.open, io.open

        def os_open(path: Any, flags: int, mode: int = 0o777, *args: Any, **kwargs: Any) -> int:
            fd = real_open(path, flags, mode, *args, **kwargs)
            if flags & os.O_CREAT and Path(os.fsdecode(path)).parent == target.parent:
                created.append(stat.S_IMODE(os.fstat(fd).st_mode))
            return fd

        def io_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            opened = real_io_open(path, mode, *args, **kwargs)
            if any(c in mode for c in "wxa") and isinstance(path, (str, Path)) and Path(path).parent == target.parent:
                created.append(stat.S_IMODE(os.fstat(opened.fileno()).st_mode))
            return opened

        with monkeypatch.context() as patched:
            patched.setattr(os, "open", os_open)
            patched.setattr(io, "open", io_open)
            assert cli.main(_with_kind(["configure", *written.args, AR_URL])) == 0, capsys.readouterr().err
    finally:
        os.umask(old_umask)
    assert created, "the writer created no file in the target's folder"
    private = exists or file == ".pypirc"
    final = stat.S_IMODE(target.stat().st_mode)
    assert final == (0o600 if private else 0o644)  # a new pip.conf or config.toml as pip and poetry write it
    assert all(mode & ~final == 0 for mode in created), [oct(m) for m in created]


def test_a_failed_write_leaves_the_file_as_it_was_and_nothing_beside_it(
    project: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pypirc = isolated / ".pypirc"
    pypirc.write_text("[pypi]\nusername = __token__\n")
    pypirc.chmod(0o600)
    before = _listing(isolated)

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    assert cli.main(_with_kind(["configure", "twine", AR_URL])) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == f"keyrings-gar: cannot write {pypirc}: No space left on device; it is unchanged"
    assert _listing(isolated) == before


def test_a_symlinked_config_folder_of_one_s_own_is_written_through(
    project: Path, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Dotfile managers link ~/.config to a folder of the user's: only the file itself must not be a link."""
    dotfiles = isolated / "dotfiles" / "config"
    dotfiles.mkdir(parents=True)
    (isolated / ".config").symlink_to(dotfiles)
    assert cli.main(_with_kind(["configure", "pip", AR_URL])) == 0, capsys.readouterr().err
    assert AR_HOST in (dotfiles / "pip" / "pip.conf").read_text()


# --- no existing secret in what configure prints ---------------------------------------------

PYPI_TOKEN = "pypi-AgEIcHlwaS5vcmcCJGE0ZjFkZmQ3LTk5NzQtNDdjNy1hYzFjLTk5ZjM2ZmI3ZDU2ZgACKlszLCJ"
SHORT_PASSWORD = "hunter2-Plain"
ACCESS_TOKEN = "ya29.a0AfB_byC-mirror" + "x" * 20
SECRETS = (PYPI_TOKEN, SHORT_PASSWORD, ACCESS_TOKEN)


@pytest.mark.parametrize("dry_run", [True, False])
@pytest.mark.parametrize("tool", ["pip", "twine"])
def test_the_diff_never_shows_a_secret_already_in_the_file(
    project: Path, isolated: Path, capsys: pytest.CaptureFixture[str], tool: str, dry_run: bool
) -> None:
    """Context lines of the diff are the user's own lines: a password, a PyPI token, a URL with
    a password or a `ya29.` token beside what configure adds are shown redacted."""
    if tool == "pip":
        path = isolated / ".config" / "pip" / "pip.conf"
        path.parent.mkdir(parents=True)
        path.write_text(f"[global]\nextra-index-url =\n    https://mirror:{SHORT_PASSWORD}@mirror.example/simple/\n"
                        f"    https://oauth2accesstoken:{ACCESS_TOKEN}@other.example/simple/\n"
                        f"    https://{PYPI_TOKEN}@third.example/simple/\n")
    else:
        path = isolated / ".pypirc"
        path.write_text("[distutils]\nindex-servers =\n    pypi\n    mirror\n\n"
                        f"[mirror]\nrepository = https://mirror:{SHORT_PASSWORD}@mirror.example/\n"
                        f"token = {ACCESS_TOKEN}\n\n"
                        f"[pypi]\nusername = __token__\npassword = {PYPI_TOKEN}\n")
    code = cli.main(["configure", tool, AR_URL, "--standard", *(["--dry-run"] if dry_run else [])])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    shown = captured.out + captured.err
    assert "[not shown]" in shown or "***@" in shown  # the lines are there, redacted
    leaked = [s[-4:] for s in SECRETS for fragment in (s, s[:12], s[-12:]) if fragment in shown]
    assert not leaked, f"secrets ending in {leaked} shown"
    if not dry_run:  # the file itself keeps them, byte for byte
        assert all(secret in path.read_text() for secret in SECRETS)


# --- names that mean something else ----------------------------------------------------------

PYPI_SECTION = f"[distutils]\nindex-servers =\n    pypi\n\n[pypi]\nusername = __token__\npassword = {PYPI_TOKEN}\n"


@pytest.mark.parametrize(("url", "existing", "expected"), [
    (f"https://{AR_HOST}/acme-prod/pypi/", PYPI_SECTION, "would take twine's own [pypi] section"),
    (f"https://{AR_HOST}/acme-prod/testpypi/", "", "would take twine's own [testpypi] section"),
    (f"https://{AR_HOST}/acme-prod/PyPI/", PYPI_SECTION, "would take twine's own [pypi] section"),
    (AR_URL, "[team-repo]\nrepository = https://upload.example/legacy/\npassword = x\n",
     "already has a [team-repo] section, for https://upload.example/legacy/"),
    (AR_URL, "[team-repo]\nusername = __token__\n", "already has a [team-repo] section, for PyPI"),
])
def test_a_twine_section_that_means_another_server_is_never_merged_into(
    isolated: Path, capsys: pytest.CaptureFixture[str], url: str, existing: str, expected: str
) -> None:
    """Merged into [pypi], a plain `twine upload` sent the PyPI token to Artifact Registry (twine 7.0.0)."""
    pypirc = isolated / ".pypirc"
    if existing:
        pypirc.write_text(existing)
    for dry_run in ([], ["--dry-run"]):
        assert cli.main(_with_kind(["configure", "twine", url, *dry_run])) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        assert expected in captured.err
        assert PYPI_TOKEN[-12:] not in captured.err
    assert (pypirc.read_text() if existing else None) == (existing or None)


def test_a_twine_section_already_for_this_repository_is_kept(isolated: Path, capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    pypirc = isolated / ".pypirc"
    pypirc.write_text(f"[team-repo]\nrepository = https://{AR_HOST}/acme-prod/team-repo/\n")
    assert cli.main(_with_kind(["configure", "twine", AR_URL])) == 0, capsys.readouterr().err
    parser = configparser.RawConfigParser()
    parser.read(pypirc)
    assert parser.get("team-repo", "username") == "oauth2accesstoken"


@pytest.mark.parametrize("name", ["pypi", "PyPI"])
def test_a_poetry_source_named_pypi_is_refused(project: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    assert cli.main(_with_kind(["configure", "poetry", f"https://{AR_HOST}/acme-prod/{name}/"])) == 1
    assert "poetry keeps the source name" in capsys.readouterr().err
    assert (project / "pyproject.toml").read_text() == PROJECT


def test_poetry_s_config_naming_the_repository_for_another_server_is_refused_and_nothing_written(
    project: Path, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = isolated / ".config" / "pypoetry" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[repositories.team-repo]\nurl = "https://upload.example/legacy/"\n')
    assert cli.main(_with_kind(["configure", "poetry", AR_URL])) == 1
    assert "repositories.team-repo.url is already set to another value" in capsys.readouterr().err
    assert (project / "pyproject.toml").read_text() == PROJECT  # the plan is whole before anything is written
    assert config.read_text() == '[repositories.team-repo]\nurl = "https://upload.example/legacy/"\n'


def test_name_gives_a_clashing_repository_a_section_of_its_own(isolated: Path, project: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The refusal's fix works: `--name` puts the repository named pypi beside PyPI's [pypi], not in it."""
    pypirc = isolated / ".pypirc"
    pypirc.write_text(PYPI_SECTION)
    url = f"https://{AR_HOST}/acme-prod/pypi/"
    assert cli.main(_with_kind(["configure", "twine", url])) == 1
    assert "pass --name with another name" in capsys.readouterr().err
    assert cli.main(_with_kind(["configure", "twine", url, "--name", "acme-pypi"])) == 0, capsys.readouterr().err
    parser = configparser.RawConfigParser()
    parser.read(pypirc)
    assert dict(parser["pypi"]) == {"username": "__token__", "password": PYPI_TOKEN}
    assert dict(parser["acme-pypi"]) == {"repository": url, "username": "oauth2accesstoken"}
    assert parser.get("distutils", "index-servers").split() == ["pypi", "acme-pypi"]
    assert "twine upload -r acme-pypi dist/*" in capsys.readouterr().out
    assert cli.main(_with_kind(["configure", "poetry", url, "--name", "acme-pypi"])) == 0, capsys.readouterr().err
    assert (isolated / ".config" / "pypoetry" / "config.toml").read_text().count("[repositories.acme-pypi]") == 1


@pytest.mark.parametrize(("args", "expected"), [
    ((AR_URL, f"https://{AR_HOST}/acme-prod/other/", "--name", "x"), "--name names one repository"),
    ((AR_URL, "--name", "a b"), "--name 'a b' is not a name"),
    ((AR_URL, "--name", ACCESS_TOKEN), "--name holds what looks like a key or token"),
])
def test_name_is_one_plain_name_for_one_repository(isolated: Path, capsys: pytest.CaptureFixture[str],
                                                   args: tuple[str, ...], expected: str) -> None:
    assert cli.main(_with_kind(["configure", "twine", *args])) == 1
    err = capsys.readouterr().err
    assert expected in err
    assert ACCESS_TOKEN[:12] not in err
    assert not (isolated / ".pypirc").exists()
