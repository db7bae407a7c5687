"""Where tokens are cached on each platform (chosen on Linux with the platform passed in)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from keyrings_gar import cachedir
from keyrings_gar.config import cache_dir

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def private(tmp_path: Path) -> Path:
    folder = tmp_path / "private"
    folder.mkdir(mode=0o700)
    folder.chmod(0o700)
    return folder


@pytest.fixture
def shm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "shm"
    folder.mkdir()
    folder.chmod(0o1777)
    monkeypatch.setattr(cachedir, "SHARED_MEMORY", folder)
    return folder


def test_linux_uses_the_runtime_folder(private: Path, shm: Path) -> None:
    environ = {"XDG_RUNTIME_DIR": str(private), "XDG_CACHE_HOME": "/home/dev/.cache", "HOME": "/home/dev"}
    assert cache_dir(environ, "linux") == private / "keyrings-gar"


@pytest.mark.parametrize("problem", ["unset", "relative", "group-readable", "world-writable", "a symlink",
                                     "a file", "missing"])
def test_linux_without_a_private_runtime_folder_uses_shared_memory_per_user(
    private: Path, shm: Path, tmp_path: Path, problem: str
) -> None:
    runtime = str(private)
    if problem == "unset":
        environ = {}
    else:
        if problem == "relative":
            runtime = "run/user"
        elif problem == "group-readable":
            private.chmod(0o750)
        elif problem == "world-writable":
            private.chmod(0o1777)
        elif problem == "a symlink":
            (tmp_path / "link").symlink_to(private)
            runtime = str(tmp_path / "link")
        elif problem == "a file":
            (tmp_path / "file").write_text("")
            runtime = str(tmp_path / "file")
        elif problem == "missing":
            runtime = str(tmp_path / "gone")
        environ = {"XDG_RUNTIME_DIR": runtime}
    assert cache_dir(environ, "linux") == shm / f"keyrings-gar-{os.getuid()}"


@pytest.mark.skipif(not ROOT, reason="chown needs root")
def test_linux_runtime_folder_of_another_user_is_not_used(private: Path, shm: Path) -> None:
    os.chown(private, 65534, 65534)
    assert cache_dir({"XDG_RUNTIME_DIR": str(private)}, "linux") == shm / f"keyrings-gar-{os.getuid()}"


def test_linux_without_runtime_folder_or_shared_memory_keeps_tokens_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cachedir, "SHARED_MEMORY", tmp_path / "no-shm")
    assert cache_dir({"HOME": str(tmp_path)}, "linux") is None


def test_never_the_user_cache_folder(private: Path, shm: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    for environ in ({"HOME": str(home)}, {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")},
                    {"XDG_RUNTIME_DIR": str(private), "XDG_CACHE_HOME": str(home / ".cache")}):
        chosen = cache_dir(environ, "linux")
        assert chosen is not None
        assert home not in chosen.parents


def test_macos_uses_the_per_user_temporary_folder(private: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cachedir, "darwin_user_temp_dir", lambda: str(private))
    assert cache_dir({"TMPDIR": "/private/var/elsewhere", "XDG_RUNTIME_DIR": "/run/user/501"}, "darwin") == \
        private / "keyrings-gar"


def test_macos_falls_back_to_tmpdir_when_it_is_private(private: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cachedir, "darwin_user_temp_dir", lambda: None)
    assert cache_dir({"TMPDIR": str(private)}, "darwin") == private / "keyrings-gar"


def test_macos_with_a_shared_temporary_folder_keeps_tokens_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    monkeypatch.setattr(cachedir, "darwin_user_temp_dir", lambda: None)
    assert cache_dir({"TMPDIR": str(shared)}, "darwin") is None
    assert cache_dir({}, "darwin") is None


def test_windows_uses_local_not_roaming_app_data() -> None:
    environ = {"LOCALAPPDATA": "C:\\Users\\dev\\AppData\\Local", "APPDATA": "C:\\Users\\dev\\AppData\\Roaming"}
    assert cache_dir(environ, "win32") == Path("C:\\Users\\dev\\AppData\\Local") / "keyrings-gar" / "Cache"


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_the_variable_overrides_every_platform(platform: str, tmp_path: Path) -> None:
    assert cache_dir({"KEYRINGS_GAR_CACHE_DIR": str(tmp_path / "c")}, platform) == tmp_path / "c" / "keyrings-gar"

