"""The user's configuration file: finding, reading and checking it (its entries: config_entries.py).

An INI file, like keyring's own `keyringrc.cfg` beside it (configparser: no dependency). Each
section is a host or repository prefix; the most specific one that matches a lookup wins whole
(entries are not merged). Parsed once per change of the file (stat), and only for services that
are ours: the backend imports this module after the host has matched.

    [us-central1-python.pkg.dev/acme-prod]
    impersonate = deployer@acme-prod.iam.gserviceaccount.com

    [us-central1-python.pkg.dev/acme-prod/legacy-repo]
    json_key_base64_file = ~/secrets/legacy-repo.key
    username = _json_key_base64
"""

from __future__ import annotations

import configparser
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

from keyring.util import platform_

from .config_entries import KEYS, USE_ADC, USE_GCLOUD, USERNAMES, Config, RepositoryEntry
from .errors import ConfigError
from .hosts import RepositoryTarget, normal_host
from .redact import refuse_pasted, shown_path, shown_text
from .safefile import expanded, file_problem, read_named_text

CONFIG_VAR = "KEYRINGS_GAR_CONFIG"
CONFIG_FILE_NAME = "keyrings-gar.cfg"
# A file of a few entries is well under a KiB; a bound that no hand-written file reaches.
MAX_CONFIG_BYTES = 256 * 1024
_FILE_FIX = f"point {CONFIG_VAR} at the configuration file itself"

# Patterns as strings, compiled (and cached by `re`) only when a file is parsed: start-up time.
# A section is `host[:port]`, optionally followed by `/project` and `/repository`.
_SECTION = r"[a-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~-]+){0,2}"
_EMAIL = r"[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+"
_ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


# What keyring's config_root() depends on, per platform (macOS uses the Linux convention); the
# path is remembered per their values because building it (Path.home(), joins) is a third of a
# warm lookup otherwise.
_WINDOWS_PATH_INPUTS = (CONFIG_VAR, "LOCALAPPDATA", "ProgramData")
_POSIX_PATH_INPUTS = (CONFIG_VAR, "XDG_CONFIG_HOME", "HOME")
_paths: dict[tuple[str | None, ...], Path] = {}


def config_path(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> Path:
    """`KEYRINGS_GAR_CONFIG`, else `keyrings-gar.cfg` in keyring's configuration folder."""
    names = _WINDOWS_PATH_INPUTS if platform == "win32" else _POSIX_PATH_INPUTS
    inputs = (platform, *(environ.get(name) for name in names))
    path = _paths.get(inputs)
    if path is None:
        override = environ.get(CONFIG_VAR, "").strip()
        if override:
            refuse_pasted(CONFIG_VAR, override, f"point it at a {CONFIG_FILE_NAME} file, or unset it")
            path = expanded(Path(override))
        else:
            # keyring's own function, so the file sits beside keyringrc.cfg on every platform.
            path = Path(platform_.config_root()) / CONFIG_FILE_NAME
        _paths[inputs] = path
    return path


_parsed: dict[Path, tuple[tuple[int, int, int, int], Config]] = {}


def load_config(path: Path) -> Config:
    """The file at `path`, parsed; re-read only when the file changes (warm lookups are cheap)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return Config(path, exists=False, entries=(), problems=())
    except OSError as exc:
        return _unreadable(path, exc)
    stamp = (info.st_mtime_ns, info.st_ctime_ns, info.st_size, info.st_ino)
    cached = _parsed.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    config = _parse(path)
    _parsed[path] = (stamp, config)
    return config


def entry_for(target: RepositoryTarget, environ: Mapping[str, str] = os.environ) -> RepositoryEntry:
    """The entry a lookup for `target` uses; ConfigError when the file has any problem, since a
    broken or misspelt entry could otherwise hand the lookup to a different identity."""
    config = load_config(config_path(environ))
    if config.problems:
        more = len(config.problems) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''}: run `keyrings-gar doctor`)" if more else ""
        raise ConfigError(config.problems[0] + suffix)
    return config.entry_for(target)


def _parse(path: Path) -> Config:
    shown = shown_path(path)
    parser = configparser.ConfigParser(interpolation=None, default_section="\0no default section")
    # Keys are matched exactly: a misspelt key must be an error, not a new option.
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(read_named_text(path, MAX_CONFIG_BYTES))
    except OSError as exc:
        return _unreadable(path, exc)
    except configparser.Error as exc:
        return Config(path, exists=True, entries=(), problems=(_syntax_problem(path, exc),))
    entries: list[RepositoryEntry] = []
    problems: list[str] = []
    names: set[str] = set()
    for section in parser.sections():
        name = _normalise_section(section)
        if name is None:
            problems.append(f"{shown} [{shown_text(section, 'an entry')}]: not a host or repository prefix; write "
                            "[<location>-python.pkg.dev], [.../<project>] or [.../<project>/<repository>]")
            continue
        if name in names:
            problems.append(f"{shown} [{shown_text(section, 'an entry')}]: the same prefix as another entry; "
                            "merge them")
            continue
        names.add(name)
        entry, entry_problems = _entry(path, name, dict(parser.items(section)))
        entries.append(entry)
        problems.extend(entry_problems)
    return Config(path, exists=True, entries=tuple(entries), problems=tuple(problems))


def _unreadable(path: Path, exc: OSError) -> Config:
    return Config(path, exists=True, entries=(), problems=(f"{shown_path(path)} {file_problem(exc, _FILE_FIX)}",))


def _syntax_problem(path: Path, exc: configparser.Error) -> str:
    """Where the file is malformed, by line number: never the line itself (it may hold a secret)."""
    shown = shown_path(path)
    # A pasted secret reads as a key (base64 ends in `=`) or a section: named only when it is safe to.
    if isinstance(exc, configparser.DuplicateOptionError):
        return (f"{shown} [{shown_text(str(exc.section), 'an entry')}] {shown_text(exc.option, 'a key')}: set twice in "
                "the entry; keep one")
    if isinstance(exc, configparser.DuplicateSectionError):
        return f"{shown} [{shown_text(str(exc.section), 'an entry')}]: the entry appears twice; merge them"
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"{shown} line {exc.lineno}: a key before the first [entry]; start with [<host or repository>]"
    if isinstance(exc, configparser.ParsingError):
        lines = ", ".join(str(line) for line, _text in exc.errors[:5])
        return f"{shown} line {lines}: not `key = value`; see the example in docs/configuration.md"
    return f"{shown}: not an INI file ({type(exc).__name__}); see the example in docs/configuration.md"


def _normalise_section(section: str) -> str | None:
    """`https://Host/project/repo/simple/` or `host/project/` -> `host/project[/repo]`."""
    text = re.sub("^https://", "", section.strip(), flags=re.IGNORECASE)
    host, _, rest = text.rstrip("/").removesuffix("/simple").partition("/")
    text = normal_host(host) + (f"/{rest}" if rest else "")
    if not re.fullmatch(_SECTION, text) or ("." not in host and ":" not in host):
        return None
    return text


def _entry(path: Path, name: str, values: dict[str, str]) -> tuple[RepositoryEntry, list[str]]:
    """One section's values, checked; every problem names the file, the entry and the key."""
    entry = RepositoryEntry(name, file=path)
    problems: list[str] = []
    fields: dict[str, object] = {}
    for key, raw in values.items():
        value = raw.strip()
        if key not in KEYS:
            # A long "key" is likely a pasted secret (base64 ending in `=` reads as `key =`).
            shown = key if len(key) <= 40 else f"a {len(key)}-character key"
            problems.append(f"{entry.where(shown)}: unknown key; the keys are {', '.join(KEYS)}")
            continue
        # Never used as a path: the name is too long or holds a NUL, and opening it fails obscurely.
        try:
            if key in _PASTED_KEY_FIX:
                refuse_pasted(entry.where(key), value, {"": _PASTED_KEY_FIX[key], **_PASTED_TOKEN_FIX},
                              "a variable name" if key.endswith("_env") else "a path")
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        problem = _value_problem(key, value)
        if problem is not None:
            problems.append(f"{entry.where(key)}: {problem}")
        # A `*_file` path is taken relative to the configuration file, as an absolute path.
        fields[key] = (path.parent / expanded(Path(value))).absolute() if key.endswith("_file") else value
    entry = entry._replace(**fields)  # type: ignore[arg-type]
    conflicts = [
        ("json_key_base64_file", entry.json_key_base64_env and entry.json_key_base64_file,
         "json_key_base64_env is set too; keep one"),
        ("key_file", entry.key_file and entry.has_secret,
         "a json_key_base64_* secret is set too, and tokens are minted from it; keep one"),
        ("token", entry.token == USE_GCLOUD and (entry.key_file or entry.has_secret),
         "gcloud, but the entry also names a key; keep one"),
    ]
    problems.extend(f"{entry.where(key)}: {text}" for key, conflict, text in conflicts if conflict)
    return entry, problems


# The keys that name where a secret is, and what to do when the secret itself was pasted there.
_PASTED_KEY_FIX = {
    "key_file": "save the key in a file and name the file here",
    "json_key_base64_env": "put the secret in a variable and name the variable here",
    "json_key_base64_file": "save the secret in a file and name the file here, or put it in a variable named "
                            "by json_key_base64_env",
}


# A token is no key: it expires within the hour, and it is not this file's business to hold one.
_PASTED_TOKEN_FIX = dict.fromkeys(("a JWT", "an access token"), (
    "name a credentials file here (a service-account key or an ADC file); a pre-minted access token goes in "
    "KEYRINGS_GAR_ACCESS_TOKEN or KEYRINGS_GAR_ACCESS_TOKEN_FILE instead"))


def _value_problem(key: str, value: str) -> str | None:
    """What is wrong with one value, or None. Values are never echoed: one may be a secret."""
    if not value:
        return f"empty value; expected {KEYS[key]}"
    if key == "token" and value not in (USE_ADC, USE_GCLOUD):
        return f"not {USE_ADC} or {USE_GCLOUD}"
    if key == "impersonate" and not re.fullmatch(_EMAIL, value):
        return "not a service-account email (NAME@PROJECT.iam.gserviceaccount.com)"
    if key == "json_key_base64_env" and (not re.fullmatch(_ENV_NAME, value) or len(value) > 100):
        return "not an environment variable name; name the variable that holds the secret, never the secret itself"
    if key == "username" and value not in USERNAMES:
        return f"not one of {', '.join(USERNAMES)}"
    return None
