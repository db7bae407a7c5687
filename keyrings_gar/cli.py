"""The `keyrings-gar` command: explain a lookup, print installer settings, print a token, manage
the token cache. A thin shell over the functions the backend itself uses.

Nothing here prints a token or a secret, except `token`, whose whole job is to print one.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from . import __version__
from .backend import JSON_KEY_BASE64_USERNAME, JSON_KEY_USERNAME, GarKeyring, access_token, default_username
from .cache import TokenCache
from .config import Settings, cache_dir, load_settings, trusted_hosts
from .configfile import NO_ENTRY, RepositoryEntry, config_path, entry_for, load_config
from .errors import GarError
from .hosts import RepositoryTarget, parse_service, refusal_reason
from .sources import GCLOUD, IMPERSONATED, METADATA_SERVER, TokenSource, find_json_key, find_token_source
from .tokens import AccessToken, mint_access_token

GOOGLE_PLUGIN_DISTRIBUTION = "keyrings.google-artifactregistry-auth"
GOOGLE_PLUGIN_MODULE = "keyrings.gauth"
GOOGLE_OAUTH_ENDPOINT = "https://oauth2.googleapis.com/token"
INSTALL_HINT = "pipx install keyring && pipx inject keyring keyrings.gar"

Report = dict[str, Any]


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(f"keyrings-gar: {text}\n")


# --- doctor -----------------------------------------------------------------------------


def doctor(url: str | None) -> Report:
    """Everything a lookup for `url` (or, without one, for the default identity) would do, with
    every problem found and its fix. `report["ok"]` is whether the lookup would succeed."""
    problems: list[str] = []
    notes: list[str] = []
    report: Report = {"ok": False, "versions": _versions(), "problems": problems, "notes": notes}
    report["keyring"] = _keyring_chain(problems, notes)
    report["config"] = _config_report(problems)
    target = None
    if url is not None:
        target = parse_service(url, trusted_hosts())
        reason = refusal_reason(url, trusted_hosts())
        report["url"] = {"service": _safe_url(url), "ours": target is not None, "reason": reason,
                         "repository": target.repository_path if target is not None else None}
        if reason is not None:
            problems.append(f"{_safe_url(url)} is not ours: {reason}")
    settings = _guarded(load_settings, problems)
    entry = NO_ENTRY
    if target is not None and not report["config"]["problems"]:
        entry = load_config(config_path()).entry_for(target)
        report["config"]["entry"] = entry.name or None
    if settings is not None and (url is None or target is not None) and not report["config"]["problems"]:
        report["credential"] = _credential_report(settings, entry, problems)
    report["ok"] = not problems
    return report


def _guarded(function: Callable[[], Any], problems: list[str]) -> Any:
    """`function()`, or None with its one-line error added to `problems`."""
    try:
        return function()
    except GarError as exc:
        problems.append(str(exc))
        return None


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    found: dict[str, str | None] = {"keyrings.gar": __version__, "python": sys.version.split()[0]}
    for name in ("keyring", "google-auth", GOOGLE_PLUGIN_DISTRIBUTION):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def _keyring_chain(problems: list[str], notes: list[str]) -> Report:
    """Which backend keyring uses, whether keyrings.gar is in it and where Google's plugin is."""
    import keyring
    from keyring.backends.chainer import ChainerBackend
    from keyring.util import platform_

    configured = (f"PYTHON_KEYRING_BACKEND={os.environ['PYTHON_KEYRING_BACKEND']}"
                  if os.environ.get("PYTHON_KEYRING_BACKEND")
                  else f"default-keyring in {Path(platform_.config_root()) / 'keyringrc.cfg'}")
    try:
        active = keyring.get_keyring()
    except Exception as exc:  # noqa: BLE001 - keyring's own start-up failing is the diagnosis itself
        problems.append(f"keyring itself cannot start ({type(exc).__name__}: {str(exc)[:120]}); fix or remove "
                        f"{configured}")
        return {"active": None, "chain": [], "keyrings_gar": {"loaded": False, "viable": False, "priority": None,
                                                              "problem": None},
                "google_plugin": {"installed": _distribution_installed(), "in_chain": False},
                "answers_first": None, "keyring_on_path": shutil.which("keyring"),
                "keyring_on_path_is_this_environment": False}
    chain = list(active.backends) if isinstance(active, ChainerBackend) else [active]
    names = [_backend_name(b) for b in chain]
    try:
        viable, gar_priority, why = True, float(GarKeyring.priority), None
    except Exception as exc:  # noqa: BLE001 - keyring's own viability test: priority raises when not viable
        viable, gar_priority, why = False, None, str(exc)
    gar_index = next((i for i, b in enumerate(chain) if isinstance(b, GarKeyring)), None)
    google_index = next((i for i, b in enumerate(chain) if type(b).__module__ == GOOGLE_PLUGIN_MODULE), None)
    if not viable:
        problems.append(f"keyrings.gar cannot run here ({why}); `pip install google-auth` in keyring's environment")
    elif gar_index is None:
        problems.append(f"keyring uses {_backend_name(active)} alone ({configured}), so it never asks "
                        "keyrings.gar; remove that setting to let keyring chain its backends")
    first = None
    if gar_index is not None or google_index is not None:
        candidates = [i for i in (gar_index, google_index) if i is not None]
        first = "keyrings.gar" if min(candidates) == gar_index else GOOGLE_PLUGIN_DISTRIBUTION
    if google_index is not None:
        notes.append(f"Google's {GOOGLE_PLUGIN_DISTRIBUTION} is installed too; {first} answers first for "
                     "Artifact Registry, and when keyrings.gar has no answer Google's plugin is asked and may raise: "
                     f"`pip uninstall {GOOGLE_PLUGIN_DISTRIBUTION}` if you do not need it")
    keyring_command = shutil.which("keyring")
    same = keyring_command is not None and _script_python(Path(keyring_command)) == Path(sys.executable)
    if keyring_command is None:
        notes.append(f"no `keyring` command on PATH: pip's subprocess provider and uv need one ({INSTALL_HINT})")
    elif not same:
        notes.append(f"the `keyring` on PATH ({keyring_command}) runs in another environment than this command; "
                     "check that `keyring --list-backends` there shows keyrings_gar.backend.GarKeyring")
    return {
        "active": _backend_name(active),
        "chain": [{"backend": name, "priority": float(b.priority)} for name, b in zip(names, chain)],
        "keyrings_gar": {"loaded": gar_index is not None, "viable": viable, "priority": gar_priority,
                         "problem": why},
        "google_plugin": {"installed": google_index is not None or _distribution_installed(),
                          "in_chain": google_index is not None},
        "answers_first": first,
        "keyring_on_path": keyring_command,
        "keyring_on_path_is_this_environment": same,
    }


def _backend_name(backend: object) -> str:
    kind = type(backend)
    return f"{kind.__module__}.{kind.__qualname__}"


def _distribution_installed() -> bool:
    from importlib import metadata

    try:
        metadata.version(GOOGLE_PLUGIN_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return False
    return True


def _script_python(script: Path) -> Path | None:
    """The interpreter a console script runs with (its `#!` line), when it has one."""
    try:
        with script.open("rb") as file:
            first = file.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    return Path(first[2:].decode("utf-8", "replace").strip().split(" ")[0])


def _config_report(problems: list[str]) -> Report:
    path = _guarded(config_path, problems)
    if path is None:
        return {"path": None, "exists": False, "entries": [], "entry": None, "problems": ["no path"]}
    config = load_config(path)
    problems.extend(config.problems)
    return {"path": str(path), "exists": config.exists, "entries": [e.name for e in config.entries],
            "entry": None, "problems": list(config.problems)}


def _credential_report(settings: Settings, entry: RepositoryEntry, problems: list[str]) -> Report:
    """What a lookup would answer, proven by really getting a token (through the cache)."""
    username = default_username(settings, entry)
    report: Report = {"username": username, "token_source": None, "secret": None, "token": None}
    if username in (JSON_KEY_BASE64_USERNAME, JSON_KEY_USERNAME):
        known = len(problems)
        secret = _guarded(lambda: find_json_key(settings, entry=entry), problems)
        if secret is not None:
            report["secret"] = {"email": secret.client_email, "key_id": secret.private_key_id[:8]}
        elif len(problems) == known:  # no secret, and no error saying why
            problems.append("get_credential would answer with the _json_key_base64 secret, but none is configured: "
                            "set KEYRINGS_GAR_JSON_KEY_BASE64 or json_key_base64_env/_file in the entry")
    source: TokenSource | None = _guarded(lambda: find_token_source(settings, entry=entry), problems)
    if source is None:
        return report
    endpoint = _token_endpoint(source)
    report["token_source"] = {"kind": source.kind, "origin": source.origin, "identity": source.identity,
                              "endpoint": endpoint, **_network(endpoint)}
    minted: list[bool] = []

    def mint() -> AccessToken:
        minted.append(True)
        return mint_access_token(source, settings.timeout)

    cache = TokenCache(settings.cache_dir, lock_timeout=settings.timeout + 5)
    token = _guarded(lambda: cache.get_or_mint(source.cache_key, source.identity, mint), problems)
    if token is not None:
        report["token"] = {"fingerprint": token.fingerprint, "expiry": _iso(token.expiry),
                           "expires_in": round(token.remaining()), "cached": not minted}
    return report


def _token_endpoint(source: TokenSource) -> str | None:
    """Where minting a token for `source` connects to (for the proxy in effect)."""
    if source.kind == GCLOUD:
        return None
    if source.kind == IMPERSONATED:
        return "https://iamcredentials.googleapis.com/"
    if source.kind == METADATA_SERVER:
        return "http://" + source.origin.rsplit(" ", 1)[-1] + "/"
    return str(source.info.get("token_uri") or source.info.get("token_url") or GOOGLE_OAUTH_ENDPOINT)


def _network(endpoint: str | None) -> Report:
    """The proxy and CA bundle the token request goes through (as requests will choose them)."""
    if endpoint is None:
        return {"proxy": "gcloud's own settings (gcloud config get proxy/address)", "ca_bundle": None}
    import requests.utils

    proxy = requests.utils.select_proxy(endpoint, requests.utils.get_environ_proxies(endpoint))
    ca = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    ca_origin = "REQUESTS_CA_BUNDLE" if os.environ.get("REQUESTS_CA_BUNDLE") else "CURL_CA_BUNDLE"
    if not ca and os.environ.get("SSL_CERT_FILE"):
        ca, ca_origin = os.environ["SSL_CERT_FILE"], "SSL_CERT_FILE"
    if not ca:
        ca, ca_origin = requests.utils.DEFAULT_CA_BUNDLE_PATH, "certifi"
    return {"proxy": _safe_url(proxy) if proxy else None, "ca_bundle": f"{ca} ({ca_origin})"}


def _safe_url(url: str) -> str:
    """A URL as it may be shown: any `user:password@` replaced (gcloud puts the secret there)."""
    return re.sub(r"(?<=//)[^/?#@]*:[^/?#@]*@", "***@", url)[:300]


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_doctor(report: Report) -> str:
    """The report for people: one screen, problems last with their fixes."""
    versions = report["versions"]
    header = (f"keyrings.gar {versions['keyrings.gar']}, keyring {versions['keyring']}, "
              f"google-auth {versions['google-auth']}, Python {versions['python']}")
    lines = [header]
    chain = report["keyring"]
    gar = chain["keyrings_gar"]
    lines.append(_row("keyring backend", chain["active"] or "none: keyring cannot start"))
    order = ", ".join(f"{c['backend']} ({c['priority']:g})" for c in chain["chain"])
    lines.append(_row("backend chain", order or "(none)"))
    gar_state = ("loaded" if gar["loaded"] else "NOT in keyring's chain") if gar["viable"] else "not viable"
    lines.append(_row("keyrings.gar", f"{gar_state}, priority {gar['priority']}" if chain["active"] else "unknown"))
    google = chain["google_plugin"]
    google_text = "not installed" if not google["installed"] else (
        f"installed; {chain['answers_first']} answers first" if google["in_chain"] else "installed, not in the chain")
    lines.append(_row("Google's plugin", google_text))
    lines.append(_row("keyring on PATH", chain["keyring_on_path"] or "none"))
    url = report.get("url")
    if url is None:
        lines.append(_row("URL", "none given: checking the default identity (pass a repository URL to check it)"))
    else:
        verdict = f"ours, repository {url['repository']}" if url["ours"] else f"NOT ours: {url['reason']}"
        lines.append(_row("URL", f"{url['service']}: {verdict}"))
    config = report["config"]
    state = "" if config["exists"] else " (none)"
    lines.append(_row("config file", f"{config['path']}{state}"))
    if url is not None and url["ours"] and not config["problems"]:
        lines.append(_row("config entry", f"[{config['entry']}]" if config["entry"] else "none matches: defaults"))
    credential = report.get("credential")
    if credential is not None:
        lines.extend(_render_credential(credential))
    for note in report["notes"]:
        lines.append(_row("note", note))
    if report["ok"]:
        lines.append(_row("result", "OK: a lookup would get this credential"))
    else:
        lines.append(_row("result", "FAILED"))
        lines.extend(_row("problem", problem) for problem in report["problems"])
    return "\n".join(lines)


def _render_credential(credential: Report) -> list[str]:
    lines = [_row("username", f"{credential['username']} (what get_credential answers)")]
    secret = credential["secret"]
    if secret is not None:
        lines.append(_row("secret", f"{secret['email']} (key {secret['key_id'] or 'without id'})"))
    source = credential["token_source"]
    if source is not None:
        lines.append(_row("token source", f"{source['kind']}: {source['origin']}"))
        lines.append(_row("identity", source["identity"]))
        if source["endpoint"]:
            lines.append(_row("token endpoint", source["endpoint"]))
        lines.append(_row("proxy", source["proxy"] or "none"))
        if source["ca_bundle"]:
            lines.append(_row("CA bundle", source["ca_bundle"]))
    token = credential["token"]
    if token is not None:
        how = "from the cache" if token["cached"] else "freshly minted"
        lines.append(_row("token", f"{token['fingerprint']} {how}, expires {token['expiry']} "
                                   f"(in {token['expires_in'] // 60} min)"))
    return lines


def _row(label: str, text: str) -> str:
    return f"{label:<16} {text}"


# --- settings ---------------------------------------------------------------------------


def repository_urls(url: str) -> tuple[str, str, str]:
    """(index URL, upload URL, repository name) for a repository URL in any form we accept."""
    target = parse_service(url, trusted_hosts())
    if target is None and "://" not in url:
        target = parse_service(f"https://{url}", trusted_hosts())
    if target is None:
        raise GarError(f"{_safe_url(url)} is not an Artifact Registry Python repository: "
                       f"{refusal_reason(url, trusted_hosts())}")
    segments = target.repository_path.split("/")
    if len(segments) < 3:
        raise GarError("give the repository's URL: https://<location>-python.pkg.dev/<project>/<repository>/")
    host, project, repository = segments
    return f"https://{host}/{project}/{repository}/simple/", f"https://{host}/{project}/{repository}/", repository


def settings_text(tool: str, url: str) -> str:
    """Ready-to-paste configuration for `tool` that gets credentials from keyring: none in it."""
    index_url, upload_url, name = repository_urls(url)
    user_index_url = index_url.replace("https://", "https://oauth2accesstoken@", 1)
    if tool == "pip":
        return f"""\
# pip.conf (`pip config edit`; keyring on PATH: {INSTALL_HINT})
[global]
index-url = {user_index_url}
keyring-provider = subprocess

# or for one command: PIP_KEYRING_PROVIDER=subprocess PIP_INDEX_URL={user_index_url} pip install ...
# (the username in the URL is not a secret: pip before 26.2 asks keyring only when there is one)"""
    if tool == "uv":
        return f"""\
# uv.toml (in pyproject.toml: the same under [tool.uv] and [[tool.uv.index]])
# keyring on PATH: {INSTALL_HINT}
keyring-provider = "subprocess"

[[index]]
name = "{name}"
url = "{index_url}"
authenticate = "always\""""
    if tool == "poetry":
        return f"""\
# poetry asks keyring when the source URL has no username: keep it out of the URL
poetry self add keyrings.gar
poetry source add --priority=primary {name} {index_url}"""
    return f"""\
# ~/.pypirc (twine asks keyring for this username's password; keyrings.gar installed beside twine)
[distutils]
index-servers =
    {name}

[{name}]
repository = {upload_url}
username = oauth2accesstoken

# twine upload --repository {name} dist/*"""


# --- token and cache --------------------------------------------------------------------


def token_for(url: str | None) -> AccessToken:
    """A live token for `url`'s identity (the default identity without one), through the cache."""
    settings = load_settings()
    entry = NO_ENTRY
    if url is not None:
        target: RepositoryTarget | None = parse_service(url, trusted_hosts())
        if target is None:
            raise GarError(f"{_safe_url(url)} is not ours: {refusal_reason(url, trusted_hosts())}")
        entry = entry_for(target)
    return access_token(find_token_source(settings, entry=entry), settings)


def cache_report() -> Report:
    settings_dir = cache_dir()
    entries = TokenCache(settings_dir).entries()
    now = time.time()
    return {
        "directory": str(settings_dir),
        "enabled": load_settings().cache_dir is not None,
        "entries": [{"identity": e.identity, "expiry": _iso(e.expiry), "expires_in": round(e.expiry - now),
                     "file": e.path.name} for e in entries],
    }


def render_cache(report: Report) -> str:
    lines = [_row("cache folder", report["directory"] + ("" if report["enabled"] else
                                                        " (off: KEYRINGS_GAR_NO_CACHE is set)"))]
    if not report["entries"]:
        lines.append(_row("tokens", "none cached"))
    for entry in report["entries"]:
        left = entry["expires_in"]
        state = f"expires {entry['expiry']} (in {left // 60} min)" if left > 0 else f"expired {entry['expiry']}"
        lines.append(_row("token", f"{entry['identity']}: {state}"))
    return "\n".join(lines)


# --- the command line -------------------------------------------------------------------


def _run_doctor(args: argparse.Namespace) -> int:
    report = doctor(args.url)
    _out(json.dumps(report, indent=2) if args.json else render_doctor(report))
    return 0 if report["ok"] else 1


def _run_settings(args: argparse.Namespace) -> int:
    _out(settings_text(args.tool, args.url))
    return 0


def _run_token(args: argparse.Namespace) -> int:
    _out(token_for(args.url).value)
    return 0


def _run_cache_show(args: argparse.Namespace) -> int:
    report = cache_report()
    _out(json.dumps(report, indent=2) if args.json else render_cache(report))
    return 0


def _run_cache_clear(_args: argparse.Namespace) -> int:
    directory = cache_dir()
    removed = TokenCache(directory).clear()
    _out(f"removed {removed} cached token{'' if removed == 1 else 's'} from {directory}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keyrings-gar",
        description="Check and set up keyring credentials for Google Artifact Registry Python repositories.",
    )
    parser.add_argument("--version", action="version", version=f"keyrings.gar {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what every step does (never secrets)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    doctor_parser = commands.add_parser(
        "doctor", help="explain what a lookup for URL would do, and whether it works",
        description="Explain what a keyring lookup for URL would do and really get a token. Exit status 0 when "
                    "the lookup would succeed, 1 otherwise (the problems and their fixes are listed).")
    doctor_parser.add_argument("url", nargs="?", metavar="URL", help="the repository URL (default: no URL, the "
                               "default identity)")
    doctor_parser.add_argument("--json", action="store_true", help="print the report as JSON")
    doctor_parser.set_defaults(run=_run_doctor)

    settings_parser = commands.add_parser(
        "settings", help="print installer configuration that uses keyring (no credential in it)",
        description="Print ready-to-paste configuration for pip, uv, poetry or twine that gets its credentials "
                    "from keyring: the keyring-based answer to `gcloud artifacts print-settings python`.")
    settings_parser.add_argument("tool", choices=("pip", "uv", "poetry", "twine"), help="the installer")
    settings_parser.add_argument("url", metavar="URL", help="the repository URL")
    settings_parser.set_defaults(run=_run_settings)

    token_parser = commands.add_parser(
        "token", help="print a live access token (for scripts)",
        description="Print a live OAuth access token for URL's identity (or the default identity), through the "
                    "same cache as keyring lookups. The only command that prints a credential.")
    token_parser.add_argument("url", nargs="?", metavar="URL", help="the repository URL")
    token_parser.set_defaults(run=_run_token)

    cache_parser = commands.add_parser("cache", help="show or clear the token cache",
                                       description="Show or clear the shared token cache.")
    cache_commands = cache_parser.add_subparsers(dest="cache_command", required=True, metavar="ACTION")
    show_parser = cache_commands.add_parser("show", help="list cached identities and expiries (never tokens)",
                                            description="List the cached identities and their expiry.")
    show_parser.add_argument("--json", action="store_true", help="print the list as JSON")
    show_parser.set_defaults(run=_run_cache_show)
    clear_parser = cache_commands.add_parser("clear", help="remove every cached token",
                                             description="Remove every cached token; the next lookup mints one.")
    clear_parser.set_defaults(run=_run_cache_clear)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
        logging.getLogger("keyrings_gar").setLevel(logging.DEBUG)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except GarError as exc:
        _err(str(exc))
    except KeyboardInterrupt:
        return 130
    # The command's one boundary, as the backend's is for keyring: a message, never a traceback
    # (which could print local variables' context, and tells users nothing they can act on).
    except Exception as exc:  # noqa: BLE001
        _err(f"unexpected {type(exc).__name__} in `{args.command}`; please report it")
    return 1
