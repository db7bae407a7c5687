"""`keyrings-gar doctor --check-access`: the real command, over HTTPS through the loopback proxy, against
the loopback Artifact Registry answering 200, 401, 403 and 404 as the real one does."""

from __future__ import annotations

import json
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
from tests.loopback.stack import (
    AR_HOST,
    JSON_KEY_BASE64,
    SERVICE_ACCOUNT_KEY,
    USER_ADC,
    LoopbackStack,
    new_identities,
)

COMMAND = console_script("keyrings-gar")
OTHER_REPOSITORY_URL = f"https://{AR_HOST}/acme-prod/no-such-repo/simple/"


@pytest.fixture(scope="module")
def identities() -> tuple[ServiceAccountKey, UserCredentials]:
    return new_identities()


@pytest.fixture(scope="module")
def private_ca() -> trustme.CA:
    return trustme.CA()


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


@pytest.mark.xfail(strict=False, reason="w21-doctor rewrites check-access: it reads the root listing, which the real "
                   "registry (and now the stand-in) answers 404 even for a reader")
def test_a_readable_repository_is_ok_with_exit_0(stack: LoopbackStack, tmp_path: Path) -> None:
    result = _doctor(stack, tmp_path, SERVICE_ACCOUNT_KEY, "--check-access", stack.index_url())
    assert result.returncode == 0, result.stdout
    assert f"Artifact Registry accepts this credential for {stack.index_url()} (HTTP 200)" in result.stdout
    assert "the registry accepts it" in result.stdout
    assert stack.registry.identities == {stack.sa_key.email: 1}  # one request, with the lookup's credential


def test_a_netrc_login_is_never_sent_in_place_of_the_credential(stack: LoopbackStack, tmp_path: Path) -> None:
    """requests puts the ~/.netrc login (a `default` entry matches every host) in place of the
    Authorization header it was given: the check then sent that password and reported a 401."""
    netrc = tmp_path / ".netrc"
    netrc.write_text("default login someone password netrc-password-nnnnnnnnnnnnnnnn\n")
    netrc.chmod(0o600)
    result = _doctor(stack, tmp_path, SERVICE_ACCOUNT_KEY, "--check-access", stack.index_url())
    assert result.returncode == 0, result.stdout
    assert f"Artifact Registry accepts this credential for {stack.index_url()} (HTTP 200)" in result.stdout
    assert stack.registry.identities == {stack.sa_key.email: 1}


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


@pytest.mark.xfail(strict=False, reason="w21-doctor rewrites check-access: a missing repository is 403 "
                   "(or it may not exist) on the real registry, never 404")
def test_404_names_the_repository_project_and_location(stack: LoopbackStack, tmp_path: Path) -> None:
    result = _doctor(stack, tmp_path, SERVICE_ACCOUNT_KEY, "--check-access", OTHER_REPOSITORY_URL)
    assert result.returncode == 1
    assert ("Artifact Registry has no repository no-such-repo in project acme-prod at us-central1 (HTTP 404)"
            in result.stdout)
    assert "gcloud artifacts repositories list --project=acme-prod --location=us-central1" in result.stdout


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
    assert "create a new key" in result.stdout


@pytest.mark.xfail(strict=False, reason="w21-doctor rewrites check-access: a missing repository is 403 "
                   "(or it may not exist) on the real registry, never 404")
def test_json_report_carries_the_status(stack: LoopbackStack, tmp_path: Path) -> None:
    result = _doctor(stack, tmp_path, SERVICE_ACCOUNT_KEY, "--json", "--check-access", OTHER_REPOSITORY_URL)
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["access"]["status"] == 404
    assert report["access"]["url"] == OTHER_REPOSITORY_URL


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
    threading.Thread(target=server.serve_forever, daemon=True).start()
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


class _RefusingProxy(BaseHTTPRequestHandler):
    """A proxy that refuses every tunnel, as a corporate proxy does for a host it does not allow."""

    def do_CONNECT(self) -> None:
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base class signature
        pass


def test_an_unreachable_host_is_told_with_the_whole_reason(tmp_path: Path, stack: LoopbackStack) -> None:
    """Seen: `could not reach …: … OSError('Tunnel conne; check …`, the proxy's answer cut off mid-word."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RefusingProxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        token = stack.google.issue(stack.sa_key.email).value
        result = _doctor(stack, tmp_path, None, "--check-access", stack.index_url(),
                         extra={"HTTPS_PROXY": f"http://127.0.0.1:{server.server_address[1]}",
                                "KEYRINGS_GAR_ACCESS_TOKEN": token})
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1
    assert f"could not reach {AR_HOST}: " in result.stdout
    assert "Tunnel connection failed: 403 Forbidden" in result.stdout
    assert token not in result.stdout + result.stderr
