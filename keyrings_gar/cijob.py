"""Which CI job a lookup runs in, so that the token cache of one job is never another job's.

On shell executors and self-hosted runners, jobs run one after another as the same user on the
same machine, and the cache folder (`/dev/shm`, or a runtime folder kept alive by a lingering
user session) outlives each of them: a later job, from another branch or with no credentials at
all, would be answered with the token an earlier job minted. Inside a CI job, tokens are cached
in a folder of that job's own; where a CI system is recognised but names no job, not on disk at
all. Outside CI nothing changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

# The variables that together name one job (one attempt of it) in each CI system, first the one
# that says the system is there. The steps of a job share them; the next job does not.
_JOB_VARIABLES = (
    ("GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "GITHUB_JOB", "GITHUB_REPOSITORY"),  # GitHub Actions
    ("CI_JOB_ID", "CI_SERVER_URL"),  # GitLab CI
    ("BUILDKITE_JOB_ID",),
    ("CIRCLE_WORKFLOW_JOB_ID",),  # CircleCI
    ("SYSTEM_JOBID", "BUILD_BUILDID", "SYSTEM_COLLECTIONURI"),  # Azure Pipelines
    ("BITBUCKET_STEP_UUID", "BITBUCKET_BUILD_NUMBER", "BITBUCKET_REPO_FULL_NAME"),
    ("JENKINS_URL", "BUILD_TAG"),  # Jenkins: BUILD_TAG is jenkins-<job>-<build number>
    ("TRAVIS_JOB_ID",),
    ("APPVEYOR_JOB_ID",),
    ("SEMAPHORE_JOB_ID",),
    ("DRONE_BUILD_NUMBER", "DRONE_STAGE_NUMBER", "DRONE_REPO"),  # Drone and Woodpecker's compatibility names
    ("TEAMCITY_VERSION", "BUILD_NUMBER", "TEAMCITY_BUILDCONF_NAME"),
)
# Set by most CI systems, including ones not listed above: a job we cannot tell from the next.
_CI_VAR = "CI"
_FALSE = {"", "0", "false", "no", "off"}


def ci_job(environ: Mapping[str, str]) -> str | None:
    """A name for the CI job this process runs in (a digest: the values say which repository),
    "" outside CI, None in a CI system that names no job we know."""
    for names in _JOB_VARIABLES:
        if environ.get(names[0]):
            parts = "\0".join(f"{name}={environ.get(name, '')}" for name in names)
            return hashlib.sha256(parts.encode("utf-8")).hexdigest()[:16]
    if environ.get(_CI_VAR, "").strip().lower() not in _FALSE:
        return None
    return ""


def job_cache_dir(folder: Path | None, environ: Mapping[str, str], *, named_by_user: bool = False) -> Path | None:
    """`folder` outside CI; in a CI job, a folder of the job's own beside it (a sibling, not a
    child, so that it is made, owned and checked exactly as `folder` would be). In a CI system
    that names no job: None (memory only) for a default folder, which the next job would share;
    a folder the user named (KEYRINGS_GAR_CACHE_DIR) as it is, since we cannot do better and
    they chose it."""
    job = ci_job(environ)
    if folder is None or job == "":
        return folder
    if job is None:
        return folder if named_by_user else None
    return folder.with_name(f"{folder.name}-job-{job}")
