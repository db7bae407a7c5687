"""Warnings about a configuration file that parses but may not do what its author meant: for `doctor`.

- A section that nearly matches the repository looked up (a misspelt project or repository) is
  silently no entry at all, and the lookup takes the default identity.
- Several identities on one host: pip keeps the first credential it gets for a host for the whole
  run, and uv sends it with file downloads from another repository there (tests/e2e/
  test_identities_per_host.py), so one repository's credential goes to another. The default
  identity counts: a host without a host-level entry has repositories that use it.
"""

from __future__ import annotations

from pathlib import Path

from ..config_entries import NO_ENTRY, Config, RepositoryEntry
from ..hosts import RepositoryTarget, edit_distance

# Up to this many single-character edits in the part of a section that differs from the URL's
# own: `acme-prd`, `team_repo`, `team-rpeo` (a swap is two edits).
MAX_TYPO_EDITS = 2


def likely_typos(config: Config, target: RepositoryTarget, chosen: RepositoryEntry) -> list[str]:
    """One warning per section that would have matched `target` but for a small misspelling, and
    that is more specific than the entry the lookup really takes."""
    wanted = target.repository_path.split("/")
    chosen_depth = len(chosen.name.split("/")) if chosen.name else 0
    warnings = []
    for entry in config.entries:
        segments = entry.name.split("/")
        if len(segments) <= chosen_depth or len(segments) > len(wanted):
            continue
        prefix = wanted[:len(segments)]
        # Lengths far apart are no typo: the table is not even made (a section name can be long).
        edits = sum(edit_distance(a.lower(), b.lower()) if abs(len(a) - len(b)) <= MAX_TYPO_EDITS
                    else MAX_TYPO_EDITS + 1 for a, b in zip(segments, prefix))
        if 0 < edits <= MAX_TYPO_EDITS or (edits == 0 and segments != prefix):
            taken = f"[{chosen.name}]" if chosen.name else "no entry (the defaults)"
            warnings.append(f"[{entry.name}] in {config.path} looks like a misspelling of {'/'.join(prefix)}: "
                            f"the lookup takes {taken} instead; fix the section name if it was meant for this "
                            "repository")
    return warnings


def hosts_with_several_identities(config: Config, default_key_file: Path | None = None) -> list[str]:
    """One warning per host whose repositories get different identities. `default_key_file`: the
    credentials file the default identity comes from, if any (an entry's `key_file` naming that
    same file is the default identity again)."""
    by_host: dict[str, dict[tuple[object, ...], list[str]]] = {}
    for entry in config.entries:
        host = entry.name.split("/")[0]
        same_file = default_key_file is not None and entry.key_file == default_key_file.absolute()
        identity = _identity(entry._replace(key_file=None) if same_file else entry)
        by_host.setdefault(host, {}).setdefault(identity, []).append(f"[{entry.name}]")
    warnings = []
    for host, identities in by_host.items():
        if host not in (name.strip("[]") for names in identities.values() for name in names):
            identities.setdefault(_identity(NO_ENTRY), []).append(f"the default identity (every other repository "
                                                                  f"on {host})")
        if len(identities) > 1:
            givers = ", ".join(name for names in identities.values() for name in names)
            warnings.append(f"{givers} give {host} {len(identities)} identities; pip (either keyring provider) "
                            "keeps the first credential it gets for a host for every repository there, and uv sends it "
                            "with another repository's file downloads, so the wrong identity gets 403: give the host "
                            f"one identity (an entry [{host}]), or put one virtual repository in front of these")
    return warnings


def _identity(entry: RepositoryEntry) -> tuple[object, ...]:
    """What decides whose credential an entry's lookups get (not the username: a token and the
    json key of one service account are the same identity to the registry)."""
    return (entry.token, entry.key_file, entry.impersonate, entry.json_key_base64_env, entry.json_key_base64_file)
