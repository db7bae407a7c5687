"""What users hand `configure` as they have it: a URL pasted with spaces and its line ending, a CRLF
pip.conf, and settings of pip's own that win over the file configure writes (PIP_* variables, the
older ~/.pip/pip.conf), checked against what real pip then reads (`pip config list`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from keyrings_gar.command import cli
from tests.conftest import AR_URL

USER_INDEX = AR_URL.replace("https://", "https://oauth2accesstoken@", 1)
PIP_VARIABLES = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_KEYRING_PROVIDER", "PIP_CONFIG_FILE")


@pytest.fixture
def home(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in PIP_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return isolated


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command in this process; configure names the repository's kind, virtual (as the default
    was), instead of asking the Artifact Registry API (test_configure_mode.py does that)."""
    if args[0] == "configure" and not {"--virtual", "--standard"} & set(args):
        args = (*args, "--virtual")
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _pip_config_list(home: Path) -> dict[str, str]:
    """What real pip reads from every file and variable, merged: `pip config list`."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k in PIP_VARIABLES}
    environment.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    result = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                            env=environment, timeout=60, check=True)
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


@pytest.mark.parametrize("pasted", [f"  {AR_URL}  ", f"{AR_URL}\n", f"\t{AR_URL} \r\n"])
def test_a_url_pasted_with_spaces_and_its_line_ending_is_trimmed(home: Path, capsys: pytest.CaptureFixture[str],
                                                                  pasted: str) -> None:
    """Before: `... is not an Artifact Registry Python repository: it contains whitespace`, about a
    URL shown without the whitespace."""
    code, out, err = _run(capsys, "configure", "pip", pasted)
    assert (code, err) == (0, "")
    assert f"index-url = {USER_INDEX}\n" in (home / ".config" / "pip" / "pip.conf").read_text()
    code, out, err = _run(capsys, "settings", "pip", pasted)
    assert (code, err) == (0, "")
    assert f"index-url = {USER_INDEX}\n" in out
    parser = cli.build_parser()
    assert parser.parse_args(["doctor", pasted]).url == AR_URL
    assert parser.parse_args(["token", pasted]).url == AR_URL


def test_whitespace_inside_a_url_is_still_refused(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "configure", "pip", AR_URL.replace("acme-prod/", "acme-prod/ "))
    assert code == 1
    assert "whitespace" in err


def test_a_crlf_pip_conf_stays_crlf(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = home / ".config" / "pip" / "pip.conf"
    conf.parent.mkdir(parents=True)
    conf.write_bytes(b"[global]\r\ntimeout = 60\r\n")
    assert _run(capsys, "configure", "pip", AR_URL)[0] == 0
    written = conf.read_bytes()
    assert written.startswith(b"[global]\r\ntimeout = 60\r\n")
    assert b"\n" not in written.replace(b"\r\n", b"")


def test_pip_index_url_in_the_environment_is_named_and_its_secret_is_not(
        home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "https://ci-user:s3cr3t-Passw0rd@mirror.example/simple/")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "https://extra.example/simple/")
    code, out, err = _run(capsys, "configure", "pip", AR_URL)
    assert (code, err) == (0, "")
    assert ("warning: PIP_INDEX_URL=https://***@mirror.example/simple/ in the environment overrides the index-url "
            "written here") in out
    assert "warning: PIP_EXTRA_INDEX_URL=https://extra.example/simple/ in the environment adds indexes" in out
    assert "s3cr3t" not in out
    assert "ci-user" not in out


def test_what_the_environment_warning_says_is_what_pip_does(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example/simple/")
    assert _run(capsys, "configure", "pip", AR_URL)[0] == 0
    seen = _pip_config_list(home)
    assert seen["global.index-url"] == f"'{USER_INDEX}'"
    assert seen[":env:.index-url"] == "'https://mirror.example/simple/'"  # read after the files: it wins


def test_a_legacy_user_file_is_named_with_what_pip_will_do(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    legacy = home / ".pip" / "pip.conf"
    legacy.parent.mkdir()
    legacy.write_text("[global]\nindex-url = https://old.example/simple/\n"
                      "extra-index-url = https://extra.example/simple/\n")
    code, out, err = _run(capsys, "configure", "pip", AR_URL)
    assert (code, err) == (0, "")
    written = home / ".config" / "pip" / "pip.conf"
    assert (f"warning: {legacy} sets [global] index-url = https://old.example/simple/: pip reads that older user "
            f"file first and {written} after it, whose value wins, so that index-url is no longer used") in out
    assert (f"warning: {legacy} sets [global] extra-index-url = https://extra.example/simple/: pip still reads it "
            "and adds those indexes beside the repository") in out
    # Real pip: the new file's index-url replaced the legacy one; the legacy extra-index-url stays.
    seen = _pip_config_list(home)
    assert seen["global.index-url"] == f"'{USER_INDEX}'"
    assert seen["global.extra-index-url"] == "'https://extra.example/simple/'"


def test_without_overrides_configure_pip_warns_of_none(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _run(capsys, "configure", "pip", AR_URL)
    assert "PIP_" not in out
    assert ".pip" not in out
