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

import pytest

from keyrings_gar.transport import RESPONSE_LIMIT
from tests.conftest import AR_URL, Identities

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="measures memory with the resource module")

# In-process, as pip's import provider asks; google-auth and requests imported first, so that only
# what the lookup reads is measured. It then lives on for a while, as pip does.
_PROBE = """
import json, resource, sys, threading, time
import google.auth.transport.requests, google.oauth2.service_account, keyring, requests

def rss_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

before = rss_kib()
answer = keyring.get_password(sys.argv[1], "oauth2accesstoken")
time.sleep(float(sys.argv[2]))
print(json.dumps({"answer": answer, "growth_kib": rss_kib() - before,
                  "grants_running": [t.name for t in threading.enumerate() if t.name == "keyrings-gar-mint"]}))
"""
GROWTH_LIMIT_KIB = 200 * 1024  # generous: the body bound is 1 MiB; unbounded, it was gigabytes
TIMEOUT = 2.0
LIVES_ON = 3.0


def _lookup_in_a_long_lived_process(google: Identities, fault: str) -> tuple[dict[str, object], list[str]]:
    google.google.fault = fault
    env = {**os.environ, "GOOGLE_APPLICATION_CREDENTIALS": str(google.sa_key_file),
           "KEYRINGS_GAR_TIMEOUT": f"{TIMEOUT:g}"}
    result = subprocess.run([sys.executable, "-c", _PROBE, AR_URL, str(LIVES_ON)], capture_output=True, text=True,
                            timeout=60, env=env, stdin=subprocess.DEVNULL, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout), result.stderr.splitlines()


@pytest.mark.parametrize(("fault", "says"), [("endless", "larger than 1024 KiB"), ("oversized", "larger than 1024 KiB"),
                                             ("trickle", "timed out")])
def test_an_endless_answer_leaves_memory_bounded_and_no_grant_running(
    google: Identities, fault: str, says: str
) -> None:
    found, stderr = _lookup_in_a_long_lived_process(google, fault)
    assert found["answer"] is None
    [line] = stderr
    assert line.startswith("keyrings.gar: ")
    assert says in line
    growth = found["growth_kib"]
    assert isinstance(growth, int)
    assert growth < GROWTH_LIMIT_KIB
    assert found["grants_running"] == []
    assert google.google.grants == []


@pytest.mark.parametrize("fault", ["endless", "trickle"])
def test_the_client_hangs_up_on_an_endless_answer_by_the_deadline(google: Identities, fault: str) -> None:
    _lookup_in_a_long_lived_process(google, fault)
    [stream] = google.google.streams
    assert stream.ended is not None, "the client was still reading when the process exited"
    assert stream.ended - stream.started < TIMEOUT + 1.0
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
