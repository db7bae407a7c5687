"""Diagnosing a lookup: what keyring, the configuration and the credential sources would do for a
URL, as a plain report (a dict that `doctor --json` prints as it is and the CLI renders).

Nothing here prints, and no report holds a token or a secret: fingerprints, emails and key ids only.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

from .. import __version__
from ..access_token import AccessToken
from ..cache import TokenCache
from ..config import Settings, ca_bundle_variable, cache_dir, ci_job, load_settings, trusted_hosts
from ..config_entries import JSON_KEY_BASE64_USERNAME, JSON_KEY_USERNAME, NO_ENTRY, Config, RepositoryEntry
from ..configfile import config_path, load_config
from ..errors import GarError, NoCredentialsError
from ..failures import FailureMemory
from ..hosts import RepositoryTarget, classify_service
from ..lookup import JSON_KEY_FIX, cached_or_minted, default_username
from ..mint.trust import IAM_URL, JWT_GRANT_URL
from ..provided import ProvidedToken, find_provided_token
from ..redact import shown_path
from ..search import PRE_MINTED, find_json_key, find_token_source, search, search_stop
from ..sources import GCLOUD, IMPERSONATED, METADATA_SERVER, TokenSource, metadata_host
from .cache_folder import CACHE_EFFECT, cache_folder_problem
from .config_checks import hosts_with_several_identities, likely_typos
from .keyring_chain import GOOGLE_PLUGIN_DISTRIBUTION, Report, installed_version, keyring_chain_report
from .shown import censored_report, iso_time, safe_url

log = logging.getLogger("keyrings_gar")

NOT_REACHED = "not reached"
NO_METADATA_ANSWER = "no answer: not on Google Cloud, or unreachable"


def doctor(url: str | None) -> Report:
    """Everything a lookup for `url` (or, without one, for the default identity) would do, with
    every problem found and its fix. `report["ok"]` is whether the lookup would succeed."""
    problems: list[str] = []
    notes: list[str] = []
    warnings: list[str] = []  # what works but probably not as meant: shown, and the exit status stays 0
    versions = {"keyrings.gar": __version__, "python": sys.version.split()[0],
                **{name: installed_version(name) for name in ("keyring", "google-auth", GOOGLE_PLUGIN_DISTRIBUTION)}}
    report: Report = {"ok": False, "versions": versions, "problems": problems, "warnings": warnings, "notes": notes}
    report["keyring"] = keyring_chain_report(problems, notes)
    report["config"], config = _config_report(problems)
    target = None
    if url is not None:
        verdict = classify_service(url, trusted_hosts())
        target, reason = (verdict, None) if isinstance(verdict, RepositoryTarget) else (None, verdict)
        report["url"] = {"service": safe_url(url), "ours": target is not None, "reason": reason,
                         "repository": target.repository_path if target is not None else None}
        if reason is not None:
            problems.append(f"{safe_url(url)} is not ours: {reason}")
    settings = _guarded(load_settings, problems)
    entry = NO_ENTRY
    if config is not None:  # the file has no problem
        warnings.extend(hosts_with_several_identities(config, _default_key_file(settings)))
        if target is not None:
            entry = config.entry_for(target)
            report["config"]["entry"] = entry.name or None
            warnings.extend(likely_typos(config, target, entry))
    if settings is not None and (url is None or target is not None) and config is not None:
        report["credential"] = _credential_report(settings, entry, problems, notes)
    if settings is not None and settings.cache_dir is not None:
        # A warning, not a failure: lookups still work, each minting its own token.
        report["cache"] = {"directory": shown_path(settings.cache_dir),
                           "problem": cache_folder_problem(settings.cache_dir)}
        if report["cache"]["problem"]:
            warnings.append(f"token cache unusable: {report['cache']['problem']}; {CACHE_EFFECT}")
    report["ok"] = not problems
    return censored_report(report)


def _default_key_file(settings: Settings | None) -> Path | None:
    """The credentials file the default identity comes from, if any; None where finding it fails (the
    credential report says why)."""
    found = None if settings is None else search_stop(settings).file
    try:
        return found()[0] if found is not None else None
    except GarError:
        return None


def _guarded(function: Callable[[], Any], problems: list[str]) -> Any:
    try:
        return function()
    except GarError as exc:
        problems.append(str(exc))
        return None


def _config_report(problems: list[str]) -> tuple[Report, Config | None]:
    """The configuration file's report, and the file itself when it has no problem."""
    path = _guarded(config_path, problems)
    if path is None:
        return {"path": None, "exists": False, "entries": [], "entry": None, "problems": ["no path"]}, None
    config = load_config(path)
    problems.extend(config.problems)
    return {"path": shown_path(path), "exists": config.exists, "entries": [e.name for e in config.entries],
            "entry": None, "problems": list(config.problems)}, None if config.problems else config


def _credential_report(settings: Settings, entry: RepositoryEntry, problems: list[str], notes: list[str]
                       ) -> Report:
    """What a lookup would answer, proven by really getting a token (through the cache, but never
    through the failure memory: doctor always tries again), and the search that found it."""
    report: Report = {"username": None, "token_source": None, "secret": None, "token": None}
    known = len(problems)
    provided = _guarded(find_provided_token, problems)
    if len(problems) > known:
        return with_search(report, settings, entry)
    username = report["username"] = default_username(settings, entry, provided)
    if username in (JSON_KEY_BASE64_USERNAME, JSON_KEY_USERNAME):
        known = len(problems)
        secret = _guarded(lambda: find_json_key(settings, entry=entry), problems)
        if secret is not None:
            report["secret"] = {"email": secret.client_email, "key_id": secret.private_key_id[:8]}
        elif len(problems) == known:  # no secret, and no error saying why
            problems.append("get_credential would answer with the _json_key_base64 secret, but none is configured: "
                            f"{JSON_KEY_FIX}")
    if provided is not None:
        _provided_token_report(provided, report, problems, notes)
        return with_search(report, settings, entry)
    source: TokenSource | None = _guarded(lambda: find_token_source(settings, entry=entry), problems)
    if source is None:
        return with_search(report, settings, entry)
    base = source.via or source
    endpoint = _token_endpoint(source)
    report["token_source"] = {"kind": source.kind, "origin": source.origin, "identity": source.identity,
                              "endpoint": safe_url(endpoint) if endpoint else None, **_network(endpoint)}
    report["token"], failure = _token_report(settings, source, problems, notes)
    if base.kind != METADATA_SERVER:
        return with_search(report, settings, entry)
    if isinstance(failure, NoCredentialsError):
        # The search ended at a metadata server that is not there: no credentials at all,
        # not "the metadata server's service account".
        report["token_source"] = None
    answer = f"answered for {base.identity}" if report["token"] is not None else NO_METADATA_ANSWER
    return with_search(report, settings, entry, answer)


def with_search(report: Report, settings: Settings, entry: RepositoryEntry, metadata_answer: str | None = None
              ) -> Report:
    """`report` with where the search found credentials, and its steps, every one after the step
    used not reached; `metadata_answer` is what the metadata server answered when it was asked."""
    report["found"], report["searched"] = False, []
    for step in search(settings, entry):
        result, used = step.result, step.used
        if metadata_answer is not None and step.place.startswith("metadata server"):
            result, used = metadata_answer, metadata_answer != NO_METADATA_ANSWER
        report["searched"].append({"place": step.place, "result": NOT_REACHED if report["found"] else result,
                                   "used": used and not report["found"]})
        report["found"] = report["found"] or used
    return report


def _token_report(settings: Settings, source: TokenSource, problems: list[str], notes: list[str]
                  ) -> tuple[Report | None, GarError | None]:
    """A real token for `source` through the cache (its fingerprint), or the error that stopped it.
    Minted even when lookups are repeating a remembered failure of `source`: doctor re-checks."""
    remembered = FailureMemory(settings.cache_dir).recall(source.cache_key)
    if remembered is not None:
        now = time.time()
        notes.append(f"lookups repeat this source's failure from {now - remembered.failed_at:.0f} s ago for "
                     f"{remembered.left(now):.0f} s more without trying it; this check tried "
                     "again (`keyrings-gar cache clear` forgets the failure)")
    try:
        token, minted = cached_or_minted(source, settings, failures=None)
    except GarError as exc:
        problems.append(str(exc))
        return None, exc
    return {"fingerprint": token.fingerprint, "expiry": iso_time(token.expiry),
            "expires_in": round(token.remaining()), "cached": not minted}, None


def _provided_token_report(provided: ProvidedToken, report: Report, problems: list[str], notes: list[str]) -> None:
    """A pre-minted token: read and checked as a lookup would, but nothing to mint or prove."""
    report["token_source"] = {"kind": PRE_MINTED, "origin": provided.origin,
                              "identity": "unknown: a pre-minted token does not say whose it is",
                              "endpoint": None, "proxy": None, "ca_bundle": None}
    token: AccessToken | None = _guarded(provided.read, problems)
    if token is not None:
        report["token"] = {"fingerprint": token.fingerprint, "expiry": None, "expires_in": None, "cached": False,
                           "pre_minted": True}
        notes.append(f"the token from {provided.origin} is used as it is, for every repository: its expiry is "
                     "unknown here (whoever provides it must refresh it; Artifact Registry refuses it once "
                     "expired), it is read again on every lookup and never cached")


def _token_endpoint(source: TokenSource) -> str | None:
    """Where minting a token for `source` connects to (for the proxy in effect)."""
    if source.kind == GCLOUD:
        return None
    if source.kind == IMPERSONATED:
        return IAM_URL
    if source.kind == METADATA_SERVER:
        return f"http://{metadata_host()}/"
    return str(source.info.get("token_uri") or source.info.get("token_url") or JWT_GRANT_URL)


def _network(endpoint: str | None) -> Report:
    """The proxy and CA bundle the token request goes through (as requests will choose them)."""
    if endpoint is None:
        return {"proxy": "gcloud's own settings (gcloud config get proxy/address)", "ca_bundle": None}
    import requests.utils  # only for this report: the command's other uses need no requests (start-up time)

    proxy = requests.utils.select_proxy(endpoint, requests.utils.get_environ_proxies(endpoint))
    ca_origin = ca_bundle_variable()
    ca = os.environ[ca_origin] if ca_origin else requests.utils.DEFAULT_CA_BUNDLE_PATH
    return {"proxy": safe_url(proxy) if proxy else None, "ca_bundle": f"{shown_path(ca)} ({ca_origin or 'certifi'})"}


def cache_report() -> Report:
    settings_dir = cache_dir()
    entries = TokenCache(settings_dir).entries()
    now = time.time()
    return censored_report({
        "directory": None if settings_dir is None else shown_path(settings_dir),
        "enabled": load_settings().cache_dir is not None,
        "problem": None if settings_dir is None else cache_folder_problem(settings_dir),
        "entries": [{"identity": e.identity, "source": e.source or None, "expiry": iso_time(e.expiry),
                     "expires_in": round(e.expiry - now), "file": e.path.name} for e in entries],
        # Every token is minted with the one cloud-platform scope, so only the source and the CI job
        # (a folder of its own, see config.py) tell entries of one identity apart.
        "ci_job": ci_job(os.environ) or None,
        "failures": [{"message": f.message, "failed_at": iso_time(f.failed_at),
                      "expires_in": round(f.left(now))}
                     for f in FailureMemory(settings_dir).entries()],
    })
