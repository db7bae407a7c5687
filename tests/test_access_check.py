"""`keyrings-gar doctor --check-access`: the real command, over HTTPS through the loopback proxy, against
the loopback Artifact Registry (package pages 200 or 404, 401, 403) and its API (mode, testIamPermissions,
404 for a missing repository to who may see the project, SERVICE_DISABLED) as the real ones answer."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme

from tests.conftest import console_script
from tests.loopback.keys import ServiceAccountKey, UserCredentials
from tests.loopback.proxy import TlsProxy
from tests.loopback.registry import VIRTUAL, WRITER
from tests.loopback.stack import (
    AR_HOST,
    JSON_KEY_BASE64,
    PROJECT,
    REPOSITORY,
    SERVICE_ACCOUNT_KEY,
    USER_ADC,
    LoopbackStack,
)

COMMAND = console_script("keyrings-gar")
OTHER_REPOSITORY_URL = f"https://{AR_HOST}/acme-prod/no-such-repo/simple/"



@pytest.fixture
def stack(identities: tuple[ServiceAccountKey, UserCredentials], private_ca: trustme.CA) -> Iterator[LoopbackStack]:
    with LoopbackStack(*identities, ca=private_ca) as running:
        yield running


def _doctor(stack: LoopbackStack, home: Path, kind: str | None, *args: str,
            extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = stack.environ(home)
    if kind is not None:
        env.update(stack.credential(kind, home).environ)
    env.update(extra or {})
    result = subprocess.run([COMMAND, "doctor", *args], capture_output=True, text=True, timeout=60, env=env,
                            stdin=subprocess.DEVNULL, check=False)
    assert "Traceback" not in result.stderr
    assert stack.leaked(result.stdout + result.stderr) == []
    return result


ROOT = f"/{PROJECT}/{REPOSITORY}/simple/"
RESOURCE = f"/v1/projects/{PROJECT}/locations/us-central1/repositories/{REPOSITORY}"


def _root_read(stack: LoopbackStack) -> bool:
    """Whether anything asked the root listing, which Artifact Registry answers 404 to everyone."""
    return any(line.split(" ")[1] in (ROOT, ROOT.rstrip("/"), "/simple/", "/simple") for line in stack.registry.log)


def test_a_readable_repository_is_ok_with_exit_0_without_reading_the_root_listing(
    stack: LoopbackStack, tmp_path: Path
) -> None:
    result = _doctor(stack, tmp_path, SERVICE_ACCOUNT_KEY, "--check-access", stack.index_url())
    assert result.returncode == 0, result.stdout
    assert (f"Artifact Registry lets this credential read {stack.index_url()} (a standard repository, a package "
            "page answered HTTP 404)") in result.stdout
    assert "the registry accepts it" in result.stdout
    assert stack.registry.identities == {stack.sa_key.email: 1}  # one request, with the lookup's credential
    assert stack.registry.log[0].startswith(f"GET {ROOT}keyrings-gar-access-probe/ -> 404")
    assert not _root_read(stack)
    assert stack.api.requests == [("GET", RESOURCE, stack.sa_key.email),
                                  ("POST", f"{RESOURCE}:testIamPermissions", stack.sa_key.email)]


def test_package_asks_that_package_s_page(stack: LoopbackStack, tmp_path: Path) -> None:
    result = _doctor(stack, tmp_path, USER_ADC, "--check-access", "--package", "Acme_Private", stack.index_url())
    assert result.returncode == 0, result.stdout
    assert "a package page answered HTTP 200" in result.stdout
    assert stack.registry.log[0].startswith(f"GET {ROOT}acme-private/ -> 200")
    usage = _doctor(stack, tmp_path, USER_ADC, "--package", "acme-private", stack.index_url())
    assert usage.returncode == 2
    assert "--package goes with --check-access" in usage.stderr


def test_for_upload_is_answered_by_the_api_without_uploading(stack: LoopbackStack, tmp_path: Path) -> None:
    stack.registry.grant(stack.sa_key.email, "reader")
    reader = _doctor(stack, tmp_path, SERVICE_ACCOUNT_KEY, "--check-access", "--for", "upload", stack.index_url())
    assert reader.returncode == 1
    assert (f"{stack.sa_key.email} may read but not upload to projects/{PROJECT}/locations/us-central1/"
            f"repositories/{REPOSITORY} (testIamPermissions: no artifactregistry.repositories.uploadArtifacts; "
            "nothing was uploaded): it lacks roles/artifactregistry.writer") in reader.stdout
    assert f"--member=serviceAccount:{stack.sa_key.email} --role=roles/artifactregistry.writer" in reader.stdout
    stack.registry.grant(stack.sa_key.email, WRITER)
    writer = _doctor(stack, tmp_path, SERVICE_ACCOUNT_KEY, "--check-access", "--for", "upload", stack.index_url())
    assert writer.returncode == 0, writer.stdout
    assert "and may upload to it (artifactregistry.repositories.uploadArtifacts" in writer.stdout
    assert stack.registry.uploads == []
    assert not [line for line in stack.registry.log if not line.startswith("GET ")]  # no POST, no upload


def test_for_upload_to_a_virtual_repository_says_uploads_go_behind_it(stack: LoopbackStack, tmp_path: Path) -> None:
    stack.registry.add_repository("all-python", mode=VIRTUAL, upstreams=[REPOSITORY])
    url = f"https://{AR_HOST}/{PROJECT}/all-python/simple/"
    read = _doctor(stack, tmp_path, SERVICE_ACCOUNT_KEY, "--check-access", url)
    assert read.returncode == 0, read.stdout
    assert "(a virtual repository, a package page answered HTTP 404)" in read.stdout
    result = _doctor(stack, tmp_path, SERVICE_ACCOUNT_KEY, "--check-access", "--for", "upload", url)
    assert result.returncode == 1
    assert "is a virtual repository, which takes no uploads: publish to the standard repository behind it" in (
        result.stdout)
    assert stack.registry.uploads == []


def test_a_disabled_api_is_a_warning_with_its_fix_never_a_failure_of_a_proven_read(
    stack: LoopbackStack, tmp_path: Path
) -> None:
    stack.api.disabled = True
    result = _doctor(stack, tmp_path, USER_ADC, "--check-access", stack.index_url())
    assert result.returncode == 0, result.stdout
    assert "the Artifact Registry API is not enabled in project 123456789012" in result.stdout
    assert "(HTTP 403 SERVICE_DISABLED)" in result.stdout
    assert "`gcloud services enable artifactregistry.googleapis.com --project=123456789012`" in result.stdout
    assert "a package page answered HTTP 404" in result.stdout
    upload = _doctor(stack, tmp_path, USER_ADC, "--check-access", "--for", "upload", stack.index_url())
    assert upload.returncode == 0, upload.stdout
    assert "whether it may upload is unknown (see the warning)" in upload.stdout


def test_a_json_key_secret_asks_the_api_with_a_token_minted_from_its_key(stack: LoopbackStack,
                                                                         tmp_path: Path) -> None:
    result = _doctor(stack, tmp_path, JSON_KEY_BASE64, "--check-access", "--for", "upload", stack.index_url())
    assert result.returncode == 0, result.stdout
    assert stack.registry.logins == {"_json_key_base64": 1}
    assert [identity for _, _, identity in stack.api.requests] == [stack.sa_key.email] * 2


def test_the_api_endpoint_override_is_trust_checked_before_any_token_is_sent(stack: LoopbackStack,
                                                                             tmp_path: Path) -> None:
    host, port = stack.api.address
    direct = f"http://{host}:{port}"
    refused = _doctor(stack, tmp_path, USER_ADC, "--check-access", stack.index_url(),
                      extra={"KEYRINGS_GAR_API_ENDPOINT": direct})
    assert refused.returncode == 0  # the read is proven; the API is a warning
    assert (f"KEYRINGS_GAR_API_ENDPOINT: its Artifact Registry API URL sends credentials to {host}:{port}, which is "
            "not Google's Artifact Registry API") in refused.stdout
    assert "nothing was sent" in refused.stdout
    assert stack.api.requests == []
    opted_in = _doctor(stack, tmp_path, USER_ADC, "--check-access", stack.index_url(),
                       extra={"KEYRINGS_GAR_API_ENDPOINT": direct, "KEYRINGS_GAR_TOKEN_HOSTS": f"{host}:{port}",
                              "NO_PROXY": host})
    assert opted_in.returncode == 0, opted_in.stdout
    assert "(a standard repository, a package page answered HTTP 404)" in opted_in.stdout
    assert len(stack.api.requests) == 2


def test_a_netrc_login_is_never_sent_in_place_of_the_credential(stack: LoopbackStack, tmp_path: Path) -> None:
    """requests puts the ~/.netrc login (a `default` entry matches every host) in place of the
    Authorization header it was given: the check then sent that password and reported a 401."""
    netrc = tmp_path / ".netrc"
    netrc.write_text("default login someone password netrc-password-nnnnnnnnnnnnnnnn\n")
    netrc.chmod(0o600)
    result = _doctor(stack, tmp_path, SERVICE_ACCOUNT_KEY, "--check-access", stack.index_url())
    assert result.returncode == 0, result.stdout
    assert (f"Artifact Registry lets this credential read {stack.index_url()} (a standard repository, a package "
            "page answered HTTP 404)") in result.stdout
    assert stack.registry.identities == {stack.sa_key.email: 1}
    assert [identity for _, _, identity in stack.api.requests] == [stack.sa_key.email] * 2


def test_403_names_the_identity_the_missing_role_and_the_command_that_grants_it(
    stack: LoopbackStack, tmp_path: Path
) -> None:
    stack.registry.grant("someone-else@example.com", "reader")
    plain = _doctor(stack, tmp_path, SERVICE_ACCOUNT_KEY, stack.index_url())
    assert plain.returncode == 0  # what doctor said before: a token could be minted
    result = _doctor(stack, tmp_path, SERVICE_ACCOUNT_KEY, "--check-access", stack.index_url())
    assert result.returncode == 1
    assert (f"{stack.sa_key.email} may not download from projects/acme-prod/locations/us-central1/repositories/"
            "team-repo (HTTP 403): it lacks roles/artifactregistry.reader") in result.stdout
    assert ("gcloud artifacts repositories add-iam-policy-binding team-repo --project=acme-prod "
            f"--location=us-central1 --member=serviceAccount:{stack.sa_key.email} "
            "--role=roles/artifactregistry.reader") in result.stdout
    assert "FAILED" in result.stdout


def test_403_for_an_upload_names_the_writer_role_and_a_user_as_user(stack: LoopbackStack, tmp_path: Path) -> None:
    stack.registry.grant("someone-else@example.com", "reader")
    result = _doctor(stack, tmp_path, USER_ADC, "--check-access", "--for", "upload", stack.index_url())
    assert result.returncode == 1
    assert "lacks roles/artifactregistry.writer" in result.stdout
    assert " may not upload to projects/acme-prod/" in result.stdout
    assert f"--member=user:{stack.user.account} --role=roles/artifactregistry.writer" in result.stdout


def test_a_missing_repository_is_told_by_the_api_to_who_may_see_the_project(stack: LoopbackStack,
                                                                             tmp_path: Path) -> None:
    result = _doctor(stack, tmp_path, SERVICE_ACCOUNT_KEY, "--check-access", OTHER_REPOSITORY_URL)
    assert result.returncode == 1
    assert ("Artifact Registry has no repository no-such-repo in project acme-prod at us-central1 (the package page "
            "answered HTTP 403, and the Artifact Registry API 404") in result.stdout
    assert "gcloud artifacts repositories list --project=acme-prod --location=us-central1" in result.stdout
    assert not _root_read(stack)


def test_a_missing_repository_is_a_403_to_who_may_not_see_the_project(stack: LoopbackStack,
                                                                      tmp_path: Path) -> None:
    stack.api.project_viewers = frozenset()
    result = _doctor(stack, tmp_path, SERVICE_ACCOUNT_KEY, "--check-access", OTHER_REPOSITORY_URL)
    assert result.returncode == 1
    assert (f"{stack.sa_key.email} may not download from projects/acme-prod/locations/us-central1/repositories/"
            "no-such-repo (HTTP 403): it lacks roles/artifactregistry.reader on that repository, or the project or "
            "repository does not exist") in result.stdout
    assert "has no repository" not in result.stdout


def test_an_expired_pre_minted_token_is_401_naming_its_variable(stack: LoopbackStack, tmp_path: Path) -> None:
    expired = stack.google.issue(stack.sa_key.email, lifetime=-60).value
    plain = _doctor(stack, tmp_path, None, stack.index_url(), extra={"KEYRINGS_GAR_ACCESS_TOKEN": expired})
    assert plain.returncode == 0  # without asking the registry, an expired token looks fine
    result = _doctor(stack, tmp_path, None, "--check-access", stack.index_url(),
                     extra={"KEYRINGS_GAR_ACCESS_TOKEN": expired})
    assert result.returncode == 1
    assert "refused the pre-minted token from KEYRINGS_GAR_ACCESS_TOKEN (HTTP 401): it has expired" in result.stdout
    assert expired not in result.stdout + result.stderr


def test_a_deleted_key_is_401_naming_the_key(stack: LoopbackStack, tmp_path: Path) -> None:
    stack.registry.json_keys.clear()  # the key was deleted in the console
    result = _doctor(stack, tmp_path, JSON_KEY_BASE64, "--check-access", stack.index_url())
    assert result.returncode == 1
    assert (f"refused the _json_key_base64 secret of {stack.sa_key.email} (key {stack.sa_key.key_id[:8]})"
            in result.stdout)
    # Both causes, claiming neither: whether the registry needs the key file's exact bytes is unknown.
    assert "either the key or its service account was deleted or disabled (create a new key" in result.stdout
    assert "or the secret is not the base64 of the key file as it was created (set it to `base64 -w0 KEY.json`)" in (
        result.stdout)


def test_json_report_carries_the_status(stack: LoopbackStack, tmp_path: Path) -> None:
    result = _doctor(stack, tmp_path, SERVICE_ACCOUNT_KEY, "--json", "--check-access", OTHER_REPOSITORY_URL)
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["access"]["status"] == 403
    assert report["access"]["url"] == f"{OTHER_REPOSITORY_URL}keyrings-gar-access-probe/"
    assert report["access"]["api"] == {"mode": None, "missing": True, "problem": None, "permissions": []}
    assert _doctor(stack, tmp_path, SERVICE_ACCOUNT_KEY, "--json", "--check-access", stack.index_url()
                   ).returncode == 0


def test_check_access_needs_a_url_and_a_repository(stack: LoopbackStack, tmp_path: Path) -> None:
    result = _doctor(stack, tmp_path, SERVICE_ACCOUNT_KEY, "--check-access")
    assert result.returncode == 2
    assert "--check-access needs the repository URL" in result.stderr
    result = _doctor(stack, tmp_path, SERVICE_ACCOUNT_KEY, "--check-access", f"https://{AR_HOST}/acme-prod")
    assert result.returncode == 1
    assert "--check-access needs the repository's URL" in result.stdout
    assert not stack.registry.log


class _Redirecting(BaseHTTPRequestHandler):
    """A host in between that sends every request elsewhere, and counts what reaches it."""

    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("Authorization", ""))
        self.send_response(302)
        self.send_header("Location", f"https://{AR_HOST}/elsewhere/simple/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base class signature
        pass


def test_a_redirect_is_reported_and_not_followed(tmp_path: Path, stack: LoopbackStack,
                                                 private_ca: trustme.CA) -> None:
    seen: list[str] = []
    handler = type("Handler", (_Redirecting,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    try:
        with TlsProxy({AR_HOST: ("127.0.0.1", server.server_address[1])}, private_ca) as proxy:
            token = stack.google.issue(stack.sa_key.email).value
            env = stack.environ(tmp_path) | {"HTTPS_PROXY": proxy.url, "KEYRINGS_GAR_ACCESS_TOKEN": token}
            result = subprocess.run([COMMAND, "doctor", "--check-access", stack.index_url()], capture_output=True,
                                    text=True, timeout=60, env=env, stdin=subprocess.DEVNULL, check=False)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1
    assert "answered with a redirect (HTTP 302)" in result.stdout
    assert len(seen) == 1  # the credential went to the repository once, and nowhere after the redirect
    assert token not in result.stdout + result.stderr


def test_a_revoked_minted_token_is_401_naming_the_identity_and_its_source(stack: LoopbackStack,
                                                                          tmp_path: Path) -> None:
    assert _doctor(stack, tmp_path, SERVICE_ACCOUNT_KEY, stack.index_url()).returncode == 0  # minted and cached
    stack.google.tokens.clear()  # revoked at Google: the registry no longer takes it
    result = _doctor(stack, tmp_path, SERVICE_ACCOUNT_KEY, "--check-access", stack.index_url())
    assert result.returncode == 1
    assert f"refused the token of {stack.sa_key.email} (adc-file: GOOGLE_APPLICATION_CREDENTIALS=" in result.stdout
    assert "run `keyrings-gar cache clear` and check again" in result.stdout


def test_a_standard_repository_configured_as_the_only_index_is_warned_about(stack: LoopbackStack,
                                                                           tmp_path: Path) -> None:
    home = tmp_path / "home"
    project = home / "project"
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "consumer"\nversion = "0.1.0"\n\n[[tool.uv.index]]\nname = "team-repo"\n'
        f'url = "{stack.index_url()}"\ndefault = true\n\n[[tool.pdm.source]]\nname = "pypi"\n'
        f'url = "{stack.index_url()}"\n')
    pip_conf = home / ".config" / "pip" / "pip.conf"
    pip_conf.parent.mkdir(parents=True)
    pip_conf.write_text(f"[global]\nindex-url = {stack.index_url('oauth2accesstoken')}\n")
    os.mkfifo(project / "uv.toml")  # planted in a cloned project: skipped, never waited on
    env = {**stack.environ(home), **stack.credential(SERVICE_ACCOUNT_KEY, home).environ}
    result = subprocess.run([COMMAND, "doctor", "--check-access", stack.index_url()], capture_output=True, text=True,
                            timeout=60, env=env, cwd=project, stdin=subprocess.DEVNULL, check=False)
    assert result.returncode == 0, result.stdout  # a warning: the credential works
    for place in (f"{pip_conf}: pip's index-url", f"{project / 'pyproject.toml'}: uv's default index",
                  f"{project / 'pyproject.toml'}: pdm's source named pypi"):
        assert (f"{place} makes team-repo, a standard repository (its own packages only), the only index: public "
                "packages will not be found") in result.stdout
    stack.registry.add_repository(REPOSITORY, mode=VIRTUAL)  # the same settings are right for a virtual one
    again = subprocess.run([COMMAND, "doctor", "--check-access", stack.index_url()], capture_output=True, text=True,
                           timeout=60, env=env, cwd=project, stdin=subprocess.DEVNULL, check=False)
    assert again.returncode == 0, again.stdout
    assert "the only index: public packages will not be found" not in again.stdout


def test_the_api_is_billed_to_the_user_login_s_quota_project_as_google_auth_bills_it(
    stack: LoopbackStack, tmp_path: Path
) -> None:
    """A user login's calls go to gcloud's own project unless its ADC file names a quota project;
    where the API is enabled only in the user's project, that header makes the difference."""
    stack.api.disabled = True
    stack.api.enabled_in.add(PROJECT)
    home = tmp_path / "home"
    stack.credential(USER_ADC, home)
    adc = home / ".config" / "gcloud" / "application_default_credentials.json"
    without = _doctor(stack, home, None, "--check-access", stack.index_url())
    assert without.returncode == 0, without.stdout
    assert "`gcloud auth application-default set-quota-project PROJECT`" in without.stdout
    adc.write_text(json.dumps({**json.loads(adc.read_text()), "quota_project_id": PROJECT}))
    billed = _doctor(stack, home, None, "--check-access", stack.index_url())
    assert billed.returncode == 0, billed.stdout
    assert "(a standard repository, a package page answered HTTP 404)" in billed.stdout
    assert "SERVICE_DISABLED" not in billed.stdout
    by_variable = _doctor(stack, home, None, "--check-access", stack.index_url(),
                          extra={"GOOGLE_CLOUD_QUOTA_PROJECT": "another-project"})  # the variable wins
    assert "SERVICE_DISABLED" in by_variable.stdout
