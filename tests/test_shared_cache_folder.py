"""KEYRINGS_GAR_CACHE_DIR naming a shared folder (`/tmp` in a Docker build run as root, any 1777
folder): tokens go into a folder of our own inside it, the shared folder keeps its mode, and
`cache clear` removes only files named as ours and owned by the user who runs it. As root, and as
an ordinary user (a child process that drops to `nobody`)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import AR_URL, Identities, console_script

KEYRING = console_script("keyring")
KEYRINGS_GAR = console_script("keyrings-gar")
OTHERS_FILES = {"package.json": '{"name": "web"}\n', "tsconfig.json": '{"compilerOptions": {}}\n',
                # Named as we name cache files, but in the shared folder, not ours: never ours to remove.
                "0123456789abcdef0123456789abcdef.json": "{}\n"}
NOBODY = 65534
SETPRIV = shutil.which("setpriv")


@pytest.fixture
def shared(google: Identities) -> Iterator[Path]:
    """A 1777 folder outside pytest's private tmp (which `nobody` cannot enter), holding other
    programs' files, with the key file readable by everyone."""
    base = Path(tempfile.mkdtemp(prefix="keyrings-gar-shared-"))
    base.chmod(0o755)
    folder = base / "tmp"
    folder.mkdir()
    folder.chmod(0o1777)
    for name, text in OTHERS_FILES.items():
        (folder / name).write_text(text)
    key = base / "sa-key.json"
    key.write_bytes(google.sa_key_file.read_bytes())
    key.chmod(0o644)
    yield folder
    shutil.rmtree(base)


def _as(user: int | None, *command: str, folder: Path, google: Identities) -> subprocess.CompletedProcess[str]:
    """`command` with KEYRINGS_GAR_CACHE_DIR naming the shared folder, as root (None) or `user`."""
    home = folder.parent / f"home-{user}"
    home.mkdir(exist_ok=True)
    if user is not None:
        os.chown(home, user, user)
    env = {**os.environ, "KEYRINGS_GAR_CACHE_DIR": str(folder), "HOME": str(home),
           "XDG_CONFIG_HOME": str(home / ".config"), "XDG_CACHE_HOME": str(home / ".cache"),
           "CLOUDSDK_CONFIG": str(home / "gcloud"),
           "GOOGLE_APPLICATION_CREDENTIALS": str(folder.parent / "sa-key.json")}
    env.pop("XDG_RUNTIME_DIR", None)
    prefix = [] if user is None else [str(SETPRIV), f"--reuid={user}", f"--regid={user}", "--clear-groups"]
    return subprocess.run([*prefix, *command], env=env, cwd=home, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, check=False)


def _others_untouched(folder: Path) -> None:
    assert stat.S_IMODE(folder.stat().st_mode) == 0o1777
    assert {name: (folder / name).read_text() for name in OTHERS_FILES} == OTHERS_FILES


def _keyring_runs_as_nobody() -> bool:
    """Whether this venv's `keyring` starts as `nobody`: not when the checkout sits in a private
    folder, nor with an interpreter built against a shared libpython under root's private home
    (pyenv's 3.9 here)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or SETPRIV is None:
        return False
    probe = subprocess.run([SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", KEYRING,
                            "--help"], capture_output=True, timeout=60, check=False, stdin=subprocess.DEVNULL)
    return probe.returncode == 0


needs_root = pytest.mark.skipif(not _keyring_runs_as_nobody(),
                                reason="dropping to another user needs root, setpriv and a `keyring` that user "
                                       "can start")


@pytest.mark.parametrize("user", [None, pytest.param(NOBODY, marks=needs_root)], ids=["root", "nobody"])
def test_a_shared_folder_keeps_its_mode_and_its_files(google: Identities, shared: Path, user: int | None) -> None:
    if user is None and os.geteuid() != 0:
        pytest.skip("the shared folder's owner is this user, not root")
    lookup = _as(user, KEYRING, "get", AR_URL, "oauth2accesstoken", folder=shared, google=google)
    assert lookup.returncode == 0, lookup.stderr
    assert google.google.identity_of(lookup.stdout.strip()) == google.sa_key.email
    ours = shared / "keyrings-gar"
    assert stat.S_IMODE(ours.stat().st_mode) == 0o700
    assert ours.stat().st_uid == (os.geteuid() if user is None else user)
    assert len(list(ours.glob("*.json"))) == 1
    _others_untouched(shared)

    cleared = _as(user, KEYRINGS_GAR, "cache", "clear", folder=shared, google=google)
    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout.startswith("removed 1 cached token and 0 remembered failures from ")
    assert list(ours.iterdir()) == [ours / "failures"] or list(ours.glob("*.json")) == []
    _others_untouched(shared)


@needs_root
def test_clear_leaves_a_file_of_another_user_even_when_it_is_named_as_ours(google: Identities, shared: Path) -> None:
    """Run as `nobody`: a file root put in nobody's cache folder, named as a token file, stays."""
    assert _as(NOBODY, KEYRING, "get", AR_URL, "oauth2accesstoken", folder=shared, google=google).returncode == 0
    ours = shared / "keyrings-gar"
    planted = ours / "fedcba9876543210fedcba9876543210.json"
    planted.write_text("{}\n")  # as root: owned by root
    (ours / "notes.json").write_text("{}\n")
    os.chown(ours / "notes.json", NOBODY, NOBODY)
    cleared = _as(NOBODY, KEYRINGS_GAR, "cache", "clear", folder=shared, google=google)
    assert cleared.stdout.startswith("removed 1 cached token "), cleared.stderr
    assert sorted(p.name for p in ours.glob("*.json")) == ["fedcba9876543210fedcba9876543210.json", "notes.json"]


def test_cache_clear_help_says_it_forgets_remembered_failures() -> None:
    result = subprocess.run([KEYRINGS_GAR, "cache", "clear", "--help"], capture_output=True, text=True, timeout=60,
                            check=False)
    assert "forget remembered failures" in " ".join(result.stdout.split())
