"""Bounded token-endpoint answers: an endless or trickling body costs neither memory nor a thread.

The lookup runs in a separate process that stays alive after it (as pip's import provider does),
so its memory and threads can be measured after the answer, when an abandoned grant used to keep
reading: RSS grew by gigabytes there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from keyrings_gar.mint.transport import RESPONSE_LIMIT
from tests.conftest import AR_URL, Identities, console_script, use_metadata_server
from tests.loopback.federation import WORKLOAD_AUDIENCE, OidcIssuer, file_sourced_config
from tests.loopback.google import FakeGoogle

KEYRING = console_script("keyring")
TARGET = "deployer@acme-prod.iam.gserviceaccount.com"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="measures memory with the resource module")

# In-process, as pip's import provider asks; google-auth and requests imported first, so that only
# what the lookup reads is measured. It then lives on for a while, as pip does.
_PROBE = """
import json, resource, sys, threading, time
import google.auth.transport.requests, google.oauth2.service_account, keyring, requests

def rss_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

before, started = rss_kib(), time.monotonic()
answer = keyring.get_password(sys.argv[1], "oauth2accesstoken")
elapsed = time.monotonic() - started
time.sleep(float(sys.argv[2]))
print(json.dumps({"answer": answer, "growth_kib": rss_kib() - before, "elapsed": elapsed,
                  "grants_running": [t.name for t in threading.enumerate() if t.name == "keyrings-gar-mint"]}))
"""
GROWTH_LIMIT_KIB = 200 * 1024  # generous: the body bound is 1 MiB; unbounded, it was gigabytes
# The lookups' deadline: room for a cold process on a loaded machine to reach the stand-in and be
# answered. Only an answer that must be cut by the deadline waits it out, and gets CUT_AT instead.
TIMEOUT = 2.0
CUT_AT = 1.0
# Long enough for an abandoned grant to show: one still reading loopback at hundreds of MB/s (it used to
# reach gigabytes) is still running, or already past the growth limit, a second later.
LIVES_ON = 1.0


def _lookup_in_a_long_lived_process(google: Identities, fault: str, environ: dict[str, str] | None = None,
                                    deadline: float = TIMEOUT) -> tuple[dict[str, object], list[str]]:
    google.google.fault = fault
    env = {**os.environ, "GOOGLE_APPLICATION_CREDENTIALS": str(google.sa_key_file),
           "KEYRINGS_GAR_TIMEOUT": f"{deadline:g}", **(environ or {})}
    result = subprocess.run([sys.executable, "-c", _PROBE, AR_URL, str(LIVES_ON)], capture_output=True, text=True,
                            timeout=60, env=env, stdin=subprocess.DEVNULL, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout), result.stderr.splitlines()


@pytest.mark.parametrize(("fault", "says", "deadline"), [("endless", "larger than 1024 KiB", TIMEOUT),
                                                         ("oversized", "larger than 1024 KiB", TIMEOUT),
                                                         ("trickle", "timed out", CUT_AT)])
def test_an_endless_answer_is_hung_up_on_by_the_deadline_leaving_memory_bounded_and_no_grant_running(
    google: Identities, fault: str, says: str, deadline: float
) -> None:
    """One process per answer proves both: the lookup's line and memory, and that the client hung up
    on the stream (it was not still reading when the process exited) within the deadline."""
    found, stderr = _lookup_in_a_long_lived_process(google, fault, deadline=deadline)
    assert found["answer"] is None
    [line] = stderr
    assert line.startswith("keyrings.gar: ")
    assert says in line
    growth = found["growth_kib"]
    assert isinstance(growth, int)
    assert growth < GROWTH_LIMIT_KIB
    assert found["grants_running"] == []
    assert google.google.grants == []
    [stream] = google.google.streams
    assert stream.ended is not None, "the client was still reading when the process exited"
    assert stream.ended - stream.started < deadline + 1.0
    # The bound, plus what the two sockets buffer on the way (loopback TCP buffers grow to ~10 MB).
    assert stream.sent < RESPONSE_LIMIT + 32 * 1024 * 1024


def test_a_normal_answer_still_gives_a_token(google: Identities, monkeypatch: pytest.MonkeyPatch) -> None:
    from keyrings_gar.backend import GarKeyring

    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.sa_key_file))
    started = time.monotonic()
    token = GarKeyring().get_password(AR_URL, "oauth2accesstoken")
    assert token is not None
    assert google.google.identity_of(token) == google.sa_key.email
    assert time.monotonic() - started < 5


# -- redirects: Google's endpoints never send one, so none is followed and no redirect body is read ------

# The peak of a whole `keyring get` process (interpreter, keyring, google-auth and requests: about
# 50 MB) plus what a bounded grant may hold; following a redirect read its body whole (GBs).
CLI_PEAK_LIMIT_KIB = 120 * 1024
_CLI_PEAK = """
import json, resource, subprocess, sys, time
started = time.monotonic()
result = subprocess.run(sys.argv[1:], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
print(json.dumps({"returncode": result.returncode, "stdout": result.stdout, "stderr": result.stderr,
                  "elapsed": time.monotonic() - started,
                  "peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


@dataclass
class Redirected:
    """One Google endpoint that answers with a redirect: the credentials that reach it and the words
    the line names it with."""

    environ: dict[str, str]
    fault_on: str
    says: str


def _federation_file(google: Identities, tmp: Path, *, impersonate: bool) -> dict[str, str]:
    """An external_account file whose STS (and IAM) are the stand-in, with a subject token STS accepts."""
    issuer = OidcIssuer("https://gitlab.example.com")
    google.google.add_provider(issuer.provider())
    token_file = tmp / "id-token"
    token_file.write_text(issuer.mint("project_path:acme/app", "https:" + WORKLOAD_AUDIENCE))
    config = file_sourced_config(str(token_file))
    config["token_url"] = f"{google.google.url}/v1/token"
    if impersonate:
        config["service_account_impersonation_url"] = \
            f"{google.google.url}/v1/projects/-/serviceAccounts/{TARGET}:generateAccessToken"
    path = tmp / "wif.json"
    path.write_text(json.dumps(config))
    return {"GOOGLE_APPLICATION_CREDENTIALS": str(path)}


def _redirected(endpoint: str, google: Identities, tmp: Path) -> Redirected:
    port = google.google.port
    if endpoint == "token_uri":
        return Redirected({}, "/token", f"token endpoint at 127.0.0.1:{port} answered with a redirect")
    if endpoint == "STS":
        return Redirected(_federation_file(google, tmp, impersonate=False), "/v1/token",
                          f"STS at 127.0.0.1:{port} answered with a redirect")
    if endpoint == "IAM":
        return Redirected(_federation_file(google, tmp, impersonate=True), ":generateAccessToken",
                          f"IAM (impersonating {TARGET}) at 127.0.0.1:{port} answered with a redirect")
    # No credentials at all: the metadata address is the last place to look, and anyone on a
    # laptop's network can answer it.
    metadata = f"127.0.0.1:{port}"
    return Redirected({"GOOGLE_APPLICATION_CREDENTIALS": "", "GCE_METADATA_HOST": metadata,
                       "GCE_METADATA_IP": metadata}, "",
                      f"the metadata server address {metadata} answered with a redirect")


ENDPOINTS = ("token_uri", "STS", "IAM", "metadata server")
REDIRECTS = [("redirect-endless", 307), ("redirect-gzip", 308)]


@pytest.fixture
def redirect_target(google: Identities) -> Iterator[FakeGoogle]:
    """Where the redirects point: a second stand-in that counts every request it gets."""
    with FakeGoogle() as target:
        google.google.redirect_to = target.url
        yield target


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("redirect", REDIRECTS, ids=[fault for fault, _ in REDIRECTS])
def test_a_redirect_is_refused_unread_with_memory_bounded_and_nothing_resent(
    google: Identities, redirect_target: FakeGoogle, tmp_path: Path, endpoint: str, redirect: tuple[str, int]
) -> None:
    fault, status = redirect
    redirected = _redirected(endpoint, google, tmp_path)
    google.google.fault_on, google.google.redirect_status = redirected.fault_on, status
    found, stderr = _lookup_in_a_long_lived_process(google, fault, redirected.environ)
    assert found["answer"] is None
    [line] = stderr
    assert line.startswith("keyrings.gar: ")
    assert f"{redirected.says} (HTTP {status})" in line
    elapsed, growth = found["elapsed"], found["growth_kib"]
    assert isinstance(elapsed, float)
    assert isinstance(growth, int)
    assert elapsed < TIMEOUT + 1.0
    assert growth < GROWTH_LIMIT_KIB
    assert found["grants_running"] == []
    # Nothing (no signed assertion, no subject token) was sent on to where the redirect points.
    assert redirect_target.received == 0


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_redirecting_gzip_bomb_leaves_the_keyring_command_small_and_on_time(
    google: Identities, redirect_target: FakeGoogle, tmp_path: Path, endpoint: str
) -> None:
    redirected = _redirected(endpoint, google, tmp_path)
    google.google.fault, google.google.fault_on = "redirect-gzip", redirected.fault_on
    env = {**os.environ, "GOOGLE_APPLICATION_CREDENTIALS": str(google.sa_key_file),
           "KEYRINGS_GAR_TIMEOUT": f"{TIMEOUT:g}", **redirected.environ}
    result = subprocess.run([sys.executable, "-c", _CLI_PEAK, KEYRING, "get", AR_URL, "oauth2accesstoken"],
                            capture_output=True, text=True, timeout=90, env=env, stdin=subprocess.DEVNULL,
                            check=True)
    found = json.loads(result.stdout)
    assert found["returncode"] == 1
    assert found["stdout"] == ""
    [line] = found["stderr"].splitlines()
    assert redirected.says in line
    assert found["elapsed"] < TIMEOUT + 2.0  # a process start on top of the in-process bound
    assert found["peak_kib"] < CLI_PEAK_LIMIT_KIB
    assert redirect_target.received == 0


@pytest.mark.parametrize("endpoint", ["token_uri", "STS"])
def test_a_gzip_bomb_answer_is_cut_at_the_bound(google: Identities, tmp_path: Path, endpoint: str) -> None:
    """Not a redirect: a 200 whose compressed body inflates without end is read to the bound only."""
    redirected = _redirected(endpoint, google, tmp_path)
    google.google.fault_on = redirected.fault_on
    found, stderr = _lookup_in_a_long_lived_process(google, "gzip-bomb", redirected.environ)
    assert found["answer"] is None
    [line] = stderr
    assert "larger than 1024 KiB" in line
    growth = found["growth_kib"]
    assert isinstance(growth, int)
    assert growth < GROWTH_LIMIT_KIB


def test_impersonating_with_the_metadata_server_s_account_asks_nothing_outside_the_transport(
    google: Identities, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """google-auth's impersonated credentials read their source's universe, and compute_engine
    fetched it from the metadata server on a requests session of its own (unbounded, following
    redirects, outside the deadline). The default universe is stated instead: nothing is asked."""
    from keyrings_gar.backend import GarKeyring

    google.google.metadata_email = "vm@acme-prod.iam.gserviceaccount.com"
    use_metadata_server(monkeypatch, f"127.0.0.1:{google.google.port}")
    config = tmp_path / "keyrings-gar.cfg"
    config.write_text(f"[us-central1-python.pkg.dev]\nimpersonate = {TARGET}\n")
    monkeypatch.setenv("KEYRINGS_GAR_CONFIG", str(config))
    token = GarKeyring().get_password(AR_URL, "oauth2accesstoken")
    assert token is not None
    assert google.google.identity_of(token) == TARGET
    assert "metadata-universe" not in google.google.calls
    assert google.google.calls["iam-generateAccessToken"] == 1


# -- only our credential leaves: never a login requests finds in ~/.netrc -----------------------------

NETRC_PASSWORD = "netrc-password-" + "n" * 16  # the planted secret that must not travel


def _netrc_default_entry(home: Path) -> None:
    """A `default` entry matches every host: requests adds it to any request without auth of its own."""
    netrc = home / ".netrc"
    netrc.write_text(f"default login someone password {NETRC_PASSWORD}\n")
    netrc.chmod(0o600)


def test_the_metadata_server_never_receives_a_netrc_login(
    google: Identities, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The metadata requests carry no Authorization: requests filled it with the .netrc password, in
    cleartext to the metadata address."""
    from keyrings_gar.backend import GarKeyring

    _netrc_default_entry(isolated)
    google.google.metadata_email = "vm@acme-prod.iam.gserviceaccount.com"
    use_metadata_server(monkeypatch, f"127.0.0.1:{google.google.port}")
    token = GarKeyring().get_password(AR_URL, "oauth2accesstoken")
    assert token is not None
    assert google.google.identity_of(token) == "vm@acme-prod.iam.gserviceaccount.com"
    assert google.google.received > 0
    assert google.google.authorizations == []


def test_iam_receives_the_token_we_send_not_a_netrc_login(
    google: Identities, isolated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that carries our own Authorization header (the source's token, to IAM) keeps it: requests
    put the .netrc login in its place."""
    from keyrings_gar.backend import GarKeyring

    _netrc_default_entry(isolated)
    google.google.metadata_email = "vm@acme-prod.iam.gserviceaccount.com"
    use_metadata_server(monkeypatch, f"127.0.0.1:{google.google.port}")
    config = tmp_path / "keyrings-gar.cfg"
    config.write_text(f"[us-central1-python.pkg.dev]\nimpersonate = {TARGET}\n")
    monkeypatch.setenv("KEYRINGS_GAR_CONFIG", str(config))
    token = GarKeyring().get_password(AR_URL, "oauth2accesstoken")
    assert token is not None
    assert google.google.identity_of(token) == TARGET
    assert google.google.calls["iam-generateAccessToken"] == 1
    assert [a.split(" ", 1)[0] for a in google.google.authorizations] == ["Bearer"]
