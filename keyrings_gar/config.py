"""Settings from the environment: which secret, which extra hosts, timeouts, where the cache lives.

Inside a CI job, tokens are cached in a folder of that job's own: on shell executors and self-hosted
runners, jobs run one after another as the same user, and the cache folder (`/dev/shm`, a runtime
folder kept alive by a lingering session) outlives each of them, so a later job (another branch, or
no credentials at all) would be answered with the token an earlier job minted. Where a CI system is
recognised but names no job, tokens stay in memory. Outside CI nothing changes.
"""

from __future__ import annotations

import hashlib  # keyring.core imports it already: no cost to a lookup that is not ours
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from .cachedir import OWN_FOLDER, token_cache_dir
from .errors import ConfigError
from .hosts import parse_trusted_hosts

JSON_KEY_BASE64_VAR = "KEYRINGS_GAR_JSON_KEY_BASE64"
HOSTS_VAR = "KEYRINGS_GAR_HOSTS"
TIMEOUT_VAR = "KEYRINGS_GAR_TIMEOUT"
CACHE_DIR_VAR = "KEYRINGS_GAR_CACHE_DIR"
NO_CACHE_VAR = "KEYRINGS_GAR_NO_CACHE"
# For no credentials at all (the metadata server gives none) and for a broken ADC file.
NO_CREDENTIALS_FIX = ("run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS, "
                      f"{JSON_KEY_BASE64_VAR} or KEYRINGS_GAR_ACCESS_TOKEN_FILE")

DEFAULT_TIMEOUT = 10.0
_FALSE = {"", "0", "false", "no", "off"}

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


class Settings(NamedTuple):
    """What a lookup of ours needs beyond the service string and the hosts it matched (trusted_hosts)."""

    json_key_secret: str | None
    """The raw `KEYRINGS_GAR_JSON_KEY_BASE64` value, undecoded (decoding can fail; we report it)."""
    timeout: float
    """Seconds for all network calls of one token grant together."""
    cache_dir: Path | None
    """None when the on-disk cache is switched off, or there is no safe place for it."""

    def __repr__(self) -> str:
        secret = "unset" if self.json_key_secret is None else "set"
        return f"Settings(json_key_secret={secret}, timeout={self.timeout}, cache_dir={self.cache_dir})"


def trusted_hosts(environ: Mapping[str, str] = os.environ) -> frozenset[str]:
    """Only the extra hosts: the one setting every lookup, ours or not, has to read."""
    return parse_trusted_hosts(environ.get(HOSTS_VAR, ""))


def load_settings(environ: Mapping[str, str] = os.environ) -> Settings:
    """Read the settings for one lookup (cheap: the environment, and a stat of the runtime folder)."""
    return Settings(
        # Set but empty (a CI secret that did not arrive) is reported, not silently skipped.
        json_key_secret=environ.get(JSON_KEY_BASE64_VAR),
        timeout=_timeout(environ),
        cache_dir=None if _is_true(environ.get(NO_CACHE_VAR, "")) else cache_dir(environ),
    )


def _is_true(value: str) -> bool:
    return value.strip().lower() not in _FALSE


def _timeout(environ: Mapping[str, str]) -> float:
    value = environ.get(TIMEOUT_VAR, "").strip()
    if not value:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 300:
        from .redact import describe  # only on this error path: every lookup, ours or not, imports us

        raise ConfigError(f"{describe(TIMEOUT_VAR, value)} must be a number of seconds above 0 and at most 300 "
                          f"(default {DEFAULT_TIMEOUT:g}); unset it for the default")
    return seconds


def cache_dir(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> Path | None:
    """Where tokens are cached: our folder in KEYRINGS_GAR_CACHE_DIR, else the per-user runtime folder
    (cachedir.py says which and why), in a CI job a folder of that job's own; None when there is no
    safe one, and tokens stay in memory."""
    override = environ.get(CACHE_DIR_VAR)
    if not override:
        return job_cache_dir(token_cache_dir(environ, platform), environ)
    from .redact import refuse_pasted  # here, not at the top: start-up time (see _timeout)
    from .safefile import expanded

    refuse_pasted(CACHE_DIR_VAR, override, "point it at a folder, or unset it")
    # A folder of our own inside the one named: that one may be shared (`/tmp`, a build's
    # workspace), and only a folder we create is ever made private or emptied.
    folder = expanded(Path(override))
    if str(folder).startswith("~"):  # kept as it is, it would be a folder of that name in the working directory
        raise ConfigError(f"{CACHE_DIR_VAR} starts with a ~user that names no user here; write the folder's full "
                          "path, or unset it")
    return job_cache_dir(folder / OWN_FOLDER, environ, named_by_user=True)


def ca_bundle_variable(environ: Mapping[str, str] = os.environ) -> str | None:
    """The variable naming the CA bundle a token request trusts: requests reads the first two (empty is
    unset), and the transport adds SSL_CERT_FILE after them; None: certifi's bundle."""
    return next((name for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE") if environ.get(name)),
                None)


def ci_job(environ: Mapping[str, str]) -> str | None:
    """A name for the CI job this process runs in (a digest: the values say which repository),
    "" outside CI, None in a CI system that names no job we know."""
    for names in _JOB_VARIABLES:
        if environ.get(names[0]):
            parts = "\0".join(f"{name}={environ.get(name, '')}" for name in names)
            return hashlib.sha256(parts.encode("utf-8")).hexdigest()[:16]
    # CI is set by most CI systems, including ones not listed above: a job we cannot tell from the next.
    return None if _is_true(environ.get("CI", "")) else ""


def job_cache_dir(folder: Path | None, environ: Mapping[str, str], *, named_by_user: bool = False) -> Path | None:
    """`folder` outside CI; in a CI job, the job's own folder beside it (a sibling, so it is made,
    owned and checked as `folder` would be). Where CI names no job: None for a default folder (the
    next job would share it), but a folder the user named (KEYRINGS_GAR_CACHE_DIR) as it is: they chose it."""
    job = ci_job(environ)
    if folder is None or job == "":
        return folder
    if job is None:
        return folder if named_by_user else None
    return folder.with_name(f"{folder.name}-job-{job}")
