"""A token cached in one CI job is never served in a later job on the same machine."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from keyrings_gar import cachedir
from keyrings_gar.config import cache_dir, ci_job, job_cache_dir
from tests.conftest import AR_URL, Identities, assert_no_secrets, console_script

KEYRING = console_script("keyring")
KEYRINGS_GAR = console_script("keyrings-gar")

GITHUB_JOB = {"GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_RUN_ID": "1658821493", "GITHUB_RUN_ATTEMPT": "1",
              "GITHUB_JOB": "publish", "GITHUB_REPOSITORY": "acme/app"}


def test_outside_ci_the_cache_folder_is_unchanged(tmp_path: Path) -> None:
    assert ci_job({}) == ""
    assert job_cache_dir(tmp_path / "keyrings-gar", {"CI": "false"}) == tmp_path / "keyrings-gar"


def test_the_steps_of_a_job_share_a_folder_and_the_next_job_or_attempt_has_its_own() -> None:
    same_job_next_step = {**GITHUB_JOB, "GITHUB_ACTION": "__run_2", "GITHUB_STEP_SUMMARY": "/x"}
    assert ci_job(GITHUB_JOB) == ci_job(same_job_next_step)
    others = [{**GITHUB_JOB, "GITHUB_RUN_ID": "1658821494"}, {**GITHUB_JOB, "GITHUB_RUN_ATTEMPT": "2"},
              {**GITHUB_JOB, "GITHUB_JOB": "test"}, {**GITHUB_JOB, "GITHUB_REPOSITORY": "acme/fork"}]
    assert len({ci_job(GITHUB_JOB), *(ci_job(other) for other in others)}) == 5


@pytest.mark.parametrize("environ", [
    {"GITLAB_CI": "true", "CI_JOB_ID": "9001", "CI_SERVER_URL": "https://gitlab.com"},
    {"JENKINS_URL": "https://ci.example.com/", "BUILD_TAG": "jenkins-app-42"},
    {"BUILDKITE_JOB_ID": "0190-aa"}, {"CIRCLE_WORKFLOW_JOB_ID": "f00"}, {"SYSTEM_JOBID": "12", "BUILD_BUILDID": "3"},
    {"BITBUCKET_STEP_UUID": "{abc}"}, {"TRAVIS_JOB_ID": "7"}, {"DRONE_BUILD_NUMBER": "5", "DRONE_STAGE_NUMBER": "1"},
])
def test_each_ci_system_s_job_gets_a_folder_of_its_own(environ: dict[str, str], tmp_path: Path) -> None:
    job = ci_job(environ)
    assert job
    assert job_cache_dir(tmp_path / "keyrings-gar", environ) == tmp_path / f"keyrings-gar-job-{job}"


def test_a_ci_system_that_names_no_job_keeps_tokens_in_memory_unless_the_user_named_a_folder(
    tmp_path: Path
) -> None:
    assert ci_job({"CI": "true"}) is None
    assert job_cache_dir(tmp_path / "keyrings-gar", {"CI": "woodpecker"}) is None
    assert job_cache_dir(tmp_path / "mine", {"CI": "true"}, named_by_user=True) == tmp_path / "mine"


def test_the_folder_name_says_nothing_of_the_job(tmp_path: Path) -> None:
    folder = job_cache_dir(tmp_path / "c", {"CI_JOB_ID": "secret-looking-9001", "CI_SERVER_URL": "https://x"})
    assert folder is not None
    assert "9001" not in folder.name


def test_an_explicit_cache_folder_is_scoped_to_the_job_too(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYRINGS_GAR_CACHE_DIR", str(isolated / "shared"))
    monkeypatch.setenv("CI_JOB_ID", "77")
    folder = cache_dir()
    assert folder is not None
    # Our own folder inside the one named (never that one itself), then scoped to the job.
    assert folder.parent == isolated / "shared"
    assert folder.name.startswith("keyrings-gar-job-")


# -- through the real keyring and keyrings-gar commands, one process per job step ---------------------


def _job(google: Identities, job_id: str, *, credentials: bool) -> dict[str, str]:
    """A GitLab shell-executor job's environment: the runner's runtime folder survives every job."""
    env = {name: value for name, value in os.environ.items() if name != "GOOGLE_APPLICATION_CREDENTIALS"}
    env.update({"CI": "true", "GITLAB_CI": "true", "CI_JOB_ID": job_id, "CI_SERVER_URL": "https://gitlab.example.com"})
    if credentials:
        env["GOOGLE_APPLICATION_CREDENTIALS"] = str(google.sa_key_file)
    return env


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False,
                          stdin=subprocess.DEVNULL)


def test_a_later_job_neither_lists_nor_is_served_an_earlier_job_s_token(google: Identities) -> None:
    protected = _job(google, "5001", credentials=True)
    first = _run([KEYRING, "get", AR_URL, "oauth2accesstoken"], protected)
    assert first.returncode == 0, first.stderr
    assert _run([KEYRING, "get", AR_URL, "oauth2accesstoken"], protected).stdout == first.stdout
    assert google.google.grants == [google.sa_key.email]

    # The next job on the runner, with no credentials: nothing of the earlier job's shows or answers.
    later = _job(google, "5002", credentials=False)
    shown = _run([KEYRINGS_GAR, "cache", "show", "--json"], later)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["entries"] == []
    refused = _run([KEYRING, "get", AR_URL, "oauth2accesstoken"], later)
    assert refused.returncode == 1
    assert refused.stdout == ""

    # A later job with the same key file gets a token of its own, not the earlier job's.
    again = _run([KEYRING, "get", AR_URL, "oauth2accesstoken"], _job(google, "5003", credentials=True))
    assert again.returncode == 0, again.stderr
    assert again.stdout != first.stdout
    assert google.google.grants == [google.sa_key.email] * 2
    assert_no_secrets(google, shown.stdout, shown.stderr, refused.stderr, again.stderr)


def test_in_shared_memory_each_job_has_a_private_folder_of_its_own(
    google: Identities, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a runtime folder (a shell executor's runner): /dev/shm, moved here."""
    from keyrings_gar import cache
    from keyrings_gar.backend import GarKeyring

    monkeypatch.delenv("XDG_RUNTIME_DIR")
    shm = tmp_path / "shm"
    shm.mkdir()
    shm.chmod(0o1777)
    monkeypatch.setattr(cachedir, "SHARED_MEMORY", shm)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    tokens = []
    for job in ("41", "42"):
        monkeypatch.setenv("CI_JOB_ID", job)
        cache._memory.clear()  # each job's lookups are processes of their own
        tokens.append(GarKeyring().get_password(AR_URL, "oauth2accesstoken"))
    assert None not in tokens
    assert tokens[0] != tokens[1]
    folders = sorted(path.name for path in shm.iterdir())
    assert len(folders) == 2
    assert all(name.startswith(f"keyrings-gar-{os.getuid()}-job-") for name in folders)
    assert all((shm / name).stat().st_mode & 0o077 == 0 for name in folders)
