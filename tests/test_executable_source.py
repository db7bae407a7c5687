"""The executable credential source (google-auth's pluggable auth) run as google-auth runs it, and
bounded as gcloud is: real helper programs, through the real backend and the loopback STS.

Each helper is a small Python script run by this interpreter; what it saw (its environment, its
process id) it writes to a file beside it, so a test checks what the program really received.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keyrings_gar.programs import ProgramTimeoutError, run_bounded
from tests.loopback.federation import ID_TOKEN_TYPE, WORKLOAD_AUDIENCE, executable_config, impersonation_url
from tests.test_federation import (
    GITLAB_SUBJECT,
    PROVIDER_AUDIENCE,
    TARGET,
    Federation,
    _lookup,
    _one_line,
    federation,  # noqa: F401 - a pytest fixture
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="helpers run with start_new_session and a #! line")

SLACK_SECONDS = 2.0


def _response(token: str) -> dict[str, Any]:
    return {"version": 1, "success": True, "token_type": ID_TOKEN_TYPE, "id_token": token,
            "expiration_time": 4102444800}


@pytest.fixture
def allowed(federation: Federation) -> Federation:  # noqa: F811 - the fixture
    federation.google.add_provider(federation.gitlab.provider(token_type=ID_TOKEN_TYPE))
    federation.monkeypatch.setenv("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", "1")
    return federation


@pytest.fixture
def left_behind(tmp_path: Path) -> Iterator[Path]:
    """Where a helper's escaped child writes its pid; killed after the test (it would sleep on)."""
    pid_file = tmp_path / "escaped-child.pid"
    yield pid_file
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def _escaping_child(pid_file: Path) -> str:
    """Python lines that start a child in a session of its own, holding our stdout for 60 s:
    what `setsid some-daemon &` in a shell helper does; no kill of the helper's group reaches it."""
    return ("import subprocess, sys\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], "
            "start_new_session=True)\n"
            f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n")


def _helper(where: Path, name: str, body: str) -> Path:
    script = where / name
    script.write_text(f"#!{sys.executable}\n{body}")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_a_child_left_holding_stdout_cannot_hold_the_lookup_past_timeout_millis(
    allowed: Federation, caplog: pytest.LogCaptureFixture, left_behind: Path
) -> None:
    """The helper hangs and its escaped child keeps stdout open: the lookup ends at timeout_millis
    (5 s, google-auth's least), not at the lookup's own deadline (12 s here)."""
    allowed.monkeypatch.setenv("KEYRINGS_GAR_TIMEOUT", "12")
    script = _helper(allowed.files, "hangs.py", _escaping_child(left_behind) + "import time\ntime.sleep(60)\n")
    allowed.use(executable_config(str(script), timeout_millis=5000))
    started = time.monotonic()
    line = _one_line(allowed, caplog)
    elapsed = time.monotonic() - started
    assert left_behind.exists(), "the helper never started its child"
    assert elapsed < 5 + SLACK_SECONDS, f"the lookup took {elapsed:.1f} s"
    assert "did not finish within 5.0 s" in line
    assert allowed.google.calls == {}


def test_a_helper_that_answers_and_exits_is_not_held_by_the_child_it_leaves(
    allowed: Federation, caplog: pytest.LogCaptureFixture, left_behind: Path
) -> None:
    token = allowed.gitlab.mint(GITLAB_SUBJECT, PROVIDER_AUDIENCE)
    script = _helper(allowed.files, "answers.py",
                     _escaping_child(left_behind) + f"print({json.dumps(_response(token))!r})\n")
    allowed.use(executable_config(str(script)))
    started = time.monotonic()
    access_token, lines = _lookup(allowed, caplog)
    assert time.monotonic() - started < SLACK_SECONDS
    assert lines == []
    assert access_token is not None
    assert allowed.google.calls == {"sts-token": 1}


def test_the_runner_returns_at_its_deadline_whoever_holds_the_output(tmp_path: Path, left_behind: Path) -> None:
    script = _helper(tmp_path, "hangs.py", _escaping_child(left_behind) + "import time\ntime.sleep(60)\n")
    started = time.monotonic()
    with pytest.raises(ProgramTimeoutError):
        run_bounded([str(script)], 1.0, 1024)
    assert time.monotonic() - started < 1 + SLACK_SECONDS


def test_a_bare_name_never_runs_from_the_working_directory(
    allowed: Federation, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """An empty PATH entry means the working directory, where a cloned repository can plant a
    program; a bare command name is looked up in absolute PATH entries only, as gcloud is."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    marker = tmp_path / "planted-ran"
    _helper(checkout, "id-token-helper", f"open({str(marker)!r}, 'w')\n")
    allowed.monkeypatch.chdir(checkout)
    allowed.monkeypatch.setenv("PATH", f":{os.environ['PATH']}")
    allowed.use(executable_config("id-token-helper --audience x"))
    line = _one_line(allowed, caplog)
    assert not marker.exists()
    assert "id-token-helper (credential_source.executable) is not in any absolute PATH entry" in line


def test_a_bare_name_in_an_absolute_path_entry_runs(allowed: Federation, caplog: pytest.LogCaptureFixture,
                                                    tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    token = allowed.gitlab.mint(GITLAB_SUBJECT, PROVIDER_AUDIENCE)
    _helper(tools, "id-token-helper", f"print({json.dumps(_response(token))!r})\n")
    allowed.monkeypatch.setenv("PATH", f":{tools}:{os.environ['PATH']}")
    allowed.use(executable_config("id-token-helper --audience x"))
    access_token, lines = _lookup(allowed, caplog)
    assert lines == []
    assert access_token is not None


def test_a_helper_that_writes_only_its_output_file_succeeds(
    allowed: Federation, caplog: pytest.LogCaptureFixture
) -> None:
    """As google-auth: with nothing on stdout, the response is read from output_file."""
    token = allowed.gitlab.mint(GITLAB_SUBJECT, PROVIDER_AUDIENCE)
    script = _helper(allowed.files, "writes-file.py",
                     "import json, os\n"
                     "with open(os.environ['GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE'], 'w') as out:\n"
                     f"    out.write({json.dumps(_response(token))!r})\n")
    config = executable_config(str(script))
    config["credential_source"]["executable"]["output_file"] = str(allowed.files / "response.json")
    allowed.use(config)
    access_token, lines = _lookup(allowed, caplog)
    assert lines == []
    assert access_token is not None
    assert allowed.google.calls == {"sts-token": 1}


@pytest.mark.parametrize("impersonated", [False, True])
def test_the_helper_gets_the_variables_google_auth_passes(
    allowed: Federation, caplog: pytest.LogCaptureFixture, impersonated: bool
) -> None:
    seen = allowed.files / "environ.json"
    script = _helper(allowed.files, "records.py",
                     "import json, os\n"
                     f"json.dump({{k: v for k, v in os.environ.items() if k.startswith('GOOGLE_EXTERNAL')}}, "
                     f"open({str(seen)!r}, 'w'))\n"
                     "raise SystemExit(1)\n")
    config = executable_config(str(script))
    config["credential_source"]["executable"]["output_file"] = str(allowed.files / "response.json")
    if impersonated:
        config["service_account_impersonation_url"] = impersonation_url(TARGET)
    allowed.use(config)
    _one_line(allowed, caplog)
    expected = {
        "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES": "1",
        "GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE": WORKLOAD_AUDIENCE,
        "GOOGLE_EXTERNAL_ACCOUNT_TOKEN_TYPE": ID_TOKEN_TYPE,
        "GOOGLE_EXTERNAL_ACCOUNT_ID": TARGET if impersonated else "",
        "GOOGLE_EXTERNAL_ACCOUNT_INTERACTIVE": "0",
        "GOOGLE_EXTERNAL_ACCOUNT_REVOKE": "0",
        "GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE": str(allowed.files / "response.json"),
    }
    if impersonated:
        expected["GOOGLE_EXTERNAL_ACCOUNT_IMPERSONATED_EMAIL"] = TARGET
    assert json.loads(seen.read_text()) == expected


@pytest.mark.parametrize("timeout_millis", [4999, 120001, 500, -1, "30000", True])
def test_timeout_millis_outside_google_auth_s_bounds_is_refused_before_anything_runs(
    allowed: Federation, caplog: pytest.LogCaptureFixture, timeout_millis: object
) -> None:
    marker = allowed.files / "ran"
    config = executable_config(f"{sys.executable} -c \"open('{marker}', 'w')\"")
    config["credential_source"]["executable"]["timeout_millis"] = timeout_millis
    allowed.use(config)
    with caplog.at_level(logging.DEBUG):
        line = _one_line(allowed, caplog)
    assert "timeout_millis" in line
    assert "5000 to 120000" in line
    assert not marker.exists()


@pytest.mark.parametrize("timeout_millis", [None, 0, 5000, 120000])
def test_timeout_millis_within_bounds_or_absent_runs(
    allowed: Federation, caplog: pytest.LogCaptureFixture, timeout_millis: int | None
) -> None:
    token = allowed.gitlab.mint(GITLAB_SUBJECT, PROVIDER_AUDIENCE)
    script = _helper(allowed.files, "answers.py", f"print({json.dumps(_response(token))!r})\n")
    config = executable_config(str(script))
    config["credential_source"]["executable"]["timeout_millis"] = timeout_millis
    allowed.use(config)
    access_token, lines = _lookup(allowed, caplog)
    assert lines == []
    assert access_token is not None


def test_a_helper_s_diagnostics_on_stderr_are_neither_read_nor_bounded(
    allowed: Federation, caplog: pytest.LogCaptureFixture
) -> None:
    token = allowed.gitlab.mint(GITLAB_SUBJECT, PROVIDER_AUDIENCE)
    script = _helper(allowed.files, "verbose.py",
                     "import sys\nsys.stderr.write('debug line\\n' * 100_000)\n"
                     f"print({json.dumps(_response(token))!r})\n")
    allowed.use(executable_config(str(script)))
    access_token, lines = _lookup(allowed, caplog)
    assert lines == []
    assert access_token is not None
