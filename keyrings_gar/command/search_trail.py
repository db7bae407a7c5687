"""Where a lookup looks for credentials, step by step, with what it found at each: for `doctor`.

The steps are the backend's order: a pre-minted token, then `sources.find_token_source`'s order
(the json key secret, the configuration entry's choice, GOOGLE_APPLICATION_CREDENTIALS, gcloud's
ADC file, gcloud's login, the metadata server).
The step the search stops at is marked `used` (whether or not what it found works); later steps
are not reached. No value of a
variable is shown that could be a secret pasted in the wrong place: a path is shown only when
something exists there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from ..adcfile import ADC_VAR, gcloud_adc_path
from ..config import JSON_KEY_BASE64_VAR, Settings
from ..config_entries import USE_GCLOUD, RepositoryEntry
from ..errors import ConfigError
from ..gcloud import find_gcloud_account, gcloud_config_dir
from ..provided import ACCESS_TOKEN_FILE_VAR, TOKEN_VARIABLES, find_provided_token
from ..redact import key_material, shown_path
from ..sources import metadata_host

NOT_REACHED = "not reached"


class Step(NamedTuple):
    """One place searched: what it is, what was found there, and whether it supplies the credential."""

    place: str
    result: str
    used: bool = False


def search_trail(settings: Settings, entry: RepositoryEntry, environ: Mapping[str, str] = os.environ,
                 metadata_result: str = "would be asked") -> list[Step]:
    """Every step of the search in order; `metadata_result` is what the metadata probe answered."""
    steps: list[Step] = []
    stopped = False
    for place, result, used in _places(settings, entry, environ, metadata_result):
        steps.append(Step(place, NOT_REACHED) if stopped else Step(place, result, used))
        stopped = stopped or used
    return steps


def _places(settings: Settings, entry: RepositoryEntry, environ: Mapping[str, str],
            metadata_result: str) -> list[tuple[str, str, bool]]:
    secret_set = settings.json_key_secret is not None
    places = [_provided_token(environ),
              (JSON_KEY_BASE64_VAR, "set: tokens are minted from its key" if secret_set else "not set", secret_set)]
    choice = _entry_choice(entry)
    if choice is not None:
        places.append((f"config entry [{entry.name}]", choice, True))
    places.append(_explicit_adc(environ))
    try:
        adc = gcloud_adc_path(environ)
    except ConfigError as exc:  # CLOUDSDK_CONFIG holds a credential: gcloud's files are not looked at
        places.append(("gcloud's ADC file", str(exc), True))
    else:
        # As the lookup takes it: anything there but a folder (a FIFO is then refused, not skipped).
        present = adc.exists() and not adc.is_dir()
        places.append((f"gcloud's ADC file {shown_path(adc)}", "found" if present else "not found", present))
        places.append(_gcloud_login(environ))
    host = metadata_host(environ)
    places.append((f"metadata server {host}", metadata_result, not metadata_result.startswith("no answer")))
    return places


def _provided_token(environ: Mapping[str, str]) -> tuple[str, str, bool]:
    try:
        provided = find_provided_token(environ)
    except ConfigError:
        return "pre-minted token", f"{ACCESS_TOKEN_FILE_VAR} set but empty", True
    if provided is None:
        return "pre-minted token", f"not set ({', '.join(TOKEN_VARIABLES)})", False
    # The later variables that are set too are named (never their values): they are not used.
    later = TOKEN_VARIABLES[TOKEN_VARIABLES.index(provided.variable) + 1:]
    shadowed = [name for name in later if environ.get(name, "").strip()]
    also = f" ({', '.join(shadowed)} also set, not used)" if shadowed else ""
    return "pre-minted token", f"{provided.origin}: used as it is{also}", True


def _entry_choice(entry: RepositoryEntry) -> str | None:
    if entry.has_secret:
        return "its _json_key_base64 secret"
    if entry.key_file is not None:
        return f"key_file {shown_path(entry.key_file)}"
    if entry.token == USE_GCLOUD:
        return "token = gcloud"
    return None


def _explicit_adc(environ: Mapping[str, str]) -> tuple[str, str, bool]:
    value = environ.get(ADC_VAR)
    if not value:
        return ADC_VAR, "not set", False
    if key_material(value) is not None:
        return ADC_VAR, "set, but not to a path: its value looks like a credential itself (not shown)", True
    path = Path(value)  # as google-auth reads it: no `~` expansion (see adcfile.adc_var_path)
    # The value is shown only when it names something that exists: a secret pasted into the
    # variable names nothing (or is too long for a path name), and is then never echoed.
    try:
        if path.is_dir():
            return ADC_VAR, f"set to {shown_path(path)}, a directory: not a key file", True
        if path.exists():
            return ADC_VAR, f"set to the file {shown_path(path)}", True
    except OSError:
        pass
    return ADC_VAR, "set, but names no file (nothing exists at that path)", True


def _gcloud_login(environ: Mapping[str, str]) -> tuple[str, str, bool]:
    try:
        account = find_gcloud_account(environ)
    except ConfigError as exc:  # one of gcloud's files is a FIFO or a device
        return "gcloud's login", str(exc), True
    if account is not None:
        return "gcloud's login", f"{account.identity} ({account.executable})", True
    import shutil

    if shutil.which("gcloud", path=environ.get("PATH")) is None:
        return "gcloud's login", "no gcloud command on PATH", False
    folder = shown_path(gcloud_config_dir(environ))
    return "gcloud's login", f"gcloud is not logged in (no account in {folder})", False
