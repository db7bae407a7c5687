"""A configuration file's entries: what each one holds, and which one a lookup matches."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

from .hosts import RepositoryTarget
from .redact import shown_path

log = logging.getLogger("keyrings_gar")

USE_ADC = "adc"
USE_GCLOUD = "gcloud"
TOKEN_USERNAMES = ("oauth2accesstoken", "_token")
JSON_KEY_BASE64_USERNAME = "_json_key_base64"
JSON_KEY_USERNAME = "_json_key"
USERNAMES = (*TOKEN_USERNAMES, JSON_KEY_BASE64_USERNAME, JSON_KEY_USERNAME)

# What each key means, for errors and `keyrings-gar doctor`.
KEYS = {
    "token": f"where tokens come from: {USE_ADC} (default) or {USE_GCLOUD}",
    "key_file": "a credentials file to mint tokens from (service-account key or any ADC file)",
    "impersonate": "a service-account email whose tokens to mint through IAM",
    "json_key_base64_env": "an environment variable that holds the _json_key_base64 secret",
    "json_key_base64_file": "a file that holds the _json_key_base64 secret (or the key JSON)",
    "username": f"the username get_credential answers with: {', '.join(USERNAMES)}",
}


class RepositoryEntry(NamedTuple):
    """One section of the file: how lookups under `name` get their credentials."""

    name: str
    """The section as normalised (`host/project/repo`); `""` for lookups no entry matches."""
    file: Path | None = None
    """The configuration file the entry comes from (for messages)."""
    token: str = USE_ADC
    key_file: Path | None = None
    impersonate: str | None = None
    json_key_base64_env: str | None = None
    json_key_base64_file: Path | None = None
    username: str | None = None

    def where(self, key: str) -> str:
        """`FILE [entry] key`, how messages name the setting that chose something."""
        return f"{shown_path(self.file or '')} [{self.name}] {key}"

    @property
    def has_secret(self) -> bool:
        return self.json_key_base64_env is not None or self.json_key_base64_file is not None


NO_ENTRY = RepositoryEntry("")


class Config(NamedTuple):
    """The parsed file: its entries, and every problem found in it (each one line)."""

    path: Path
    exists: bool
    entries: tuple[RepositoryEntry, ...]
    problems: tuple[str, ...]

    def entry_for(self, target: RepositoryTarget) -> RepositoryEntry:
        """The most specific entry whose prefix covers `target` (a realm-only or bare-host lookup
        matches only the host-level entry); NO_ENTRY when none does."""
        segments = target.repository_path.split("/")
        # No two entries have one name (configfile refuses the second), so no two matches tie.
        matches = [entry for entry in self.entries if segments[:entry.name.count("/") + 1] == entry.name.split("/")]
        best = max(matches, key=lambda entry: entry.name.count("/"), default=NO_ENTRY)
        if best is NO_ENTRY:
            log.debug("config: no entry of %s matches %s; using the defaults", self.path, target.repository_path)
        else:
            log.debug("config: entry [%s] of %s for %s", best.name, self.path, target.repository_path)
        return best
