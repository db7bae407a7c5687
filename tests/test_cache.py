"""The token cache: one grant per identity across processes, safe files, honest expiry."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from keyrings_gar import cache, cachedir
from keyrings_gar.backend import GarKeyring
from tests.conftest import AR_HOST, AR_URL, Identities, console_script

KEYRING = console_script("keyring")
KEYRINGS_GAR = console_script("keyrings-gar")
# A hang must fail the test, not the suite: every lookup near a FIFO runs in a process with this.
PROMPTLY = 30


@pytest.fixture
def cache_dir(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Our own folder, inside the (existing) folder KEYRINGS_GAR_CACHE_DIR names."""
    named = isolated / "token-cache"
    named.mkdir()
    monkeypatch.setenv("KEYRINGS_GAR_CACHE_DIR", str(named))
    return named / "keyrings-gar"


@pytest.fixture
def sa_env(google: Identities, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Identities:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    return google


def _token(service: str = AR_URL) -> str:
    token = GarKeyring().get_password(service, "oauth2accesstoken")
    assert token is not None
    return token


def _cache_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.json"))


def _new_process() -> None:
    """What a fresh `keyring` process sees: nothing in memory."""
    cache._memory.clear()


@pytest.mark.parametrize("processes", [8, 32])
def test_concurrent_cold_processes_make_one_grant_between_them(sa_env: Identities, processes: int) -> None:
    sa_env.google.latency = 0.3  # the first grant is still in flight when the others arrive
    env = dict(os.environ)
    started = [subprocess.Popen([KEYRING, "get", AR_URL, "oauth2accesstoken"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
               for _ in range(processes)]
    outputs = [p.communicate(timeout=120) for p in started]
    assert [p.returncode for p in started] == [0] * processes, outputs[0][1]
    tokens = {out.strip() for out, _err in outputs}
    assert len(tokens) == 1
    # A later process is served the same token from disk (one is enough: they all run after the writes).
    result = subprocess.run([KEYRING, "get", f"https://{AR_HOST}", "_token"], env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.stdout.strip() in tokens
    assert sa_env.google.grants == [sa_env.sa_key.email]


def test_warm_lookup_in_process_is_served_from_memory(sa_env: Identities, cache_dir: Path) -> None:
    first = _token()
    for path in _cache_files(cache_dir):
        path.unlink()
    assert _token("https://us-central1-python.pkg.dev") == first
    assert len(sa_env.google.grants) == 1


def test_token_is_shared_by_host_not_by_repository(sa_env: Identities) -> None:
    first = _token(AR_URL)
    _new_process()
    assert _token("https://europe-west4-python.pkg.dev/other/repo/simple/") == first
    assert len(sa_env.google.grants) == 1


MARGIN = cache.MIN_REMAINING_SECONDS


@pytest.mark.parametrize(("remaining", "reused"), [
    (3000, True), (MARGIN + 1, True), (MARGIN - 1, False), (300, False), (60, False), (-10, False),
])
def test_a_token_is_served_only_while_its_safety_margin_remains(
    sa_env: Identities, cache_dir: Path, remaining: float, reused: bool
) -> None:
    first = _token()
    [path] = _cache_files(cache_dir)
    data = json.loads(path.read_text())
    # As if time had passed since an hour-long token was received.
    data["expiry"] = time.time() + remaining
    data["obtained"] = data["expiry"] - 3600
    path.write_text(json.dumps(data))
    _new_process()
    assert (_token() == first) is reused
    assert len(sa_env.google.grants) == (1 if reused else 2)


@pytest.mark.parametrize(("lifetime", "remaining", "reused"), [
    (600, 310, True), (600, 290, False), (240, 125, True), (240, 115, False),
    # min(15 min, half the life): continuous across 900 s, where it once jumped from 450 s to 60 s of reuse.
    (899, 450, True), (899, 449, False), (900, 451, True), (900, 449, False), (960, 481, True), (960, 479, False),
    (1800, MARGIN + 1, True), (1800, MARGIN - 1, False), (3600, MARGIN + 1, True), (3600, MARGIN - 1, False),
])
def test_a_token_is_reused_until_min_of_the_margin_and_half_its_life_is_left(
    sa_env: Identities, cache_dir: Path, lifetime: float, remaining: float, reused: bool
) -> None:
    first = _token()
    [path] = _cache_files(cache_dir)
    data = json.loads(path.read_text())
    now = time.time()
    data["expiry"], data["obtained"] = now + remaining, now + remaining - lifetime
    path.write_text(json.dumps(data))
    _new_process()
    assert (_token() == first) is reused
    assert len(sa_env.google.grants) == (1 if reused else 2)


@pytest.mark.parametrize(("lifetime", "margin"), [
    (None, MARGIN), (0, 0), (240, 120), (899, 449.5), (900, 450), (960, 480), (1800, MARGIN), (3600, MARGIN)])
def test_the_reuse_margin_is_min_of_15_minutes_and_half_the_life(lifetime: float | None, margin: float) -> None:
    assert cache.reuse_margin(lifetime) == margin


def test_short_lived_tokens_are_minted_once_then_reused_in_memory_and_across_processes(sa_env: Identities) -> None:
    sa_env.google.token_lifetime = 240  # below the margin: reused for its first two minutes
    first = _token()
    assert _token() == first
    _new_process()
    assert _token() == first
    assert len(sa_env.google.grants) == 1


@pytest.mark.parametrize("obtained", [None, "soon", "after expiry"])
def test_a_cache_file_without_a_believable_receipt_time_gets_the_plain_margin(
    sa_env: Identities, cache_dir: Path, obtained: str | None
) -> None:
    """Files written before the receipt time was kept, or with one that cannot be ours, are
    judged as before: the whole margin, never half of a life we cannot know."""
    first = _token()
    [path] = _cache_files(cache_dir)
    data = json.loads(path.read_text())
    now = time.time()
    data["expiry"] = now + 600
    data["obtained"] = {None: None, "soon": now + 300, "after expiry": now + 700}[obtained]
    path.write_text(json.dumps(data))
    _new_process()
    assert _token() != first
    assert len(sa_env.google.grants) == 2


def test_switching_credentials_never_reuses_the_old_identity_s_token(
    sa_env: Identities, monkeypatch: pytest.MonkeyPatch
) -> None:
    sa_token = _token()
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(sa_env.user_adc_file))
    _new_process()
    user_token = _token()
    assert sa_env.google.identity_of(user_token) == sa_env.user.account
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(sa_env.sa_key_file))
    _new_process()
    assert _token() == sa_token  # back to the first identity: its token is still good


def test_re_login_in_place_changes_the_identity(sa_env: Identities, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(sa_env.user_adc_file))
    first = _token()
    # `gcloud auth application-default login` rewrites the same file with a new refresh token.
    adc = json.loads(sa_env.user_adc_file.read_text())
    adc["refresh_token"] += "-rotated"
    sa_env.user_adc_file.write_text(json.dumps(adc))
    sa_env.google.users[adc["client_id"]] = type(sa_env.user)(
        adc["client_id"], adc["client_secret"], adc["refresh_token"], "other@example.com")
    assert _token() != first  # even within one process
    assert sa_env.google.grants == [sa_env.user.account, "other@example.com"]


def test_rotated_json_key_secret_is_a_new_identity(
    google: Identities, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", google.sa_key.base64)
    first = _token()
    assert google.google.identity_of(first) == google.sa_key.email
    key_json = google.sa_key.key_json.replace(google.sa_key.key_id.encode(), b"0" * 40)
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", key_json.decode())
    google.google.service_accounts[google.sa_key.email] = type(google.sa_key)(
        google.sa_key.email, "0" * 40, key_json, google.sa_key.public_key)
    assert _token() != first


@pytest.mark.parametrize("damage", ["corrupt", "truncated", "empty", "wrong version", "not a dict", "no token",
                                    "huge"])
def test_damaged_cache_files_are_ignored_and_replaced(sa_env: Identities, cache_dir: Path, damage: str) -> None:
    first = _token()
    [path] = _cache_files(cache_dir)
    content = path.read_text()
    path.write_text({
        "corrupt": "\x00\xff garbage",
        "truncated": content[: len(content) // 2],
        "empty": "",
        "wrong version": content.replace('"version": 1', '"version": 99'),
        "not a dict": "[1, 2, 3]",
        "no token": json.dumps({"version": 1, "expiry": time.time() + 3000}),
        "huge": content[:-1] + ", " + json.dumps({"padding": "x" * 70_000})[1:],
    }[damage])
    _new_process()
    second = _token()
    assert second != first
    assert json.loads(path.read_text())["token"] == second


def test_a_symlinked_cache_file_is_not_followed_and_is_replaced(
    sa_env: Identities, cache_dir: Path, tmp_path: Path
) -> None:
    first = _token()
    [path] = _cache_files(cache_dir)
    elsewhere = tmp_path / "planted.json"
    elsewhere.write_text(path.read_text().replace(first, "ya29.planted-by-someone-else"))
    elsewhere.chmod(0o600)
    path.unlink()
    path.symlink_to(elsewhere)
    _new_process()
    second = _token()
    assert second not in (first, "ya29.planted-by-someone-else")
    assert not path.is_symlink()
    assert "planted" in elsewhere.read_text()  # the link's target was not written through


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root")
def test_a_cache_file_owned_by_another_user_is_ignored(sa_env: Identities, cache_dir: Path) -> None:
    first = _token()
    [path] = _cache_files(cache_dir)
    os.chown(path, 65534, 65534)
    _new_process()
    assert _token() != first
    assert path.stat().st_uid == os.getuid()


def test_a_group_readable_cache_file_is_not_trusted(sa_env: Identities, cache_dir: Path) -> None:
    first = _token()
    [path] = _cache_files(cache_dir)
    path.chmod(0o644)
    _new_process()
    assert _token() != first


def test_files_are_private_and_hold_no_key_material(
    google: Identities, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYRINGS_GAR_JSON_KEY_BASE64", google.sa_key.base64)
    token = _token()
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    files = [p for p in cache_dir.iterdir() if p.is_file()]
    assert files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        content = path.read_bytes()
        assert google.sa_key.base64[:40].encode() not in content
        assert b"PRIVATE KEY" not in content
        assert google.sa_key.private_key_pem.splitlines()[1].encode() not in content
    assert json.loads(_cache_files(cache_dir)[0].read_text())["token"] == token


def test_a_loose_cache_directory_is_tightened(sa_env: Identities, cache_dir: Path) -> None:
    cache_dir.mkdir(mode=0o755)
    cache_dir.chmod(0o755)
    _token()
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes to read-only directories")
def test_read_only_cache_directory_still_gives_a_token(
    sa_env: Identities, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache_dir.mkdir(mode=0o500)
    with caplog.at_level(logging.DEBUG, logger="keyrings_gar"):
        assert sa_env.google.identity_of(_token()) == sa_env.sa_key.email
    assert any("not cached" in r.getMessage() for r in caplog.records)


def test_unusable_cache_location_still_gives_a_token(
    sa_env: Identities, isolated: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A file where the directory should be: works as root too, unlike permissions.
    blocker = isolated / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("KEYRINGS_GAR_CACHE_DIR", str(blocker / "cache"))
    with caplog.at_level(logging.DEBUG, logger="keyrings_gar"):
        assert sa_env.google.identity_of(_token()) == sa_env.sa_key.email
    [record] = [r for r in caplog.records if r.name == "keyrings_gar" and "not cached" in r.getMessage()]
    assert record.levelno == logging.DEBUG


def test_no_cache_switch_keeps_tokens_in_memory_only(
    sa_env: Identities, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYRINGS_GAR_NO_CACHE", "1")
    first = _token()
    assert not cache_dir.exists()
    assert _token() == first
    _new_process()
    assert _token() != first


def test_default_location_is_the_runtime_folder_not_the_user_cache(
    sa_env: Identities, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KEYRINGS_GAR_CACHE_DIR")
    _token()
    runtime = Path(os.environ["XDG_RUNTIME_DIR"])
    assert len(list((runtime / "keyrings-gar").glob("*.json"))) == 1
    assert not (isolated / ".cache" / "keyrings-gar").exists()


@pytest.fixture
def shared_memory(sa_env: Identities, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A machine without a session runtime folder (a container, a CI runner): /dev/shm, moved here."""
    monkeypatch.delenv("KEYRINGS_GAR_CACHE_DIR")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    shm = tmp_path / "shm"
    shm.mkdir()
    shm.chmod(0o1777)
    monkeypatch.setattr(cachedir, "SHARED_MEMORY", shm)
    return shm


def test_without_a_runtime_folder_tokens_go_to_a_private_folder_in_shared_memory(shared_memory: Path) -> None:
    first = _token()
    folder = shared_memory / f"keyrings-gar-{os.getuid()}"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    [path] = _cache_files(folder)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    _new_process()
    assert _token() == first


def test_a_link_planted_in_shared_memory_is_not_followed(shared_memory: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "attacker"
    elsewhere.mkdir(mode=0o700)
    (shared_memory / f"keyrings-gar-{os.getuid()}").symlink_to(elsewhere)
    first = _token()
    assert list(elsewhere.iterdir()) == []
    _new_process()
    assert _token() != first  # not cached: each process mints, which is safe


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root")
def test_a_folder_planted_in_shared_memory_by_another_user_is_not_used(shared_memory: Path) -> None:
    planted = shared_memory / f"keyrings-gar-{os.getuid()}"
    planted.mkdir(mode=0o777)
    os.chown(planted, 65534, 65534)
    assert _token()
    assert list(planted.iterdir()) == []


def test_without_any_safe_folder_tokens_stay_in_memory(
    shared_memory: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from keyrings_gar.command import cli

    monkeypatch.setattr(cachedir, "SHARED_MEMORY", shared_memory / "absent")
    first = _token()
    assert _token() == first  # memory still serves this process
    assert not list(isolated.rglob("*.json"))
    assert cli.main(["cache", "show"]) == 0
    assert "each process keeps its own token" in capsys.readouterr().out


def _cache_file_name(directory: Path) -> Path:
    [path] = _cache_files(directory)
    return path


def test_a_fifo_at_the_cache_file_s_name_does_not_hang_a_lookup(sa_env: Identities, cache_dir: Path) -> None:
    first = _token()
    path = _cache_file_name(cache_dir)
    path.unlink()
    os.mkfifo(path, 0o600)
    result = subprocess.run([KEYRING, "get", AR_URL, "oauth2accesstoken"], capture_output=True, text=True,
                            timeout=PROMPTLY, env=dict(os.environ), stdin=subprocess.DEVNULL, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() not in ("", first)
    assert stat.S_ISREG(path.lstat().st_mode)  # replaced by a real cache file, not written through


def test_a_fifo_at_the_lock_file_s_name_does_not_hang_a_lookup(sa_env: Identities, cache_dir: Path) -> None:
    _token()
    path = _cache_file_name(cache_dir)
    path.unlink()
    path.with_suffix(".lock").unlink()
    os.mkfifo(path.with_suffix(".lock"), 0o600)
    result = subprocess.run([KEYRING, "get", AR_URL, "oauth2accesstoken"], capture_output=True, text=True,
                            timeout=PROMPTLY, env=dict(os.environ), stdin=subprocess.DEVNULL, check=False)
    assert result.returncode == 0, result.stderr
    assert sa_env.google.identity_of(result.stdout.strip()) == sa_env.sa_key.email
    assert not path.exists()  # without its lock, the token is handed out but not cached


def test_a_symlinked_lock_file_is_not_followed(sa_env: Identities, cache_dir: Path, tmp_path: Path) -> None:
    _token()
    path = _cache_file_name(cache_dir)
    path.unlink()
    target = tmp_path / "victim"
    target.write_text("untouched")
    path.with_suffix(".lock").unlink()
    path.with_suffix(".lock").symlink_to(target)
    _new_process()
    assert _token()
    assert target.read_text() == "untouched"


def test_cache_show_lists_past_a_fifo_named_json(sa_env: Identities, cache_dir: Path) -> None:
    _token()
    os.mkfifo(cache_dir / "0000-planted.json", 0o600)
    result = subprocess.run([KEYRINGS_GAR, "cache", "show", "--json"], capture_output=True, text=True,
                            timeout=PROMPTLY, env=dict(os.environ), stdin=subprocess.DEVNULL, check=False)
    assert result.returncode == 0, result.stderr
    [entry] = json.loads(result.stdout)["entries"]
    assert entry["identity"] == sa_env.sa_key.email


def test_a_cached_expiry_beyond_an_hour_is_not_trusted(sa_env: Identities, cache_dir: Path) -> None:
    first = _token()
    path = _cache_file_name(cache_dir)
    data = json.loads(path.read_text())
    data["expiry"] = time.time() + 30 * 24 * 3600
    path.write_text(json.dumps(data))
    assert cache.TokenCache(cache_dir).entries() == []  # not listed as if it were good for a month
    _new_process()
    second = _token()
    assert second != first
    assert json.loads(path.read_text())["expiry"] <= time.time() + cache.MAX_LIFETIME_SECONDS


def test_a_token_granted_for_longer_than_an_hour_is_kept_for_an_hour_at_most(
    sa_env: Identities, cache_dir: Path
) -> None:
    sa_env.google.token_lifetime = 12 * 3600
    before = time.time()
    first = _token()
    [entry] = cache.TokenCache(cache_dir).entries()
    assert before + 3000 < entry.expiry <= time.time() + cache.MAX_LIFETIME_SECONDS
    [remembered] = cache._memory.values()
    assert remembered.token.expiry == entry.expiry
    _new_process()
    assert _token() == first


def test_cache_entries_and_clear(sa_env: Identities, cache_dir: Path) -> None:
    token = _token()
    store = cache.TokenCache(cache_dir)
    [entry] = store.entries()
    assert entry.identity == sa_env.sa_key.email
    assert entry.expiry > time.time() + 3000
    assert token not in repr(entry)
    assert store.clear() == 1
    assert store.entries() == []
    assert _token() != token


def test_the_margin_is_at_least_five_minutes_and_above_google_auth_s_refresh_threshold() -> None:
    from google.auth import _helpers

    assert cache.MIN_REMAINING_SECONDS >= 300
    assert _helpers.REFRESH_THRESHOLD.total_seconds() < cache.MIN_REMAINING_SECONDS
