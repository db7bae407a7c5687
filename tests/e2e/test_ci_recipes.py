"""docs/ci.md's recipes for GitHub Actions and GitLab CI, each recreating exactly
the files and variables the platform leaves behind, then a real `uv pip install` and `pip install`
(subprocess keyring provider) through the loopback registry, STS and IAM."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from tests.e2e.installers import Installers
from tests.e2e.runs import assert_installed, run_installer
from tests.e2e.test_pip import pip_environ, pip_install
from tests.e2e.test_uv import uv_environ, uv_install
from tests.loopback.federation import (
    PROVIDER_NAME,
    OidcIssuer,
    file_sourced_config,
    github_actions_config,
    pool_principal,
)
from tests.loopback.stack import PROJECT, Credential, LoopbackStack

pytestmark = pytest.mark.e2e

INSTALLERS = ("uv", "pip")
CI_SERVICE_ACCOUNT = f"ci-reader@{PROJECT}.iam.gserviceaccount.com"
# The ID token audience both recipes use: the provider's https:// name (the auth action's default).
ID_TOKEN_AUDIENCE = f"https://iam.googleapis.com/{PROVIDER_NAME}"
GITLAB_SUBJECT = "project_path:acme/app:ref_type:branch:ref:main"


def _install(installer: str, installers: Installers, stack: LoopbackStack, home: Path, credential: Credential
             ) -> str:
    """Install with `installer` as the recipe does; its output (already checked for the stack's secrets)."""
    target = home / "target"
    if installer == "uv":
        command = uv_install(installers.uv, target, "--keyring-provider", "subprocess",
                             "--index-url", stack.index_url(credential.username))
        env = uv_environ(stack, home, installers, credential.environ)
    else:
        command = pip_install(installers.pip_alone, "subprocess", stack.index_url(credential.username), target)
        env = pip_environ(stack, home, [installers.pip_alone_bin, installers.keyring_bin], credential.environ)
    # CI runners set no REQUESTS_CA_BUNDLE: the keyring processes must find the CA in SSL_CERT_FILE.
    del env["REQUESTS_CA_BUNDLE"]
    result = run_installer(command, env, home)
    assert_installed(result, stack, target, credential)
    return result.stdout + result.stderr


def github_actions(stack: LoopbackStack, home: Path) -> Credential:
    """After `actions/checkout` and `google-github-actions/auth` with workload_identity_provider and
    service_account: the runner's ID-token variables, the gha-creds file the action wrote into
    the workspace (compact JSON, as JSON.stringify), and the variables it exported."""
    workspace = home / "work" / "app" / "app"
    workspace.mkdir(parents=True)
    (workspace / "pyproject.toml").write_text("[project]\nname = 'app'\n")
    creds = workspace / f"gha-creds-{secrets.token_hex(8)}.json"
    config = github_actions_config(stack.github.request_url, stack.github.request_token,
                                   oidc_audience=ID_TOKEN_AUDIENCE, impersonate=CI_SERVICE_ACCOUNT)
    creds.write_text(json.dumps(config, separators=(",", ":")))
    environ = {
        "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(workspace),
        # The runner names the job: the token cache keeps to it (config.py).
        "GITHUB_RUN_ID": "16213348212", "GITHUB_RUN_ATTEMPT": "1", "GITHUB_JOB": "build",
        "GITHUB_REPOSITORY": "acme/app",
        "ACTIONS_ID_TOKEN_REQUEST_URL": stack.github.request_url,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": stack.github.request_token,
        "GOOGLE_APPLICATION_CREDENTIALS": str(creds),
        "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE": str(creds),
        "GOOGLE_GHA_CREDS_PATH": str(creds),
        **dict.fromkeys(("CLOUDSDK_CORE_PROJECT", "CLOUDSDK_PROJECT", "GCLOUD_PROJECT", "GCP_PROJECT",
                         "GOOGLE_CLOUD_PROJECT"), PROJECT),
    }
    return Credential("GitHub Actions WIF", environ, "oauth2accesstoken", CI_SERVICE_ACCOUNT)


@pytest.mark.parametrize("installer", INSTALLERS)
def test_github_actions_recipe(installers: Installers, stack: LoopbackStack, home: Path, installer: str) -> None:
    stack.google.add_provider(stack.github.issuer.provider())
    stack.google.allow_impersonation(CI_SERVICE_ACCOUNT, pool_principal(stack.github.subject))
    credential = github_actions(stack, home)
    _install(installer, installers, stack, home, credential)
    # One mint for the whole install (the token cache answers every later lookup). Each lookup
    # asks the ID-token URL first: only the job's ID token says whose the cached token is.
    assert stack.google.calls == {"sts-token": 1, "iam-generateAccessToken": 1}
    assert stack.github.calls["idtoken"] >= 1
    assert set(stack.github.audiences) == {ID_TOKEN_AUDIENCE}


def gitlab_ci(stack: LoopbackStack, home: Path, issuer: OidcIssuer) -> Credential:
    """A job with `id_tokens: GCP_ID_TOKEN: aud: ...` that writes the token to a file, and the
    file-sourced config from create-cred-config committed in the repository."""
    project_dir = home / "builds" / "acme" / "app"
    (project_dir / ".ci").mkdir(parents=True)
    id_token = issuer.mint(GITLAB_SUBJECT, ID_TOKEN_AUDIENCE)
    token_file = home / "gcp-id-token"
    token_file.write_text(id_token + "\n")  # `echo "$GCP_ID_TOKEN" > ...` adds the newline
    config = project_dir / ".ci" / "gcp-wif.json"
    config.write_text(json.dumps(file_sourced_config(str(token_file)), indent=2))
    environ = {"CI": "true", "GITLAB_CI": "true", "CI_PROJECT_DIR": str(project_dir), "GCP_ID_TOKEN": id_token,
               "CI_JOB_ID": "10523415661", "CI_SERVER_URL": "https://gitlab.com",
               "GOOGLE_APPLICATION_CREDENTIALS": str(config)}
    return Credential("GitLab CI WIF", environ, "oauth2accesstoken", pool_principal(GITLAB_SUBJECT))


@pytest.mark.parametrize("installer", INSTALLERS)
def test_gitlab_ci_recipe(installers: Installers, stack: LoopbackStack, home: Path, installer: str) -> None:
    issuer = OidcIssuer("https://gitlab.com")
    stack.google.add_provider(issuer.provider())
    credential = gitlab_ci(stack, home, issuer)
    output = _install(installer, installers, stack, home, credential)
    assert credential.environ["GCP_ID_TOKEN"] not in output
    assert stack.google.calls == {"sts-token": 1}
