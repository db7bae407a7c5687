"""Windows and macOS paths and behaviour, checked on Linux with the platform injected.

Where a path must agree with another program (google-auth and gcloud for gcloud's folder and the
ADC file, keyring for keyringrc.cfg), the expected value comes from that program's own code run
with the platform it branches on switched, not from what we believe it does. The Windows lock is
driven through a stand-in for msvcrt that keeps byte-range locks per handle, as Windows does.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import sys
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest
from google.auth import _cloud_sdk
from keyring.util import platform_ as keyring_platform

from keyrings_gar import _privatefiles, cache, configfile
from keyrings_gar.adcfile import gcloud_adc_path
from keyrings_gar.gcloud import gcloud_config_dir

_OS_NAME = {"win32": "nt", "darwin": "posix", "linux": "posix"}
_PURE = {"win32": PureWindowsPath, "darwin": PurePosixPath, "linux": PurePosixPath}

_GCLOUD_ENVIRONMENTS = {
    "APPDATA set": {"APPDATA": r"C:\Users\dev\AppData\Roaming"},
    "APPDATA unset, SystemDrive D:": {"SystemDrive": "D:"},
    "neither": {},
    "CLOUDSDK_CONFIG": {"APPDATA": r"C:\Users\dev\AppData\Roaming", "CLOUDSDK_CONFIG": r"E:\gcloud-config"},
}


def _set_environment(monkeypatch: pytest.MonkeyPatch, home: Path, values: dict[str, str]) -> None:
    for name in ("APPDATA", "SystemDrive", "CLOUDSDK_CONFIG", "LOCALAPPDATA", "ProgramData", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    for name, value in values.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("platform", ["win32", "darwin", "linux"])
@pytest.mark.parametrize("environment", _GCLOUD_ENVIRONMENTS, ids=list(_GCLOUD_ENVIRONMENTS))
def test_gcloud_folder_and_adc_file_are_where_google_auth_looks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, platform: str, environment: str,
) -> None:
    _set_environment(monkeypatch, tmp_path / "home", _GCLOUD_ENVIRONMENTS[environment])
    with monkeypatch.context() as switched:
        # google-auth branches on os.name at call time; nothing else runs while it is switched.
        switched.setattr(os, "name", _OS_NAME[platform])
        google_folder = _cloud_sdk.get_config_path()
        google_adc = _cloud_sdk.get_application_default_credentials_path()
    pure = _PURE[platform]
    assert pure(str(gcloud_config_dir(os.environ, platform))) == pure(google_folder)
    assert pure(str(gcloud_adc_path(os.environ, platform))) == pure(google_adc)


def test_gcloud_folder_on_windows_is_appdata_gcloud(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _set_environment(monkeypatch, tmp_path, {"APPDATA": r"C:\Users\dev\AppData\Roaming"})
    found = PureWindowsPath(str(gcloud_adc_path(os.environ, "win32")))
    assert found == PureWindowsPath(r"C:\Users\dev\AppData\Roaming\gcloud\application_default_credentials.json")


def _keyring_config_root(platform: str) -> object:
    """keyring's own choice of config_root() on `platform`, by its own rule (platform.system())."""
    system = {"win32": "Windows", "darwin": "Darwin", "linux": "Linux"}[platform]
    return vars(keyring_platform).get(f"_config_root_{system}", keyring_platform._config_root_Linux)


@pytest.mark.parametrize(("platform", "first", "second"), [
    ("win32", {"LOCALAPPDATA": r"C:\Users\dev\AppData\Local"}, {"LOCALAPPDATA": r"C:\Users\ops\AppData\Local"}),
    ("win32", {"ProgramData": r"C:\ProgramData"}, {"LOCALAPPDATA": r"C:\Users\dev\AppData\Local"}),
    ("darwin", {}, {"XDG_CONFIG_HOME": "/Users/dev/xdg"}),
    ("linux", {"XDG_CONFIG_HOME": "/home/dev/xdg"}, {}),
])
def test_config_file_sits_beside_keyringrc_and_follows_its_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, platform: str, first: dict[str, str], second: dict[str, str],
) -> None:
    monkeypatch.setattr(keyring_platform, "config_root", _keyring_config_root(platform))
    monkeypatch.delenv(configfile.CONFIG_VAR, raising=False)
    for home, values in ((tmp_path / "first", first), (tmp_path / "second", second)):
        _set_environment(monkeypatch, home, values)
        keyringrc = Path(keyring_platform.config_root()) / "keyringrc.cfg"
        # Asked twice: the second answer comes from the memo, which must follow the environment.
        for _ in range(2):
            assert configfile.config_path(os.environ, platform) == keyringrc.with_name("keyrings-gar.cfg")


class WindowsLocks:
    """msvcrt's locking() as Windows does it: byte ranges from the handle's position, held per
    handle (another handle, even in the same process, is refused at once with LK_NBLCK), and
    released by LK_UNLCK from the handle that holds them."""

    LK_UNLCK, LK_LOCK, LK_NBLCK, LK_RLCK, LK_NBRLCK = range(5)

    def __init__(self) -> None:
        self.held: dict[tuple[int, int, int], int] = {}
        self.calls: list[tuple[str, int]] = []

    def locking(self, fd: int, mode: int, nbytes: int) -> None:
        info = os.fstat(fd)
        region = (info.st_dev, info.st_ino, os.lseek(fd, 0, os.SEEK_CUR) * 1000 + nbytes)
        if mode == self.LK_NBLCK:
            self.calls.append(("lock", fd))
            if region in self.held:
                raise OSError(errno.EACCES, "Permission denied")
            self.held[region] = fd
        elif mode == self.LK_UNLCK:
            self.calls.append(("unlock", fd))
            if self.held.get(region) != fd:
                raise OSError(errno.EACCES, "Permission denied")
            del self.held[region]
        else:
            raise AssertionError(f"mode {mode} would block or share the lock")


def test_windows_lock_refuses_a_second_holder_and_is_unlocked_before_closing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    locks = WindowsLocks()
    monkeypatch.setitem(sys.modules, "msvcrt", locks)
    path = tmp_path / "token.lock"
    first = _privatefiles.acquire_lock(path, 1.0, "win32")
    with pytest.raises(OSError, match="timed out waiting for the lock"):
        _privatefiles.acquire_lock(path, 0.05, "win32")
    _privatefiles.release_lock(first, "win32")
    assert locks.calls[-1] == ("unlock", first)
    assert not locks.held
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(first)  # closed too
    second = _privatefiles.acquire_lock(path, 0.05, "win32")
    _privatefiles.release_lock(second, "win32")
    assert not locks.held


def test_windows_cache_file_is_read_although_its_mode_bits_look_open(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    # Windows reports every writable file as 0o666 and has no uid: access is the folder's ACL.
    path = tmp_path / "entry.json"
    path.write_text(json.dumps({"version": 1, "identity": "dev@example.com", "expiry": 2e9, "token": "t"}))
    path.chmod(0o666)
    # on POSIX a file others can read is not ours to trust
    assert _privatefiles.read_json(path, cache.FORMAT_VERSION) is None
    monkeypatch.delattr(os, "getuid")
    assert _privatefiles.read_json(path, cache.FORMAT_VERSION) is not None


@pytest.mark.parametrize(("platform", "mode"), [("win32", 0o755), ("darwin", 0o700), ("linux", 0o700)])
def test_cache_folder_is_made_private_by_mode_bits_except_on_windows(
    tmp_path: Path, platform: str, mode: int,
) -> None:
    folder = tmp_path / "keyrings-gar"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    _privatefiles.ensure_private_directory(folder, platform)
    assert stat.S_IMODE(folder.stat().st_mode) == mode
