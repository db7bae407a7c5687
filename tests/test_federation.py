"""Workload and workforce identity federation through real keyring and the real backend, against
the loopback STS, IAM and GitHub ID-token endpoint behind the TLS proxy: the private CA only in
SSL_CERT_FILE, every call through HTTPS_PROXY, each endpoint's calls counted."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from keyrings_gar import cache
from keyrings_gar.backend import GarKeyring
from tests.conftest import AR_URL, console_script
from tests.loopback.federation import (
    GITHUB_TOKEN_HOST,
    PROVIDER_NAME,
    WORKFORCE_AUDIENCE,
    FakeGithubIdTokens,
    FederationProvider,
    OidcIssuer,
    WorkforceUser,
    aws_config,
    executable_config,
    file_sourced_config,
    github_actions_config,
    make_aws_identity,
    make_workforce_user,
    pool_principal,
)
from tests.loopback.google import FakeGoogle
from tests.loopback.proxy import TlsProxy
from tests.loopback.stack import google_routes

TARGET = "deployer@acme-prod.iam.gserviceaccount.com"
GITLAB_SUBJECT = "project_path:acme/app:ref_type:branch:ref:main"
# The ID token's audience GitHub's auth action asks for by default: the provider's https:// name.
PROVIDER_AUDIENCE = f"https://iam.googleapis.com/{PROVIDER_NAME}"


@dataclass
class Federation:
    google: FakeGoogle
    github: FakeGithubIdTokens
    gitlab: OidcIssuer
    proxy: TlsProxy
    workforce: WorkforceUser
    files: Path
    monkeypatch: pytest.MonkeyPatch

    def use(self, config: dict[str, Any]) -> Path:
        """`config` as the ADC file GOOGLE_APPLICATION_CREDENTIALS names."""
        path = self.files / "wif.json"
        path.write_text(json.dumps(config))
        self.monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
        return path

    def gitlab_token_file(self, content: str | None = None) -> Path:
        """The job's ID token written to a file, as the GitLab recipe does."""
        path = self.files / "gitlab-id-token"
        path.write_text(content if content is not None else self.gitlab.mint(GITLAB_SUBJECT, PROVIDER_AUDIENCE))
        return path

    def github_config(self, impersonate: str | None = None) -> dict[str, Any]:
        return github_actions_config(self.github.request_url, self.github.request_token,
                                     oidc_audience=PROVIDER_AUDIENCE, impersonate=impersonate)

    def secrets(self) -> list[str]:
        return [*self.google.tokens, *self.github.issuer.tokens, *self.gitlab.tokens, self.github.request_token,
                self.workforce.refresh_token, self.workforce.client_secret]


@pytest.fixture
def federation(isolated: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Federation]:
    with FakeGoogle() as google, FakeGithubIdTokens() as github:
        gitlab = OidcIssuer("https://gitlab.example.com")
        # One provider per audience: GitHub's issuer by default; tests swap in others.
        google.add_provider(github.issuer.provider())
        workforce = make_workforce_user()
        google.add_workforce_user(workforce)
        with TlsProxy(google_routes(google) | {GITHUB_TOKEN_HOST: github.address}) as proxy:
            # The CA only in SSL_CERT_FILE (isolated removed REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE).
            monkeypatch.setenv("SSL_CERT_FILE", str(proxy.write_ca(tmp_path / "ca.pem")))
            monkeypatch.setenv("HTTPS_PROXY", proxy.url)
            files = tmp_path / "ci"
            files.mkdir()
            yield Federation(google, github, gitlab, proxy, workforce, files, monkeypatch)


def _lookup(federation: Federation, caplog: pytest.LogCaptureFixture) -> tuple[str | None, list[str]]:
    with caplog.at_level(logging.DEBUG):
        token = GarKeyring().get_password(AR_URL, "oauth2accesstoken")
    lines = [r.getMessage() for r in caplog.records if r.name == "keyrings_gar" and r.levelno >= logging.WARNING]
    text = "\n".join(r.getMessage() for r in caplog.records)
    leaked = [s for s in federation.secrets() if s and s in text]
    assert not leaked, f"{len(leaked)} secret(s) in the log, e.g. …{leaked[0][-4:]}"
    return token, lines


# -- each subject-token source: exactly one STS call (one more to IAM when impersonating) ----------


def test_github_actions_url_source_makes_one_sts_call(federation: Federation,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    federation.use(federation.github_config())
    token, lines = _lookup(federation, caplog)
    assert lines == []
    assert token is not None
    assert federation.google.identity_of(token) == pool_principal(federation.github.subject)
    assert federation.google.calls == {"sts-token": 1}
    assert federation.github.calls == {"idtoken": 1}
    assert federation.github.audiences == [PROVIDER_AUDIENCE]
    assert set(federation.proxy.tunnels) == {"sts.googleapis.com:443", f"{GITHUB_TOKEN_HOST}:443"}


def test_github_actions_with_impersonation_makes_one_sts_and_one_iam_call(
    federation: Federation, caplog: pytest.LogCaptureFixture
) -> None:
    federation.google.allow_impersonation(TARGET, pool_principal(federation.github.subject))
    federation.use(federation.github_config(impersonate=TARGET))
    token, lines = _lookup(federation, caplog)
    assert lines == []
    assert token is not None
    assert federation.google.identity_of(token) == TARGET
    assert federation.google.calls == {"sts-token": 1, "iam-generateAccessToken": 1}


def test_configured_impersonation_over_wif_makes_one_sts_and_one_iam_call(
    federation: Federation, caplog: pytest.LogCaptureFixture
) -> None:
    """A configuration entry's `impersonate` on top of a WIF ADC file: the STS token from our own
    mint is the source, not google-auth's path with its project-id lookup."""
    config = federation.files / "keyrings-gar.cfg"
    config.write_text(f"[us-central1-python.pkg.dev]\nimpersonate = {TARGET}\n")
    federation.monkeypatch.setenv("KEYRINGS_GAR_CONFIG", str(config))
    federation.google.allow_impersonation(TARGET, pool_principal(federation.github.subject))
    federation.use(federation.github_config())
    token, lines = _lookup(federation, caplog)
    assert lines == []
    assert token is not None
    assert federation.google.identity_of(token) == TARGET
    assert federation.google.calls == {"sts-token": 1, "iam-generateAccessToken": 1}


@pytest.mark.parametrize("json_field", [None, "id_token"])
def test_gitlab_file_source_as_text_or_json_makes_one_sts_call(
    federation: Federation, caplog: pytest.LogCaptureFixture, json_field: str | None
) -> None:
    federation.google.add_provider(federation.gitlab.provider())
    token_file = federation.gitlab_token_file()
    if json_field:
        token_file.write_text(json.dumps({json_field: token_file.read_text(), "other": "x"}))
    federation.use(file_sourced_config(str(token_file), json_field=json_field))
    token, lines = _lookup(federation, caplog)
    assert lines == []
    assert token is not None
    assert federation.google.identity_of(token) == pool_principal(GITLAB_SUBJECT)
    assert federation.google.calls == {"sts-token": 1}


def test_a_second_lookup_is_answered_from_the_cache(federation: Federation, caplog: pytest.LogCaptureFixture) -> None:
    federation.google.add_provider(federation.gitlab.provider())
    federation.use(file_sourced_config(str(federation.gitlab_token_file())))
    first, _ = _lookup(federation, caplog)
    second, _ = _lookup(federation, caplog)
    assert first == second
    assert federation.google.calls == {"sts-token": 1}


def test_a_new_job_s_token_in_the_same_file_is_not_answered_from_the_cache(
    federation: Federation, caplog: pytest.LogCaptureFixture
) -> None:
    """A committed file-sourced config on a shared runner: the next job (another branch, so another
    principal) writes its own ID token to the same path, and must get its own token."""
    federation.google.add_provider(federation.gitlab.provider())
    federation.use(file_sourced_config(str(federation.gitlab_token_file())))
    first, _ = _lookup(federation, caplog)
    federation.gitlab_token_file(federation.gitlab.mint("project_path:acme/app:ref_type:branch:ref:feature",
                                                        PROVIDER_AUDIENCE))
    second, _ = _lookup(federation, caplog)
    assert first is not None
    assert second is not None
    assert federation.google.identity_of(second) == pool_principal("project_path:acme/app:ref_type:branch:ref:feature")
    assert federation.google.calls == {"sts-token": 2}


def test_other_aws_credentials_are_not_answered_from_the_cache(federation: Federation,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    federation.use(aws_config())
    minted = []
    for _ in range(2):
        aws = make_aws_identity()
        federation.google.add_provider(aws.provider())
        for name, value in aws.environ().items():
            federation.monkeypatch.setenv(name, value)
        minted.append(_lookup(federation, caplog)[0])
    assert None not in minted
    assert federation.google.calls == {"sts-token": 2}


@pytest.mark.parametrize("impersonate", [False, True])
@pytest.mark.parametrize("session", [False, True])
def test_aws_source_signs_caller_identity_and_makes_one_sts_call(
    federation: Federation, caplog: pytest.LogCaptureFixture, impersonate: bool, session: bool
) -> None:
    aws = make_aws_identity(session=session)
    federation.google.add_provider(aws.provider())
    for name, value in aws.environ().items():
        federation.monkeypatch.setenv(name, value)
    federation.google.allow_impersonation(TARGET, pool_principal("arn:aws:sts::000000000000:assumed-role/ci"))
    federation.use(aws_config(impersonate=TARGET if impersonate else None))
    token, lines = _lookup(federation, caplog)
    assert lines == []
    assert aws.rejections == []
    assert token is not None
    assert federation.google.calls == ({"sts-token": 1, "iam-generateAccessToken": 1} if impersonate
                                       else {"sts-token": 1})


def test_aws_source_with_a_wrong_secret_is_refused_by_sts(federation: Federation,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    aws = make_aws_identity()
    federation.google.add_provider(aws.provider())
    for name, value in aws.environ().items():
        federation.monkeypatch.setenv(name, value)
    federation.monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    federation.use(aws_config())
    token, lines = _lookup(federation, caplog)
    assert token is None
    assert aws.rejections == ["signature"]
    assert len(lines) == 1
    assert "STS refused the signed AWS request (invalid_grant): AWS did not accept the credentials" in lines[0]
    assert "ID token" not in lines[0]


def test_aws_source_with_another_key_id_gets_the_aws_line(federation: Federation,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    aws = make_aws_identity(session=False)
    federation.google.add_provider(aws.provider())
    for name, value in aws.environ().items():
        federation.monkeypatch.setenv(name, value)
    federation.monkeypatch.setenv("AWS_ACCESS_KEY_ID", make_aws_identity(session=False).access_key_id)
    federation.use(aws_config())
    token, [line] = _lookup(federation, caplog)
    assert token is None
    assert aws.rejections == ["credential scope"]
    assert "STS refused the signed AWS request (invalid_grant)" in line
    assert "ID token" not in line


def test_aws_temporary_key_without_its_session_token_is_named_before_anything_is_sent(
    federation: Federation, caplog: pytest.LogCaptureFixture
) -> None:
    aws = make_aws_identity(session=True)
    federation.google.add_provider(aws.provider())
    for name, value in aws.environ().items():
        federation.monkeypatch.setenv(name, value)
    federation.monkeypatch.delenv("AWS_SESSION_TOKEN")
    federation.use(aws_config())
    token, [line] = _lookup(federation, caplog)
    assert token is None
    assert "AWS_ACCESS_KEY_ID is a temporary key (ASIA…)" in line
    assert "AWS_SESSION_TOKEN is not set" in line
    assert federation.google.calls == {}


def _executable(federation: Federation, token: str) -> str:
    """A credential helper printing google-auth's executable response, after checking the
    variables google-auth passes it."""
    script = federation.files / "id-token-helper.py"
    response = {"version": 1, "success": True, "token_type": "urn:ietf:params:oauth:token-type:id_token",
                "id_token": token, "expiration_time": 4102444800}
    script.write_text(
        "import json, os, sys\n"
        "if os.environ.get('GOOGLE_EXTERNAL_ACCOUNT_INTERACTIVE') != '0' or "
        "not os.environ.get('GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE'):\n"
        "    sys.exit(3)\n"
        f"print(json.dumps({response!r}))\n")
    return f"{sys.executable} {script}"


def test_executable_source_runs_when_allowed_and_makes_one_sts_call(
    federation: Federation, caplog: pytest.LogCaptureFixture
) -> None:
    federation.google.add_provider(federation.gitlab.provider(token_type="urn:ietf:params:oauth:token-type:id_token"))
    federation.monkeypatch.setenv("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", "1")
    federation.use(executable_config(_executable(federation, federation.gitlab.mint(GITLAB_SUBJECT,
                                                                                    PROVIDER_AUDIENCE))))
    token, lines = _lookup(federation, caplog)
    assert lines == []
    assert token is not None
    assert federation.google.identity_of(token) == pool_principal(GITLAB_SUBJECT)
    assert federation.google.calls == {"sts-token": 1}


def test_workforce_identity_user_login_makes_one_refresh_call(
    federation: Federation, caplog: pytest.LogCaptureFixture, isolated: Path
) -> None:
    """`gcloud auth application-default login --login-config=...` writes it at gcloud's path."""
    adc = Path(os.environ["CLOUDSDK_CONFIG"]) / "application_default_credentials.json"
    adc.parent.mkdir(parents=True)
    adc.write_text(federation.workforce.adc_json())
    token, lines = _lookup(federation, caplog)
    assert lines == []
    assert token is not None
    assert federation.google.identity_of(token) == federation.workforce.principal
    assert federation.google.calls == {"sts-oauthtoken": 1}


# -- each failure names its own cause, once, without key advice or secrets ------------------------


def _one_line(federation: Federation, caplog: pytest.LogCaptureFixture) -> str:
    token, lines = _lookup(federation, caplog)
    assert token is None
    assert len(lines) == 1, lines
    assert "download" not in lines[0]
    assert "new key" not in lines[0]
    return lines[0]


def test_missing_subject_token_file_says_the_ci_step_did_not_write_it(
    federation: Federation, caplog: pytest.LogCaptureFixture
) -> None:
    federation.use(file_sourced_config(str(federation.files / "never-written")))
    line = _one_line(federation, caplog)
    assert "subject token file" in line
    assert "does not exist" in line
    assert federation.google.calls == {}


def test_empty_subject_token_file_says_so(federation: Federation, caplog: pytest.LogCaptureFixture) -> None:
    federation.use(file_sourced_config(str(federation.gitlab_token_file(""))))
    assert "is empty" in _one_line(federation, caplog)
    assert federation.google.calls == {}


def test_expired_or_foreign_subject_token_is_named_as_such(federation: Federation,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    federation.google.add_provider(federation.gitlab.provider())
    stale = OidcIssuer("https://gitlab.example.com").mint(GITLAB_SUBJECT, PROVIDER_AUDIENCE)
    federation.use(file_sourced_config(str(federation.gitlab_token_file(stale))))
    line = _one_line(federation, caplog)
    assert "STS refused the subject token (invalid_grant)" in line
    assert "expired" in line


def test_unknown_audience_is_named_as_the_provider(federation: Federation, caplog: pytest.LogCaptureFixture) -> None:
    federation.use(file_sourced_config(str(federation.gitlab_token_file()),
                                       audience="//iam.googleapis.com/projects/1/locations/global/"
                                                "workloadIdentityPools/gone/providers/gone"))
    line = _one_line(federation, caplog)
    assert "rejected the audience or provider (invalid_target)" in line
    assert federation.google.calls == {"sts-token": 1}


def test_impersonation_denied_names_the_role_to_grant(federation: Federation,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    federation.google.allow_impersonation(TARGET, "principal://someone-else")
    federation.use(federation.github_config(impersonate=TARGET))
    line = _one_line(federation, caplog)
    assert f"impersonating {TARGET}) was denied (PERMISSION_DENIED)" in line
    assert "roles/iam.workloadIdentityUser" in line
    assert federation.google.calls == {"sts-token": 1, "iam-generateAccessToken": 1}


def test_executable_is_not_run_unless_allowed(federation: Federation, caplog: pytest.LogCaptureFixture) -> None:
    marker = federation.files / "ran"
    federation.use(executable_config(f"{sys.executable} -c \"open('{marker}', 'w')\""))
    line = _one_line(federation, caplog)
    assert "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1" in line
    assert not marker.exists()


def test_unreachable_token_url_names_the_url_source(federation: Federation, caplog: pytest.LogCaptureFixture) -> None:
    federation.github.stop()
    federation.use(federation.github_config())
    line = _one_line(federation, caplog)
    assert f"the subject token URL {GITHUB_TOKEN_HOST} unreachable" in line
    assert federation.google.calls == {}


def test_refused_github_request_token_points_at_id_token_permission(
    federation: Federation, caplog: pytest.LogCaptureFixture
) -> None:
    config = federation.github_config()
    config["credential_source"]["headers"]["Authorization"] = "Bearer ghs_expired"
    federation.use(config)
    line = _one_line(federation, caplog)
    assert "answered HTTP 401" in line
    assert "id-token: write" in line


def test_proxy_page_instead_of_sts_json_is_named_as_such(federation: Federation,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    federation.google.add_provider(federation.gitlab.provider())
    federation.google.fault, federation.google.fault_on = "invalid_json", "/v1/token"
    federation.use(file_sourced_config(str(federation.gitlab_token_file())))
    assert "something other than JSON (a proxy's page?)" in _one_line(federation, caplog)


def test_revoked_workforce_login_says_to_log_in_again(federation: Federation, caplog: pytest.LogCaptureFixture) -> None:
    revoked = make_workforce_user()
    federation.use(json.loads(revoked.adc_json()))
    line = _one_line(federation, caplog)
    assert "invalid_grant" in line
    assert "--login-config" in line


def test_unreadable_subject_token_file_says_why(federation: Federation, caplog: pytest.LogCaptureFixture) -> None:
    federation.use(file_sourced_config(str(federation.files)))  # a folder, where the token file should be
    line = _one_line(federation, caplog)
    assert f"subject token file {federation.files} is a directory, not a file" in line
    assert federation.google.calls == {}


def test_a_fifo_as_subject_token_file_fails_at_once_instead_of_hanging(
    federation: Federation, caplog: pytest.LogCaptureFixture
) -> None:
    """The cache key reads that file on every lookup, warm ones too: a FIFO must not block them."""
    fifo = federation.files / "planted-fifo"
    os.mkfifo(fifo)
    federation.use(file_sourced_config(str(fifo)))
    found: list[tuple[str | None, list[str]]] = []
    lookup = threading.Thread(target=lambda: found.append(_lookup(federation, caplog)), daemon=True)
    lookup.start()
    lookup.join(30)
    if lookup.is_alive():  # a reader blocked in open(): a writer's open lets it go, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        lookup.join(5)
        pytest.fail("the lookup blocked on the FIFO")
    [(token, lines)] = found
    assert token is None
    assert len(lines) == 1, lines
    assert "not a regular file" in lines[0]
    assert federation.google.calls == {}


def test_a_password_in_the_token_url_is_never_printed(federation: Federation,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    federation.github.stop()
    config = federation.github_config()
    config["credential_source"]["url"] = config["credential_source"]["url"].replace(
        "https://", "https://runner:hunter2-secret@")
    federation.use(config)
    line = _one_line(federation, caplog)
    assert "hunter2-secret" not in caplog.text
    assert f"the subject token URL {GITHUB_TOKEN_HOST} unreachable" in line


def _script(federation: Federation, name: str, body: str) -> str:
    script = federation.files / name
    script.write_text(body)
    return f"{sys.executable} {script}"


def test_executable_past_its_timeout_is_killed_and_named(federation: Federation,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    federation.monkeypatch.setenv("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", "1")
    # timeout_millis is 5 s at least (as google-auth); the lookup's own deadline is shorter here.
    federation.monkeypatch.setenv("KEYRINGS_GAR_TIMEOUT", "1")
    federation.use(executable_config(_script(federation, "slow.py", "import time\ntime.sleep(60)\n")))
    line = _one_line(federation, caplog)
    assert "slow.py" not in line  # the program is named by its first word, not its arguments
    assert "did not finish within" in line
    assert federation.google.calls == {}


def test_executable_printing_more_than_a_token_is_cut_off(federation: Federation,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    federation.monkeypatch.setenv("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", "1")
    federation.use(executable_config(_script(federation, "chatty.py",
                                             "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n")))
    assert "printed more than any subject token" in _one_line(federation, caplog)


def test_executable_reporting_failure_is_named_with_its_code(federation: Federation,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    federation.monkeypatch.setenv("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", "1")
    response = {"version": 1, "success": False, "code": "401", "message": "login required"}
    federation.use(executable_config(_script(federation, "fails.py", f"print({json.dumps(response)!r})\n")))
    assert "reported a failure (401)" in _one_line(federation, caplog)


def test_executable_output_file_with_a_valid_response_is_reused_without_running_it(
    federation: Federation, caplog: pytest.LogCaptureFixture
) -> None:
    """As google-auth: a response the executable cached in output_file, not yet expired."""
    federation.google.add_provider(federation.gitlab.provider(token_type="urn:ietf:params:oauth:token-type:id_token"))
    federation.monkeypatch.setenv("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", "1")
    cached = federation.files / "cached-response.json"
    cached.write_text(json.dumps({"version": 1, "success": True, "expiration_time": 4102444800,
                                  "token_type": "urn:ietf:params:oauth:token-type:id_token",
                                  "id_token": federation.gitlab.mint(GITLAB_SUBJECT, PROVIDER_AUDIENCE)}))
    marker = federation.files / "ran"
    config = executable_config(f"{sys.executable} -c \"open('{marker}', 'w')\"")
    config["credential_source"]["executable"]["output_file"] = str(cached)
    federation.use(config)
    token, lines = _lookup(federation, caplog)
    assert lines == []
    assert token is not None
    assert not marker.exists()
    assert federation.google.calls == {"sts-token": 1}


def test_workforce_pool_oidc_config_sends_its_user_project(federation: Federation,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    """A workforce pool's external_account file names the project to bill; STS refuses without it."""
    provider = federation.gitlab.provider(audience=WORKFORCE_AUDIENCE)
    federation.google.add_provider(FederationProvider(provider.audience, provider.subject_token_type,
                                                      provider.principal_of, workforce=True))
    token_file = federation.files / "workforce-id-token"
    token_file.write_text(federation.gitlab.mint(GITLAB_SUBJECT, "https:" + WORKFORCE_AUDIENCE))
    config = file_sourced_config(str(token_file), audience=WORKFORCE_AUDIENCE)
    config["workforce_pool_user_project"] = "acme-prod"
    federation.use(config)
    token, lines = _lookup(federation, caplog)
    assert lines == []
    assert token is not None
    assert federation.google.calls == {"sts-token": 1}
    assert federation.google.rejections == []


def test_ten_minute_impersonated_tokens_are_reused_across_lookups(federation: Federation,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """`token_lifetime_seconds: 600` is below the 15-minute margin: the token is reused for the
    first half of its life, in memory and by the next process, instead of minted per lookup."""
    federation.google.add_provider(federation.gitlab.provider())
    federation.google.allow_impersonation(TARGET, pool_principal(GITLAB_SUBJECT))
    config = file_sourced_config(str(federation.gitlab_token_file()), impersonate=TARGET)
    config["service_account_impersonation"] = {"token_lifetime_seconds": 600}
    federation.use(config)
    first, lines = _lookup(federation, caplog)
    assert lines == []
    assert first is not None
    assert federation.google.tokens[first].expiry <= time.time() + 600  # IAM issued what was asked for
    assert _lookup(federation, caplog)[0] == first
    cache._memory.clear()  # the next `keyring` process
    assert _lookup(federation, caplog)[0] == first
    assert federation.google.calls == {"sts-token": 1, "iam-generateAccessToken": 1}


# -- one identity, one token: the key names whose the subject token is -------------------------------

KEYRING = console_script("keyring")


def _keyring_get(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A `keyring get` as an installer runs it: a process of its own (nothing shared in memory)."""
    return subprocess.run([KEYRING, "get", AR_URL, "oauth2accesstoken"], env=env, capture_output=True, text=True,
                          timeout=60, check=False, stdin=subprocess.DEVNULL)


def test_a_url_source_answering_for_another_identity_gets_that_identity_s_token(
    federation: Federation, caplog: pytest.LogCaptureFixture
) -> None:
    """The same URL and headers answer for alice, then bob, then carol, then dave: four exchanges,
    four tokens, each for its own principal; asking again as dave is answered from the cache,
    although the URL mints a fresh ID token (a new jti) for every request, as GitHub's does."""
    federation.use(federation.github_config())
    got = {}
    for person in ("alice", "bob", "carol", "dave"):
        federation.github.subject = f"repo:acme/app:ref:refs/heads/{person}"
        token, lines = _lookup(federation, caplog)
        assert lines == []
        assert token is not None
        assert federation.google.identity_of(token) == pool_principal(federation.github.subject)
        got[person] = token
    assert federation.google.calls == {"sts-token": 4}
    cache._memory.clear()
    assert _lookup(federation, caplog)[0] == got["dave"]
    assert federation.google.calls == {"sts-token": 4}
    # Retrieved once per lookup, and that very token was exchanged: never a second retrieval.
    assert federation.github.calls == {"idtoken": 5}


def test_two_jobs_sharing_an_executable_sourced_file_each_get_their_own_token(
    federation: Federation, tmp_path: Path
) -> None:
    """One external_account file on a shared runner; its program prints job A's OIDC token in
    job A and job B's in job B. Each `keyring` process of each job gets its own job's token."""
    federation.google.add_provider(federation.gitlab.provider(token_type="urn:ietf:params:oauth:token-type:id_token"))
    helper = federation.files / "job-token-helper.py"
    helper.write_text(
        "import json, os\n"
        "print(json.dumps({'version': 1, 'success': True, 'expiration_time': 4102444800,\n"
        "                  'token_type': 'urn:ietf:params:oauth:token-type:id_token',\n"
        "                  'id_token': os.environ['JOB_ID_TOKEN']}))\n")
    federation.use(executable_config(f"{sys.executable} {helper}"))
    env = {**os.environ, "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES": "1"}
    jobs = {branch: {**env, "JOB_ID_TOKEN": federation.gitlab.mint(
        f"project_path:acme/app:ref_type:branch:ref:{branch}", PROVIDER_AUDIENCE)} for branch in ("main", "feature")}
    first = {branch: _keyring_get(job) for branch, job in jobs.items()}
    for branch, result in first.items():
        assert result.returncode == 0, result.stderr
        assert federation.google.identity_of(result.stdout.strip()) == \
            pool_principal(f"project_path:acme/app:ref_type:branch:ref:{branch}")
    assert federation.google.calls == {"sts-token": 2}
    # Each job's next install step: its own token again, from the cache.
    for branch, job in jobs.items():
        assert _keyring_get(job).stdout == first[branch].stdout
    assert federation.google.calls == {"sts-token": 2}
    leaked = [s for s in federation.secrets() if any(s in r.stderr for r in first.values())]
    assert not leaked


def test_a_subject_token_that_is_not_a_jwt_is_keyed_whole(federation: Federation,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    """A SAML assertion or an opaque token: another token is another identity."""
    audience = "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/saml"
    opaque = FederationProvider(audience, "urn:ietf:params:oauth:token-type:saml2",
                                lambda token: pool_principal(token[-6:]))
    federation.google.add_provider(opaque)
    token_file = federation.files / "assertion"
    config = file_sourced_config(str(token_file), audience=opaque.audience)
    config["subject_token_type"] = opaque.subject_token_type
    federation.use(config)
    tokens = []
    for assertion in ("PHNhbWw+alice1", "PHNhbWw+bob222", "PHNhbWw+alice1"):
        token_file.write_text(assertion)
        tokens.append(_lookup(federation, caplog)[0])
    assert None not in tokens
    assert tokens[0] == tokens[2] != tokens[1]
    assert federation.google.calls == {"sts-token": 2}


def test_every_claim_but_the_per_issuance_ones_names_the_identity() -> None:
    """Claims an attribute condition may test (branch, environment) make another key; a token id
    or issue time does not. A keyed digest: another cache folder's salt gives other keys."""
    import base64

    from keyrings_gar.subject_identity import subject_key

    def jwt(**claims: object) -> str:
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        return f"eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln"

    base = {"iss": "https://token.actions.githubusercontent.com", "sub": "repo:acme/app:environment:prod"}
    key = subject_key(jwt(**base, ref="refs/heads/main", jti="1", iat=1, exp=2), None)
    assert subject_key(jwt(**base, ref="refs/heads/main", jti="2", iat=5, exp=9, nbf=4), None) == key
    assert subject_key(jwt(**base, ref="refs/heads/feature", jti="1", iat=1, exp=2), None) != key
    assert subject_key(jwt(**base, ref="refs/heads/main", jti="1", iat=1, exp=2), Path("/nonexistent")) != key


def test_doctor_checks_the_identity_the_url_answers_for_now(federation: Federation) -> None:
    """doctor goes through the cache as a lookup does: with the URL answering for alice, then
    for bob, it shows a token of each one's own, never alice's cached one for bob."""
    from keyrings_gar.command.diagnosis import doctor

    federation.use(federation.github_config())
    shown = []
    for person in ("alice", "bob"):
        federation.github.subject = f"repo:acme/app:ref:refs/heads/{person}"
        shown.append(doctor(AR_URL)["credential"]["token"])
    assert shown[0]["fingerprint"] != shown[1]["fingerprint"]
    assert [token["cached"] for token in shown] == [False, False]
    assert federation.google.calls == {"sts-token": 2}


def test_workforce_pool_config_without_its_user_project_says_so(federation: Federation,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    provider = federation.gitlab.provider(audience=WORKFORCE_AUDIENCE)
    federation.google.add_provider(FederationProvider(provider.audience, provider.subject_token_type,
                                                      provider.principal_of, workforce=True))
    token_file = federation.files / "workforce-id-token"
    token_file.write_text(federation.gitlab.mint(GITLAB_SUBJECT, "https:" + WORKFORCE_AUDIENCE))
    federation.use(file_sourced_config(str(token_file), audience=WORKFORCE_AUDIENCE))
    token, [line] = _lookup(federation, caplog)
    assert token is None
    assert federation.google.rejections == ["workforce exchange without userProject"]
    assert "has no workforce_pool_user_project" in line
    assert "--workforce-pool-user-project" in line
    assert "workload identity pool provider" not in line


def test_workload_pool_config_with_a_workforce_user_project_is_refused_as_google_auth_does(
    federation: Federation, caplog: pytest.LogCaptureFixture
) -> None:
    config = file_sourced_config(str(federation.gitlab_token_file()))
    config["workforce_pool_user_project"] = "acme-prod"
    federation.use(config)
    token, [line] = _lookup(federation, caplog)
    assert token is None
    assert "sets workforce_pool_user_project, but its audience names a workload identity pool" in line
    assert federation.google.calls == {}


def test_x509_certificate_config_is_refused_in_one_line_naming_it_and_gcloud_before_any_call(
    federation: Federation, caplog: pytest.LogCaptureFixture
) -> None:
    """As `gcloud iam workload-identity-pools create-cred-config --credential-cert-path` writes it:
    google-auth would need mutual TLS to STS, which our transport does not present."""
    certificate = federation.files / "certificate_config.json"
    certificate.write_text(json.dumps({"cert_configs": {"workload": {
        "cert_path": str(federation.files / "cert.pem"), "key_path": str(federation.files / "key.pem")}}}))
    federation.use({
        "type": "external_account", "universe_domain": "googleapis.com",
        "audience": PROVIDER_AUDIENCE.removeprefix("https:"),
        "subject_token_type": "urn:ietf:params:oauth:token-type:mtls",
        "token_url": "https://sts.mtls.googleapis.com/v1/token",
        "credential_source": {"certificate": {"certificate_config_location": str(certificate)}},
    })
    line = _one_line(federation, caplog)
    assert line.count("credential_source.certificate") == 1
    assert "X.509 certificate workload identity federation" in line
    assert "`gcloud auth login --cred-file=FILE`" in line
    assert "`token = gcloud`" in line
    assert federation.google.calls == {}
    assert federation.proxy.tunnels == []


def test_a_config_without_token_url_exchanges_at_google_s_sts(federation: Federation,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """google-auth loads such a file and then fails its refresh ("Invalid URL 'None'"); the
    lookup uses Google's STS endpoint, as every gcloud-written file names it."""
    federation.google.add_provider(federation.gitlab.provider())
    config = file_sourced_config(str(federation.gitlab_token_file()))
    del config["token_url"]
    federation.use(config)
    token, lines = _lookup(federation, caplog)
    assert lines == []
    assert token is not None
    assert federation.google.identity_of(token) == pool_principal(GITLAB_SUBJECT)
    assert federation.google.calls == {"sts-token": 1}
    assert federation.proxy.tunnels == ["sts.googleapis.com:443"]
