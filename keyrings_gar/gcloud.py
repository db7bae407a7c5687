"""The gcloud CLI as a token source: its active account, found cheaply, and tokens from it.

Finding the account reads two small files (gcloud's `active_config` and that configuration's
properties), so a warm lookup can be answered from the cache without starting gcloud. Minting
runs `gcloud config config-helper`, which applies gcloud's own account, configuration and
impersonation settings (found and run as programs.py says: under a deadline, output bounded).
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from .access_token import ASSUMED_LIFETIME, parse_expiry
from .errors import ConfigError, TokenError
from .programs import OutputTooLargeError, ProgramTimeoutError, find_executable, run_bounded
from .redact import refuse_pasted, scrubbed, shown_path, shown_text
from .safefile import CredentialAsPathError, NotTextError, file_problem, read_named_text

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


class GcloudAccount(NamedTuple):
    """The gcloud installation and account a token would come from."""

    executable: str
    config_dir: Path
    configuration: str
    account: str
    impersonate: str | None
    """gcloud's `auth/impersonate_service_account`, when set: the tokens are that account's."""
    credential_file_override: str | None = None
    """gcloud's `auth/credential_file_override`, when set: the tokens are for the credentials in
    that file (a service-account key or a federation config), whatever the account says."""
    universe_domain: str = ""
    """gcloud's `core/universe_domain`, when set: gcloud mints for that universe's endpoints."""

    @property
    def identity(self) -> str:
        """Safe to print: both may come from CLOUDSDK_* variables, where a secret can be pasted."""
        account = shown_text(self.account, "gcloud's account")
        if self.credential_file_override:
            shown = shown_text(self.credential_file_override, "gcloud's credential file override")
            return f"the credentials in {shown} (gcloud's credential file override, account {account})"
        if self.impersonate:
            target = shown_text(self.impersonate, "gcloud's impersonated account")
            return f"{target} (impersonated by {account} via gcloud)"
        return account


def gcloud_config_dir(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> Path:
    """gcloud's configuration folder, as gcloud and google-auth find it (the ADC file is there).
    A `~` in CLOUDSDK_CONFIG is a folder of that name, as both read it: the same folder, so the same login."""
    override = environ.get("CLOUDSDK_CONFIG")
    if override:
        refuse_pasted("CLOUDSDK_CONFIG", override, "point it at gcloud's configuration folder, or unset it")
        return Path(override)
    if platform == "win32":
        # Without APPDATA both gcloud and google-auth fall back to the system drive's root.
        return Path(environ.get("APPDATA") or environ.get("SystemDrive", "C:") + "\\") / "gcloud"
    return Path.home() / ".config" / "gcloud"


def find_gcloud_account(environ: Mapping[str, str] = os.environ) -> GcloudAccount | None:
    """gcloud's active account if gcloud is on PATH and logged in (an account is set), else None:
    without one gcloud cannot print a token, so it is not even started. On Google Cloud VMs gcloud's
    account comes from the metadata server, not its files: None there, and that server answers itself.
    """
    config_dir = gcloud_config_dir(environ)
    configuration = environ.get("CLOUDSDK_ACTIVE_CONFIG_NAME", "").strip() or _read_text(
        config_dir / "active_config", _MAX_ACTIVE_CONFIG_BYTES) or "default"
    properties = _read_properties(config_dir / "configurations" / f"config_{configuration}")

    def setting(section: str, name: str) -> str:
        """gcloud's property, its CLOUDSDK_SECTION_NAME variable first, as gcloud reads it."""
        variable = f"CLOUDSDK_{section}_{name}".upper()
        return environ.get(variable, "").strip() or properties.get(section, name, fallback="").strip()

    account = setting("core", "account")
    executable = find_executable("gcloud", environ) if account else None
    if executable is None:
        return None
    return GcloudAccount(executable, config_dir, configuration, account,
                         setting("auth", "impersonate_service_account") or None,
                         setting("auth", "credential_file_override") or None, setting("core", "universe_domain"))


def _read_properties(path: Path) -> configparser.ConfigParser:
    """A configuration's properties. A repeated section or key is a ConfigError naming the file, as
    gcloud's strict configparser refuses it too (and ours stops there, leaving values unjoined lists).
    Other syntax errors are read past: configparser keeps every line it can, and gcloud judges them."""
    properties = configparser.ConfigParser(interpolation=None)
    try:
        properties.read_string(_read_text(path, _MAX_PROPERTIES_BYTES))
    except (configparser.DuplicateSectionError, configparser.DuplicateOptionError) as exc:
        what = (f"sets {shown_text(exc.option, 'a property')} twice in [{shown_text(str(exc.section), 'a section')}]"
                if isinstance(exc, configparser.DuplicateOptionError)
                else f"has the section [{shown_text(str(exc.section), 'a section')}] twice")
        raise ConfigError(f"{_shown(path)} {what} (line {exc.lineno}), which gcloud itself refuses to read; "
                          "delete the repeated line") from None
    except configparser.Error:
        pass
    return properties


def _read_text(path: Path, limit: int) -> str:
    """One of gcloud's small files, or "" when it is not there (gcloud's defaults apply); anything
    else there that cannot be gcloud's file (a FIFO, a device, a huge file) is a ConfigError."""
    try:
        return read_named_text(path, limit).strip()
    except (FileNotFoundError, NotADirectoryError, NotTextError, CredentialAsPathError):
        # A configuration named by a pasted token is never opened: as if it did not exist.
        return ""
    except OSError as exc:
        fix = "remove it, or run `gcloud config configurations activate default` to write it again"
        raise ConfigError(f"{_shown(path)} {file_problem(exc, fix)}") from None


def _shown(path: Path) -> str:
    return f"gcloud's {shown_text(path.name, 'file')} in {shown_path(path.parent)}"


def gcloud_access_token(account: GcloudAccount, timeout: float) -> tuple[str, float]:
    """A token and its expiry (seconds since the epoch) from `gcloud config config-helper`."""
    command = [account.executable, "config", "config-helper", "--format=json", f"--min-expiry={MIN_EXPIRY}",
               "--quiet", "--verbosity=error"]
    try:
        stdout, stderr, returncode = run_bounded(command, timeout, OUTPUT_LIMIT)
    except OSError as exc:
        raise TokenError(f"cannot run {account.executable} ({exc.strerror}); reinstall the gcloud CLI") from None
    except ProgramTimeoutError:
        raise TokenError(f"gcloud ({account.identity}): `gcloud config config-helper` timed out after "
                         f"{timeout:g} s (KEYRINGS_GAR_TIMEOUT raises the limit)") from None
    except OutputTooLargeError:
        raise TokenError(f"gcloud ({account.identity}) printed over {OUTPUT_LIMIT // 1024} KiB, no token answer; "
                         f"check {account.executable} and reinstall the gcloud CLI") from None
    if returncode != 0:
        raise TokenError(f"gcloud ({account.identity}) could not print a token: "
                         f"{_error_line(stderr)}; {_NOT_LOGGED_IN_FIX}")
    return _parse_config_helper(stdout, account)


def _error_line(stderr: bytes) -> str:
    """gcloud's `ERROR: ...` line, shortened; never the rest of its output. gcloud quotes its
    settings' values (a CLOUDSDK_* file override holding a pasted key): long runs are scrubbed."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    return scrubbed((errors or lines or ["no message"])[0])


def _parse_config_helper(stdout: bytes, account: GcloudAccount) -> tuple[str, float]:
    """`credential.access_token` and `credential.token_expiry` ('%Y-%m-%dT%H:%M:%SZ', UTC)."""
    try:
        credential = json.loads(stdout.decode("utf-8"))["credential"]
        token = credential["access_token"]
        expiry_text = credential.get("token_expiry")
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        token = None
    if not isinstance(token, str) or not token:
        raise TokenError(f"gcloud ({account.identity}) printed no access token; update the gcloud CLI or "
                         f"{_NOT_LOGGED_IN_FIX}")
    if isinstance(expiry_text, str):
        with contextlib.suppress(ValueError):
            return token, parse_expiry(expiry_text)
    # gcloud leaves the expiry empty for some credentials: then treat the token as short-lived.
    return token, time.time() + ASSUMED_LIFETIME
