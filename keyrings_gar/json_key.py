"""Which `_json_key_base64` secret a lookup answers with, and the secret or key file an entry names."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .adcfile import ADC_VAR, MAX_CREDENTIALS_FILE, adc_var_path, path_exists, read_adc_file
from .config import Settings
from .config_entries import NO_ENTRY, USE_GCLOUD, RepositoryEntry
from .errors import ConfigError
from .redact import shown_path
from .safefile import file_problem, read_named_file
from .secret import JsonKeySecret, decode_json_key_secret, parse_service_account_key


def secret_origin(entry: RepositoryEntry) -> str:
    """How a message names the entry's secret: its variable or file, and the entry that names it."""
    # The variable's name was checked to be a name when the file was parsed (configfile).
    if entry.json_key_base64_env:
        return f"{entry.json_key_base64_env} (from {entry.where('json_key_base64_env')})"
    return f"{shown_path(entry.json_key_base64_file or '')} (from {entry.where('json_key_base64_file')})"


def entry_secret(entry: RepositoryEntry, environ: Mapping[str, str]) -> JsonKeySecret | None:
    """The `_json_key_base64` secret the entry names (a variable or a file), if it names one."""
    if entry.json_key_base64_env:
        value = environ.get(entry.json_key_base64_env, "")
        if not value.strip():
            raise ConfigError(f"{entry.where('json_key_base64_env')}: {entry.json_key_base64_env} is not set; "
                              "set it to the _json_key_base64 secret")
        return decode_json_key_secret(value, origin=secret_origin(entry))
    if entry.json_key_base64_file is not None:
        try:
            text = read_named_file(entry.json_key_base64_file, MAX_CREDENTIALS_FILE).decode("utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{entry.where('json_key_base64_file')}: {shown_path(entry.json_key_base64_file)} "
                              "does not exist; fix the path") from None
        except (OSError, UnicodeDecodeError) as exc:
            problem = file_problem(exc) if isinstance(exc, OSError) else "is not UTF-8 text"
            raise ConfigError(f"{entry.where('json_key_base64_file')}: {shown_path(entry.json_key_base64_file)} "
                              f"{problem}; name the file that holds the secret") from None
        return decode_json_key_secret(text, origin=secret_origin(entry))
    return None


def entry_key_file(entry: RepositoryEntry, path: Path) -> tuple[Path, str]:
    """The entry's key file and how to name it; ConfigError when it is not there."""
    if not path_exists(path):
        raise ConfigError(f"{entry.where('key_file')}: {shown_path(path)} does not exist; fix the path or "
                          "download the key")
    return path, f"{shown_path(path)} (from {entry.where('key_file')})"


def find_json_key(settings: Settings, environ: Mapping[str, str] = os.environ,
                  entry: RepositoryEntry = NO_ENTRY) -> JsonKeySecret | None:
    """The secret for `_json_key_base64`: the variable, else the entry's secret or key file, else a
    service-account ADC key file (unless the entry chose another identity for this repository).
    ConfigError for a key from another universe: Artifact Registry here could not use it."""
    secret = _json_key(settings, environ, entry)
    if secret is not None:
        from .mint.trust import check_universe  # only on this path: start-up time

        check_universe(secret.info().get("universe_domain"), f"the _json_key_base64 secret ({secret.fingerprint})")
    return secret


def _json_key(settings: Settings, environ: Mapping[str, str], entry: RepositoryEntry) -> JsonKeySecret | None:
    if settings.json_key_secret is not None:
        return decode_json_key_secret(settings.json_key_secret)
    secret = entry_secret(entry, environ)
    if secret is not None:
        return secret
    if entry.key_file is not None:
        return _service_account_key(*entry_key_file(entry, entry.key_file))
    if entry.impersonate or entry.token == USE_GCLOUD:
        # The ADC key is another identity than the one this entry chose.
        return None
    explicit = environ.get(ADC_VAR)
    if not explicit:
        return None
    return _service_account_key(*adc_var_path(explicit))


def _service_account_key(path: Path, origin: str) -> JsonKeySecret | None:
    """The key file at `path` as a secret, if it is a service-account key (user ADC is not)."""
    content, info = read_adc_file(path, origin)
    if info.get("type") != "service_account":
        return None
    return JsonKeySecret(content, parse_service_account_key(content, origin))
