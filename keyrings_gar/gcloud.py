"""The gcloud CLI as a token source: its active account, found cheaply, and tokens from it.

Finding the account reads two small files (gcloud's `active_config` and that configuration's
properties), so a warm lookup can be answered from the cache without starting gcloud. Minting
runs `gcloud config config-helper`, which applies gcloud's own account, configuration and
impersonation settings, under the lookup's timeout, with its output bounded.

gcloud is found only in absolute PATH entries: the current directory (searched first by
`shutil.which` on Windows, and meant by an empty or relative PATH entry on POSIX) is where a
cloned repository can plant a `gcloud` that would then run on every lookup.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import ntpath
import os
import posixpath
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, NamedTuple

from .errors import ConfigError, TokenError
from .redact import key_material, not_a_path, scrubbed, shown_path, shown_text
from .safefile import CredentialAsPathError, file_problem, read_named_file

if TYPE_CHECKING:
    import subprocess

# gcloud refreshes its own token when less than this is left, so that ours has the life our
# cache requires (cache.MIN_REMAINING_SECONDS, 15 min) for a good while after we receive it.
MIN_EXPIRY = "25m"
_NOT_LOGGED_IN_FIX = "run `gcloud auth login` (or `gcloud auth application-default login`)"
# A config-helper answer is about 1 KiB; anything far beyond that is not a token answer, and a
# gcloud that floods its output must not fill our memory.
OUTPUT_LIMIT = 64 * 1024
# gcloud's `active_config` holds a configuration's name; its properties files a few lines each.
_MAX_ACTIVE_CONFIG_BYTES = 4096
_MAX_PROPERTIES_BYTES = 64 * 1024
# Windows' own default when PATHEXT is unset.
_DEFAULT_PATHEXT = ".COM;.EXE;.BAT;.CMD"


class GcloudAccount(NamedTuple):
    """The gcloud installation and account a token would come from."""

    executable: str
    config_dir: Path
    configuration: str
    account: str
    impersonate: str | None
    """gcloud's `auth/impersonate_service_account`, when set: the tokens are that account's."""

    @property
    def identity(self) -> str:
        """Safe to print: both may come from CLOUDSDK_* variables, where a secret can be pasted."""
        account = shown_text(self.account, "gcloud's account")
        if self.impersonate:
            target = shown_text(self.impersonate, "gcloud's impersonated account")
            return f"{target} (impersonated by {account} via gcloud)"
        return account


def gcloud_config_dir(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> Path:
    """gcloud's configuration folder, as gcloud and google-auth find it (the ADC file is there)."""
    override = environ.get("CLOUDSDK_CONFIG")
    if override:
        if key_material(override) is not None:
            raise ConfigError(not_a_path("CLOUDSDK_CONFIG", "point it at gcloud's configuration folder, or unset it",
                                         value=override))
        try:
            return Path(override).expanduser()
        except RuntimeError:  # a ~user that does not exist
            raise ConfigError("CLOUDSDK_CONFIG starts with a ~user that is not a user here; write the full "
                              "path") from None
    if platform == "win32":
        appdata = environ.get("APPDATA")
        if appdata:
            return Path(appdata) / "gcloud"
        # Without APPDATA both gcloud and google-auth fall back to the system drive's root.
        return Path(environ.get("SystemDrive", "C:") + "\\") / "gcloud"
    return Path.home() / ".config" / "gcloud"


def find_gcloud_account(environ: Mapping[str, str] = os.environ) -> GcloudAccount | None:
    """gcloud's active account if gcloud is on PATH and logged in (an account is set), else None.

    Without an account gcloud cannot print a token, so it is not even started. On Google Cloud
    VMs gcloud's account comes from the metadata server rather than its files, and so this is
    None there: the metadata server answers for itself.
    """
    config_dir = gcloud_config_dir(environ)
    configuration = environ.get("CLOUDSDK_ACTIVE_CONFIG_NAME", "").strip() or _read_text(
        config_dir / "active_config", _MAX_ACTIVE_CONFIG_BYTES) or "default"
    properties = configparser.ConfigParser(interpolation=None)
    with contextlib.suppress(configparser.Error):
        properties.read_string(_read_text(config_dir / "configurations" / f"config_{configuration}",
                                          _MAX_PROPERTIES_BYTES))
    account = environ.get("CLOUDSDK_CORE_ACCOUNT", "").strip() or properties.get("core", "account", fallback="")
    if not account.strip():
        return None
    executable = find_executable("gcloud", environ)
    if executable is None:
        return None
    impersonate = (environ.get("CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT", "").strip()
                   or properties.get("auth", "impersonate_service_account", fallback="").strip())
    return GcloudAccount(executable, config_dir, configuration, account.strip(), impersonate or None)


def find_executable(name: str, environ: Mapping[str, str] = os.environ,
                    platform: str = sys.platform) -> str | None:
    """`name` from the first absolute PATH entry that has it, never from the current directory."""
    windows = platform == "win32"
    return next((candidate for candidate in executable_candidates(name, environ, platform)
                 if (Path(candidate).is_file() if windows else _is_executable_file(candidate))), None)


def executable_candidates(name: str, environ: Mapping[str, str], platform: str) -> Iterator[str]:
    """The paths `find_executable` tries, in order: each absolute PATH entry, and on Windows each
    PATHEXT extension there (gcloud is `gcloud.cmd`). Empty and relative entries are skipped, since
    both mean the current directory; so is the current directory Windows itself searches first."""
    windows = platform == "win32"
    path = environ.get("PATH") if "PATH" in environ or not windows else environ.get("Path")
    entries = (os.defpath if path is None else path).split(";" if windows else ":")
    names = [name]
    if windows:
        extensions = environ.get("PATHEXT") or _DEFAULT_PATHEXT
        names = [name + ext.strip() for ext in extensions.split(";") if ext.strip().startswith(".")]
    for raw_entry in entries:
        # Windows tolerates quotes and spaces around an entry; on POSIX they are part of the name.
        entry = raw_entry.strip().strip('"') if windows else raw_entry
        if not _is_absolute(entry, windows):
            continue
        for each in names:
            yield ntpath.join(entry, each) if windows else posixpath.join(entry, each)


def _is_absolute(entry: str, windows: bool) -> bool:
    if not windows:
        return entry.startswith("/")
    # A drive and a root (C:\x) or a UNC share (\\server\share\x); not `\x` or `C:x`, which
    # depend on the current drive or its current directory.
    drive, rest = ntpath.splitdrive(entry)
    return bool(drive) and (rest[:1] in ("\\", "/") or drive[:2] in ("\\\\", "//"))


def _is_executable_file(path: str) -> bool:
    return Path(path).is_file() and os.access(path, os.X_OK)


def _read_text(path: Path, limit: int) -> str:
    """One of gcloud's small files, or "" when it is not there (gcloud's defaults apply); anything
    else there that cannot be gcloud's file (a FIFO, a device, a huge file) is a ConfigError."""
    try:
        return read_named_file(path, limit).decode("utf-8").strip()
    except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError, CredentialAsPathError):
        # A configuration named by a pasted token is never opened: as if it did not exist.
        return ""
    except OSError as exc:
        raise ConfigError(f"gcloud's {shown_text(path.name, 'file')} in {shown_path(path.parent)} "
                          f"{file_problem(exc)}; remove it, or run `gcloud config configurations activate "
                          "default` to write it again") from None


def gcloud_access_token(account: GcloudAccount, timeout: float) -> tuple[str, float]:
    """A token and its expiry (seconds since the epoch) from `gcloud config config-helper`."""
    # Imported here for start-up time: only a cold lookup through gcloud starts a process.
    import subprocess

    command = [account.executable, "config", "config-helper", "--format=json", f"--min-expiry={MIN_EXPIRY}",
               "--quiet", "--verbosity=error"]
    try:
        # A session of its own, so that a timeout ends gcloud's children too, not only gcloud.
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        raise TokenError(f"cannot run {account.executable} ({exc.strerror}); reinstall the gcloud CLI") from None
    try:
        stdout, stderr = _collect(process, timeout)
    except subprocess.TimeoutExpired:
        raise TokenError(f"gcloud ({account.identity}): `gcloud config config-helper` timed out after "
                         f"{timeout:g} s (KEYRINGS_GAR_TIMEOUT raises the limit)") from None
    except _OutputTooLargeError:
        raise TokenError(f"gcloud ({account.identity}): `gcloud config config-helper` printed more than "
                         f"{OUTPUT_LIMIT // 1024} KiB, which is no token answer; check which gcloud is "
                         f"{account.executable} and reinstall the gcloud CLI") from None
    if process.returncode != 0:
        raise TokenError(f"gcloud ({account.identity}) could not print a token: "
                         f"{_error_line(stderr)}; {_NOT_LOGGED_IN_FIX}")
    return _parse_config_helper(stdout, account)


class _OutputTooLargeError(Exception):
    pass


def _collect(process: subprocess.Popen[bytes], timeout: float) -> tuple[bytes, bytes]:
    """stdout and stderr of `process` once it has exited, each at most OUTPUT_LIMIT bytes.

    `communicate()` would keep everything a runaway gcloud prints; here the process is killed as
    soon as either pipe says too much, or at the deadline. Raises TimeoutExpired or
    _OutputTooLargeError.
    """
    import subprocess

    deadline = time.monotonic() + timeout
    output = _BoundedOutput([pipe for pipe in (process.stdout, process.stderr) if pipe is not None])
    problem = output.wait(deadline)
    if problem is None:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            problem = "timeout"
    if problem is not None:
        _kill(process)
    output.close()
    if problem == "timeout":
        raise subprocess.TimeoutExpired(process.args, timeout)
    if problem == "too much":
        raise _OutputTooLargeError
    return output.text(0), output.text(1)


class _BoundedOutput:
    """Each pipe drained by its own thread (pipes cannot be polled on Windows), up to the limit."""

    def __init__(self, pipes: list[IO[bytes]]) -> None:
        self._pipes = pipes
        self._buffers = [bytearray() for _ in pipes]
        self._finished: list[bool] = []
        self._changed = threading.Event()
        self._readers = [threading.Thread(target=self._drain, args=(pipe.fileno(), buffer), daemon=True,
                                          name="keyrings-gar-gcloud-output")
                         for pipe, buffer in zip(pipes, self._buffers)]
        for reader in self._readers:
            reader.start()

    def _drain(self, fd: int, buffer: bytearray) -> None:
        # os.read returns what is there now, so the bound is checked as the output arrives.
        with contextlib.suppress(OSError):
            while len(buffer) <= OUTPUT_LIMIT and (chunk := os.read(fd, OUTPUT_LIMIT + 1 - len(buffer))):
                buffer += chunk
        self._finished.append(True)
        self._changed.set()

    def wait(self, deadline: float) -> str | None:
        """None once every pipe is at its end; "too much" or "timeout" as soon as either is true."""
        while True:
            self._changed.clear()
            if any(len(buffer) > OUTPUT_LIMIT for buffer in self._buffers):
                return "too much"
            if len(self._finished) == len(self._readers):
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout"
            self._changed.wait(remaining)

    def text(self, index: int) -> bytes:
        return bytes(self._buffers[index])

    def close(self) -> None:
        for reader, pipe in zip(self._readers, self._pipes):
            reader.join(1)
            if not reader.is_alive():  # never close a descriptor a thread may still read: it could be reused
                pipe.close()


def _kill(process: subprocess.Popen[bytes]) -> None:
    import signal

    with contextlib.suppress(OSError):
        if sys.platform == "win32":
            process.kill()
        else:
            os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        process.wait(timeout=5)


def _error_line(stderr: bytes) -> str:
    """gcloud's `ERROR: ...` line, shortened; never the rest of its output. gcloud quotes its
    settings' values (a CLOUDSDK_* file override holding a pasted key): long runs are scrubbed."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    text = (errors or lines or ["no message"])[0]
    return scrubbed(text)


def _parse_config_helper(stdout: bytes, account: GcloudAccount) -> tuple[str, float]:
    """`credential.access_token` and `credential.token_expiry` ('%Y-%m-%dT%H:%M:%SZ', UTC)."""
    try:
        output = json.loads(stdout.decode("utf-8"))
        credential = output["credential"]
        token = credential["access_token"]
        expiry_text = credential.get("token_expiry")
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        token = None
    if not isinstance(token, str) or not token:
        raise TokenError(f"gcloud ({account.identity}): `gcloud config config-helper` printed no access token; "
                         f"update the gcloud CLI or {_NOT_LOGGED_IN_FIX}")
    return token, _expiry(expiry_text)


def _expiry(text: object) -> float:
    """gcloud leaves the expiry empty for some credentials: then treat the token as short-lived."""
    if isinstance(text, str):
        with contextlib.suppress(ValueError):
            return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
    return time.time() + 300
