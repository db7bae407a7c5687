"""Every input a user names, planted with what must never hurt: a credential where a path belongs
(a CI job's ID token, an access token, the key's base64), and a FIFO, a device or a huge file where a
file belongs. One table per kind of input: a new input is covered by adding one row.

A credential is never echoed by a lookup (any log level), `doctor`, `doctor --json`, `cache show`,
`cache clear` or a file left behind, and no file or folder is named after it. A file that is not a
regular file of a sensible size is one clear line at once, in a lookup and in `doctor`; each runs
in a process with a timeout (a hang fails the test) and a memory limit (`/dev/zero` read whole
fails it too).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from keyrings_gar.backend import GarKeyring
from keyrings_gar.command import cli
from tests.conftest import AR_HOST, AR_URL, Identities, assert_no_secrets, console_script
from tests.loopback.federation import file_sourced_config

KEYRING = console_script("keyring")
KEYRINGS_GAR = console_script("keyrings-gar")
PROMPTLY = 30
MEMORY_LIMIT = 1 << 30  # /dev/zero read whole takes it all; a lookup needs a fraction


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _ci_id_token() -> str:
    """What `$GCP_ID_TOKEN` / `$ACTIONS_ID_TOKEN` holds: a signed OIDC JWT."""
    header = _b64url(json.dumps({"alg": "RS256", "kid": secrets.token_hex(20), "typ": "JWT"}).encode())
    claims = _b64url(json.dumps({
        "iss": "https://gitlab.example.com", "sub": "project_path:acme/app:ref_type:branch",
        "aud": "https://iam.googleapis.com/projects/1/locations/global", "jti": secrets.token_hex(16)}).encode())
    return f"{header}.{claims}.{_b64url(secrets.token_bytes(256))}"


@dataclass
class Planting:
    """Where a row plants its value: the test's environment, and the files that hold the value on
    purpose (the user's own configuration), which the scan for leftovers skips."""

    monkeypatch: pytest.MonkeyPatch
    google: Identities
    folder: Path
    own_files: list[Path] = field(default_factory=list)

    def setenv(self, name: str, value: str, *, with_key: bool = False) -> None:
        """`name=value`; `with_key`: a working identity too, for an input that is not where the
        credential comes from."""
        self.monkeypatch.setenv(name, value)
        if with_key:
            self.monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(self.google.sa_key_file))

    def config(self, key: str, value: str, username: str = "oauth2accesstoken") -> None:
        path = self.folder / "keyrings-gar.cfg"
        path.write_text(f"[{AR_HOST}]\n{key} = {value}\nusername = {username}\n")
        self.own_files.append(path)
        self.setenv("KEYRINGS_GAR_CONFIG", str(path))

    def federation_file(self, subject_token_file: str) -> None:
        path = self.folder / "wif.json"
        path.write_text(json.dumps(file_sourced_config(subject_token_file)))
        self.own_files.append(path)
        self.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))

    @property
    def gcloud_folder(self) -> Path:
        return Path(os.environ["CLOUDSDK_CONFIG"])


# --- a credential where a path (or a name) belongs ----------------------------------------

PATH_INPUTS: dict[str, Callable[[Planting, str], object]] = {
    "GOOGLE_APPLICATION_CREDENTIALS": lambda p, v: p.setenv("GOOGLE_APPLICATION_CREDENTIALS", v),
    "CLOUDSDK_CONFIG": lambda p, v: p.setenv("CLOUDSDK_CONFIG", v),
    "CLOUDSDK_ACTIVE_CONFIG_NAME": lambda p, v: p.setenv("CLOUDSDK_ACTIVE_CONFIG_NAME", v),
    "KEYRINGS_GAR_CONFIG": lambda p, v: p.setenv("KEYRINGS_GAR_CONFIG", v),
    "KEYRINGS_GAR_CACHE_DIR": lambda p, v: p.setenv("KEYRINGS_GAR_CACHE_DIR", v, with_key=True),
    "KEYRINGS_GAR_ACCESS_TOKEN_FILE": lambda p, v: p.setenv("KEYRINGS_GAR_ACCESS_TOKEN_FILE", v),
    "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE": lambda p, v: p.setenv("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", v),
    "config key_file": lambda p, v: p.config("key_file", v),
    "config json_key_base64_file": lambda p, v: p.config("json_key_base64_file", v, "_json_key_base64"),
    "config json_key_base64_env": lambda p, v: p.config("json_key_base64_env", v, "_json_key_base64"),
    "external_account credential_source.file": lambda p, v: p.federation_file(v),
}

CREDENTIALS: dict[str, Callable[[Identities], str]] = {
    "a CI job's ID token (JWT)": lambda _google: _ci_id_token(),
    "a ya29. access token": lambda _google: "ya29.c.b0AXv0zTP" + secrets.token_urlsafe(120),
    "the key's base64": lambda google: google.sa_key.base64,
}


def _pieces(secret: str) -> list[str]:
    """The secret and every 16-character window of it (half-overlapping): a piece is a leak too."""
    return [secret, *(secret[i:i + 16] for i in range(0, max(1, len(secret) - 16), 8))]


def _leftovers(root: Path, skipped: list[Path], pieces: list[str]) -> list[str]:
    """Files and folders under `root` named after a piece, or (regular files) holding one."""
    found = []
    for path in root.rglob("*"):
        if any(piece in path.name for piece in pieces):
            found.append(f"{path.relative_to(root)} is named after it")
        elif path.is_file() and not path.is_symlink() and path not in skipped:
            text = path.read_bytes()[:1 << 20].decode("utf-8", "replace")
            found.extend(f"{path.relative_to(root)} holds a piece" for piece in pieces if piece in text)
    return sorted(set(found))


@pytest.fixture
def planting(google: Identities, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Planting:
    work = tmp_path / "work"  # the current directory: a relative "path" would land here
    work.mkdir()
    monkeypatch.chdir(work)
    # Nothing may leave this machine: a mint that got past the input would stop at this closed port.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    folder = tmp_path / "user-files"
    folder.mkdir()
    return Planting(monkeypatch, google, folder)


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize("where", PATH_INPUTS)
def test_a_credential_where_a_path_belongs_is_never_echoed_nor_used_as_a_path(
    planting: Planting, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], where: str,
    credential: str
) -> None:
    google, tmp_path = planting.google, planting.folder.parent
    secret = CREDENTIALS[credential](google)
    PATH_INPUTS[where](planting, secret)
    caplog.set_level(logging.DEBUG, logger="keyrings_gar")
    backend = GarKeyring()
    answers = [backend.get_password(AR_URL, "oauth2accesstoken"), backend.get_password(AR_URL, "_json_key_base64"),
               backend.get_credential(AR_URL, None), backend.get_password(AR_URL, secret)]  # a pasted username too
    assert answers[-1] is None
    outputs = [caplog.text]
    for command in (["doctor", AR_URL], ["doctor", "--json", AR_URL], ["doctor"], ["cache", "show"],
                    ["cache", "show", "--json"], ["cache", "clear"]):
        cli.main(command)
        out, err = capsys.readouterr()
        assert "unexpected" not in out + err, (command, err)
        outputs += [out, err]
    pieces = _pieces(secret)
    text = "\n".join(outputs)
    echoed = [piece for piece in pieces if piece in text]
    if echoed:  # pytest.fail, not assert: assert's introspection would print the pieces themselves
        pytest.fail(f"{len(echoed)} piece(s) of {credential} in {where} were echoed", pytrace=False)
    assert_no_secrets(google, *outputs)
    skipped = [*planting.own_files, google.sa_key_file]
    left = _leftovers(tmp_path, skipped, pieces)
    if left:
        pytest.fail(f"{credential} in {where} left: {left[:3]}", pytrace=False)


def test_the_table_covers_every_setting_that_takes_a_path() -> None:
    """The configuration file's path-taking keys, and our variables that name files or folders."""
    from keyrings_gar import config, config_entries, configfile, provided

    keys = {f"config {key}" for key in config_entries.KEYS if key.endswith(("_file", "_env"))}
    variables = {config.CACHE_DIR_VAR, configfile.CONFIG_VAR, provided.ACCESS_TOKEN_FILE_VAR,
                 provided.GCLOUD_ACCESS_TOKEN_FILE_VAR}
    assert keys | variables <= set(PATH_INPUTS)


# --- a FIFO, a device or a huge file where a file belongs ---------------------------------

def _fifo(at: Path) -> Path:
    at.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(at, 0o600)
    return at


def _dev_zero(at: Path) -> Path:
    at.parent.mkdir(parents=True, exist_ok=True)
    at.symlink_to("/dev/zero")  # Docker and Kubernetes mount files through links: they are followed
    return at


def _huge(at: Path) -> Path:
    at.parent.mkdir(parents=True, exist_ok=True)
    with at.open("wb") as file:
        file.truncate(16 << 20)  # sparse: 16 MiB of NULs without using the disk
    return at


HOSTILE_FILES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "a FIFO": (_fifo, "not a regular file"),
    "/dev/zero": (_dev_zero, "not a regular file"),
    "a 16 MiB file": (_huge, "larger than"),
}

FILE_INPUTS: dict[str, Callable[[Planting, Callable[[Path], Path]], object]] = {
    "GOOGLE_APPLICATION_CREDENTIALS": lambda p, make: p.setenv("GOOGLE_APPLICATION_CREDENTIALS",
                                                               str(make(p.folder / "adc.json"))),
    "gcloud's ADC file": lambda p, make: make(p.gcloud_folder / "application_default_credentials.json"),
    "gcloud's active_config": lambda p, make: make(p.gcloud_folder / "active_config"),
    "gcloud's configurations/config_default": lambda p, make: make(
        p.gcloud_folder / "configurations" / "config_default"),
    "KEYRINGS_GAR_CONFIG": lambda p, make: p.setenv("KEYRINGS_GAR_CONFIG", str(make(p.folder / "k.cfg"))),
    "config key_file": lambda p, make: p.config("key_file", str(make(p.folder / "key.json"))),
    "config json_key_base64_file": lambda p, make: p.config("json_key_base64_file", str(make(p.folder / "s.b64"))),
    "KEYRINGS_GAR_ACCESS_TOKEN_FILE": lambda p, make: p.setenv("KEYRINGS_GAR_ACCESS_TOKEN_FILE",
                                                               str(make(p.folder / "token"))),
    "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE": lambda p, make: p.setenv("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE",
                                                                str(make(p.folder / "token"))),
    "external_account credential_source.file": lambda p, make: p.federation_file(str(make(p.folder / "id-token"))),
}


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _promptly(*command: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(list(command), env=dict(os.environ), capture_output=True, text=True, timeout=PROMPTLY,
                              stdin=subprocess.DEVNULL, check=False,
                              preexec_fn=_limit_memory if sys.platform != "win32" else None)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{' '.join(command[1:3])}` hung", pytrace=False)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and /dev/zero are POSIX")
@pytest.mark.parametrize("hostile", HOSTILE_FILES)
@pytest.mark.parametrize("where", FILE_INPUTS)
def test_a_file_that_is_no_regular_file_of_a_sensible_size_is_one_line_at_once(
    planting: Planting, where: str, hostile: str
) -> None:
    make, said = HOSTILE_FILES[hostile]
    if (where, hostile) == ("external_account credential_source.file", "/dev/zero"):
        said = "is under /dev"  # mint/trust.py refuses a subject-token file that resolves under /dev before reading
    FILE_INPUTS[where](planting, make)
    lookup = _promptly(KEYRING, "get", AR_URL, "oauth2accesstoken")
    assert (lookup.returncode, lookup.stdout) == (1, "")
    [line] = lookup.stderr.splitlines()
    assert line.startswith("keyrings.gar: ")
    assert said in line, line
    assert "unexpected" not in line
    doctor = _promptly(KEYRINGS_GAR, "doctor", "--json", AR_URL)
    assert doctor.returncode == 1, doctor.stderr
    problems = json.loads(doctor.stdout)["problems"]
    assert any(said in problem for problem in problems), problems
