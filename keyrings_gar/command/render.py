"""The doctor and cache reports as the lines a person reads (`--json` prints the reports themselves)."""

from __future__ import annotations

from .cache_folder import CACHE_EFFECT
from .keyring_chain import Report


def render_doctor(report: Report) -> str:
    """The report for people: one screen, problems last with their fixes."""
    versions = report["versions"]
    lines = [(f"keyrings.gar {versions['keyrings.gar']}, keyring {versions['keyring']}, "
              f"google-auth {versions['google-auth']}, Python {versions['python']}")]
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
        # The reason (up to a few hundred characters) is the problem listed last: said once, there.
        verdict = f"ours, repository {url['repository']}" if url["ours"] else "NOT ours (see the problem below)"
        lines.append(_row("URL", f"{url['service']}: {verdict}"))
    config = report["config"]
    state = "" if config["exists"] else " (none)"
    lines.append(_row("config file", f"{config['path']}{state}"))
    if url is not None and url["ours"] and not config["problems"]:
        lines.append(_row("config entry", f"[{config['entry']}]" if config["entry"] else "none matches: defaults"))
    credential = report.get("credential")
    if credential is not None:
        lines.extend(_render_credential(credential))
    lines.extend(_row("note", note) for note in report["notes"])
    lines.extend(_row("warning", warning) for warning in report["warnings"])
    for tool, findings in report.get("installers", {}).items():
        lines.extend(_row(tool, finding["text"]) for finding in findings if finding["level"] != "problem")
    access = report.get("access")
    if access is not None and access["ok"]:
        lines.append(_row("access", access["text"]))
    if report["ok"]:
        warned = f" (but see the warning{'s' if len(report['warnings']) > 1 else ''})" if report["warnings"] else ""
        accepted = " and the registry accepts it" if access is not None else ""
        lines.append(_row("result", f"OK: a lookup would get this credential{accepted}{warned}"))
    else:
        lines.append(_row("result", "FAILED"))
        lines.extend(_row("problem", problem) for problem in report["problems"])
    return "\n".join(lines)


def _render_credential(credential: Report) -> list[str]:
    lines = [_row("username", f"{credential['username']} (what get_credential answers)")]
    if credential["token"] is None and credential["searched"]:
        # Whatever went wrong, where the search looked is the first thing to check.
        found = "searched" if credential["found"] else "none found; searched"
        lines.append(_row("credentials", f"{found}, in this order:"))
        lines.extend(f"{'':<16} {n}. {step['place']}: {step['result']}"
                     for n, step in enumerate(credential["searched"], 1))
    secret = credential["secret"]
    if secret is not None:
        lines.append(_row("secret", f"{secret['email']} (key {secret['key_id'] or 'without id'})"))
    source = credential["token_source"]
    if source is not None:
        lines.append(_row("token source", f"{source['kind']}: {source['origin']}"))
        lines.append(_row("identity", source["identity"]))
        if source["endpoint"]:
            lines.append(_row("token endpoint", source["endpoint"]))
        if source["endpoint"] or source["proxy"]:  # a pre-minted token has neither: no request is made
            lines.append(_row("proxy", source["proxy"] or "none"))
        if source["ca_bundle"]:
            lines.append(_row("CA bundle", source["ca_bundle"]))
    token = credential["token"]
    if token is not None and token["expiry"] is None:
        lines.append(_row("token", f"{token['fingerprint']} pre-minted, read again on every lookup and never cached; "
                                   "expiry unknown"))
    elif token is not None:
        how = "from the cache" if token["cached"] else "freshly minted"
        lines.append(_row("token", f"{token['fingerprint']} {how}, expires {token['expiry']} "
                                   f"(in {token['expires_in'] // 60} min)"))
    return lines


def _row(label: str, text: str) -> str:
    return f"{label:<16} {text}"


def render_cache(report: Report) -> str:
    if report["directory"] is None:
        folder = ("none: no private per-user runtime folder (XDG_RUNTIME_DIR, /dev/shm), or a CI system that "
                  "names no job, so each process keeps its own token; KEYRINGS_GAR_CACHE_DIR names one")
    else:
        folder = report["directory"] + ("" if report["enabled"] else " (off: KEYRINGS_GAR_NO_CACHE is set)")
    lines = [_row("cache folder", folder)]
    if report["problem"]:
        lines.append(_row("problem", f"unusable: {report['problem']}; {CACHE_EFFECT}"))
    elif not report["entries"]:
        lines.append(_row("tokens", "none cached"))
    if report.get("ci_job"):
        lines.append(_row("CI job", f"{report['ci_job']}: this folder holds this job's tokens only"))
    shown = [(entry["identity"], entry.get("source") or "source not recorded (cached by an older keyrings.gar)")
             for entry in report["entries"]]
    for entry, (identity, source) in zip(report["entries"], shown):
        left = entry["expires_in"]
        state = f"expires {entry['expiry']} (in {left // 60} min)" if left > 0 else f"expired {entry['expiry']}"
        # Two entries from one source differ in what the cache key holds beyond it (a rotated key,
        # another login): the file name tells them apart.
        entry_name = f" (entry {entry['file']})" if shown.count((identity, source)) > 1 else ""
        lines.append(_row("token", f"{identity} from {source}: {state}{entry_name}"))
    for failure in report["failures"]:
        lines.append(_row("failure", f"{failure['message']} (since {failure['failed_at']}, repeated for "
                                     f"{failure['expires_in']} s more)"))
    return "\n".join(lines)
