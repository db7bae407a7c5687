"""The credential search order, written once: each place a lookup looks, in order, and what is there.

A pre-minted token (provided.py), the json key variable, the configuration entry's choice (its
secret, key file or gcloud), then Application Default Credentials' order: GOOGLE_APPLICATION_CREDENTIALS,
gcloud's ADC file, gcloud's login, the metadata server. A token is minted from the place the
search stops at, `_json_key_base64` answers with that place's key, and `doctor` lists every step.
Looking is cheap (the environment, a few small files), so that a warm lookup is answered from the
cache. Every result is safe to print: a path is shown only when something exists there.

gcloud's login comes before the metadata server: it is only used when gcloud has an account set in
its own files, which on a laptop is the login the user made on purpose, and which on Google Cloud
VMs is normally absent (gcloud reads the VM's account from the metadata server itself). A laptop
therefore never waits for a metadata probe when gcloud can answer.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Callable, NamedTuple, NoReturn

from .adcfile import ADC_VAR, MAX_CREDENTIALS_FILE, adc_var_path, gcloud_adc_path, path_exists, read_adc_file
from .config import JSON_KEY_BASE64_VAR, NO_CREDENTIALS_FIX, Settings
from .config_entries import NO_ENTRY, USE_GCLOUD, RepositoryEntry
from .errors import ConfigError, GarError, NoCredentialsError
from .gcloud import find_gcloud_account, gcloud_config_dir
from .programs import find_executable
from .provided import ACCESS_TOKEN_FILE_VAR, TOKEN_VARIABLES, find_provided_token
from .redact import key_material, shown_path
from .safefile import file_problem, read_named_text
from .secret import JsonKeySecret, decode_json_key_secret
from .sources import (
    TokenSource,
    gcloud_source,
    impersonated_source,
    metadata_host,
    metadata_server_source,
    source_from_adc_file,
    source_from_secret,
)

log = logging.getLogger("keyrings_gar")

NO_GCE_CHECK_VAR = "NO_GCE_CHECK"
PRE_MINTED = "pre-minted token"
FileSource = Callable[[Path, str], TokenSource]
"""Tokens from the credentials file at a path, named as the string says (sources.source_from_adc_file)."""


class Step(NamedTuple):
    """A place searched with nothing to mint from: what it is, and what was found there."""

    place: str
    result: str
    used: bool = False
    """Only for a pre-minted token, which is used as it is (see provided.py)."""


class Stop(NamedTuple):
    """The place the search stops at (whether or not what it found works)."""

    place: str
    result: str
    look: Callable[[], TokenSource]
    """What was found there to mint from; raises what is wrong with it."""
    key: Callable[[], JsonKeySecret | None] | None = None
    """The `_json_key_base64` secret the place holds (None: it holds none a user gave us)."""
    file: Callable[[], tuple[Path, str]] | None = None
    """The credentials file the place names, and how to name it; raises what is wrong with it."""
    used: bool = True


def search(settings: Settings, entry: RepositoryEntry = NO_ENTRY, environ: Mapping[str, str] = os.environ,
           pre_minted: bool = True) -> Iterator[Step | Stop]:
    """Every place in order, each looked at only when the one before did not stop the search."""
    if pre_minted:
        yield _pre_minted(environ)
    secret = settings.json_key_secret
    if secret is None:
        yield Step(JSON_KEY_BASE64_VAR, "not set")
    else:
        yield Stop(JSON_KEY_BASE64_VAR, "set: tokens are minted from its key",
                   lambda: source_from_secret(decode_json_key_secret(secret)), lambda: decode_json_key_secret(secret))
    from_file: FileSource = functools.partial(source_from_adc_file, environ=environ, cache_dir=settings.cache_dir)
    yield from _entry_choice(entry, environ, from_file)
    yield _explicit_adc(entry, environ, from_file)
    yield from _gcloud(environ, from_file)
    yield Stop(f"metadata server {metadata_host(environ)}", "would be asked", lambda: _metadata_server(environ))


def search_stop(settings: Settings, entry: RepositoryEntry = NO_ENTRY) -> Stop:
    """Where the search stops, a pre-minted token aside: the metadata server at the latest."""
    return next(step for step in search(settings, entry, pre_minted=False) if isinstance(step, Stop))


def find_token_source(settings: Settings, entry: RepositoryEntry = NO_ENTRY) -> TokenSource:
    """The identity a token lookup mints with (a pre-minted token aside), impersonated as the entry says."""
    place = search_stop(settings, entry)
    source = place.look()
    log.debug("token source %s for %s, because the search stops at %s: %s", source.kind, source.identity,
              place.place, place.result)
    if entry.impersonate:
        return impersonated_source(source, entry.impersonate, entry.where("impersonate"))
    return source


def find_json_key(settings: Settings, entry: RepositoryEntry = NO_ENTRY) -> JsonKeySecret | None:
    """The secret for `_json_key_base64`: the key a user gave at the place the search stops at (a
    pre-minted token aside). ConfigError for a key from another universe: Artifact Registry here
    could not use it."""
    place = search_stop(settings, entry)
    secret = place.key() if place.key is not None else None
    if secret is not None:
        from .mint.trust import check_universe  # mint/ stays out of a token lookup (test_startup, start-up time)

        check_universe(secret.info().get("universe_domain"), f"the _json_key_base64 secret ({secret.fingerprint})")
    return secret


def _raising(exc: GarError) -> Callable[[], NoReturn]:
    def take() -> NoReturn:
        raise exc
    return take


def _pre_minted(environ: Mapping[str, str]) -> Step | Stop:
    try:
        provided = find_provided_token(environ)
    except ConfigError as exc:
        return Stop(PRE_MINTED, f"{ACCESS_TOKEN_FILE_VAR} set but empty", _raising(exc))
    if provided is None:
        return Step(PRE_MINTED, f"not set ({', '.join(TOKEN_VARIABLES)})")
    # The later variables that are set too are named (never their values): they are not used.
    later = TOKEN_VARIABLES[TOKEN_VARIABLES.index(provided.variable) + 1:]
    shadowed = [name for name in later if environ.get(name, "").strip()]
    also = f" ({', '.join(shadowed)} also set, not used)" if shadowed else ""
    return Step(PRE_MINTED, f"{provided.origin}: used as it is{also}", used=True)


def _entry_choice(entry: RepositoryEntry, environ: Mapping[str, str], from_file: FileSource) -> Iterator[Stop]:
    """The entry's own choice of identity, if it makes one: it comes before Application Default Credentials'."""
    place = f"config entry [{entry.name}]"
    key_file = entry.key_file
    if entry.has_secret:
        secret = functools.partial(_entry_secret, entry, environ)
        yield Stop(place, "its _json_key_base64 secret",
                   lambda: source_from_secret(secret(), origin=_secret_origin(entry)), secret)
    elif key_file is not None:
        def found() -> tuple[Path, str]:
            if not path_exists(key_file):
                raise ConfigError(f"{entry.where('key_file')}: {shown_path(key_file)} does not exist; fix the path "
                                  "or download the key")
            return key_file, f"{shown_path(key_file)} (from {entry.where('key_file')})"
        yield _file_stop(place, f"key_file {shown_path(key_file)}", found, from_file)
    elif entry.token == USE_GCLOUD:
        def gcloud() -> TokenSource:
            account = find_gcloud_account(environ)
            if account is None:
                raise NoCredentialsError(f"{entry.where('token')}: gcloud, but no gcloud CLI on PATH is logged in; "
                                         "run `gcloud auth login`")
            return gcloud_source(account)
        yield Stop(place, "token = gcloud", gcloud)


def _secret_origin(entry: RepositoryEntry) -> str:
    """How a message names the entry's secret: its variable or file, and the entry that names it."""
    # The variable's name was checked to be a name when the file was parsed (configfile).
    if entry.json_key_base64_env:
        return f"{entry.json_key_base64_env} (from {entry.where('json_key_base64_env')})"
    return f"{shown_path(entry.json_key_base64_file or '')} (from {entry.where('json_key_base64_file')})"


def _entry_secret(entry: RepositoryEntry, environ: Mapping[str, str]) -> JsonKeySecret:
    if entry.json_key_base64_env:
        value = environ.get(entry.json_key_base64_env, "")
        if not value.strip():
            raise ConfigError(f"{entry.where('json_key_base64_env')}: {entry.json_key_base64_env} is not set; "
                              "set it to the _json_key_base64 secret")
        return decode_json_key_secret(value, origin=_secret_origin(entry))
    path = entry.json_key_base64_file or ""
    try:
        text = read_named_text(path, MAX_CREDENTIALS_FILE)
    except OSError as exc:
        raise ConfigError(f"{entry.where('json_key_base64_file')}: {shown_path(path)} {file_problem(exc)}; name the "
                          "file that holds the secret") from None
    return decode_json_key_secret(text, origin=_secret_origin(entry))


def _file_stop(place: str, result: str, found: Callable[[], tuple[Path, str]], from_file: FileSource,
               holds_key: bool = True) -> Stop:
    """A place naming a credentials file (and how to name it): tokens are minted from it, and when
    `holds_key`, a service-account key there is the `_json_key_base64` secret."""
    def key() -> JsonKeySecret | None:
        path, origin = found()
        content, info = read_adc_file(path, origin)
        if info.get("type") != "service_account":  # user ADC, federation: no key to answer with
            return None
        return JsonKeySecret(content, origin)
    return Stop(place, result, lambda: from_file(*found()), key if holds_key else None, found)


def _explicit_adc(entry: RepositoryEntry, environ: Mapping[str, str], from_file: FileSource) -> Step | Stop:
    value = environ.get(ADC_VAR)
    if not value:
        return Step(ADC_VAR, "not set")
    # An entry that impersonates chose another identity than this file's key.
    return _file_stop(ADC_VAR, _adc_var_result(value), lambda: adc_var_path(value), from_file, not entry.impersonate)


def _adc_var_result(value: str) -> str:
    """What GOOGLE_APPLICATION_CREDENTIALS names. The value is shown only when it names something
    that exists: a secret pasted into the variable names nothing (or is too long for a path name)."""
    if key_material(value) is not None:
        return "set, but not to a path: its value looks like a credential itself (not shown)"
    path = Path(value)  # as google-auth reads it: no `~` expansion (see adcfile.adc_var_path)
    if not path_exists(path):
        return "set, but names no file (nothing exists at that path)"
    if path.is_dir():  # it exists: is_dir() cannot raise
        return f"set to {shown_path(path)}, a directory: not a key file"
    return f"set to the file {shown_path(path)}"


def _gcloud(environ: Mapping[str, str], from_file: FileSource) -> Iterator[Step | Stop]:
    """gcloud's ADC file, then gcloud's login."""
    try:
        adc = gcloud_adc_path(environ)
    except ConfigError as exc:  # CLOUDSDK_CONFIG holds a credential: gcloud's files are not looked at
        yield Stop("gcloud's ADC file", str(exc), _raising(exc))
        return
    place = f"gcloud's ADC file {shown_path(adc)}"
    # Anything there but a folder is read (and a FIFO or a device refused with one line), not skipped.
    if path_exists(adc) and not adc.is_dir():
        yield _file_stop(place, "found", lambda: (adc, f"gcloud ADC file {shown_path(adc)}"), from_file, False)
    else:
        yield Step(place, "not found")
    try:
        account = find_gcloud_account(environ)
    except ConfigError as exc:  # one of gcloud's files is a FIFO or a device
        yield Stop("gcloud's login", str(exc), _raising(exc))
        return
    if account is not None:
        yield Stop("gcloud's login", f"{account.identity} ({account.executable})", lambda: gcloud_source(account))
    elif find_executable("gcloud", environ) is None:  # as find_gcloud_account looks: never the current folder
        yield Step("gcloud's login", "no gcloud command on PATH")
    else:
        folder = shown_path(gcloud_config_dir(environ))
        yield Step("gcloud's login", f"gcloud is not logged in (no account in {folder})")


def _metadata_server(environ: Mapping[str, str]) -> TokenSource:
    if environ.get(NO_GCE_CHECK_VAR) == "true":
        # As google-auth: the metadata server is not even asked.
        raise NoCredentialsError(f"no Google credentials found, and {NO_GCE_CHECK_VAR}=true rules out the metadata "
                                 f"server: {NO_CREDENTIALS_FIX}")
    return metadata_server_source(environ)
