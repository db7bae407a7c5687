"""Warnings about a configuration file that parses but may not do what its author meant: for `doctor`.

- A section that nearly matches the repository looked up (a misspelt project or repository) is
  silently no entry at all, and the lookup takes the default identity.
- Several identities on one host: uv keeps one credential per host for a whole run, so one
  repository's credential can be sent to another repository on that host.
"""

from __future__ import annotations

from .configfile import Config, RepositoryEntry
from .hosts import RepositoryTarget

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
        edits = sum(_edit_distance(a.lower(), b.lower()) for a, b in zip(segments, prefix))
        if 0 < edits <= MAX_TYPO_EDITS or (edits == 0 and segments != prefix):
            taken = f"[{chosen.name}]" if chosen.name else "no entry (the defaults)"
            warnings.append(f"[{entry.name}] in {config.path} looks like a misspelling of {'/'.join(prefix)}: "
                            f"the lookup takes {taken} instead; fix the section name if it was meant for this "
                            "repository")
    return warnings


def hosts_with_several_identities(config: Config) -> list[str]:
    """One warning per host whose entries choose different identities."""
    by_host: dict[str, dict[tuple[object, ...], list[str]]] = {}
    for entry in config.entries:
        host = entry.name.split("/")[0]
        by_host.setdefault(host, {}).setdefault(_identity(entry), []).append(entry.name)
    warnings = []
    for host, identities in by_host.items():
        if len(identities) > 1:
            sections = ", ".join(f"[{name}]" for names in identities.values() for name in names)
            warnings.append(f"{sections} give {host} {len(identities)} identities; uv keeps one credential per "
                            "host for a whole run and may send one repository's credential to another (pip and "
                            "pdm ask per repository): for uv, use one identity per host, or one virtual "
                            "repository in front of these")
    return warnings


def _identity(entry: RepositoryEntry) -> tuple[object, ...]:
    """What decides whose credential an entry's lookups get (not the username: a token and the
    json key of one service account are the same identity to the registry)."""
    return (entry.token, entry.key_file, entry.impersonate, entry.json_key_base64_env, entry.json_key_base64_file)


def _edit_distance(a: str, b: str) -> int:
    """Levenshtein distance, stopping early: only 0, 1, 2 or "more" (3) matter here."""
    if abs(len(a) - len(b)) > MAX_TYPO_EDITS:
        return MAX_TYPO_EDITS + 1
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return min(previous[-1], MAX_TYPO_EDITS + 1)
