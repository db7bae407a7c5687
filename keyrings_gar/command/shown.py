"""What only the `keyrings-gar` command shows, through the redactor (redact.py): URLs without their
userinfo, lines of a user's configuration files, whole reports censored, and times."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from ..redact import censored, hidden, showable

MAX_URL_SHOWN = 300
"""The longest URL printed whole (a repository URL with a package path is well under it)."""
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


def censored_report(report: dict[str, Any]) -> dict[str, Any]:
    """A report (dicts, lists, strings) with every string censored: what `--json` prints."""
    return {key: _censored_value(item) for key, item in report.items()}


def _censored_value(value: object) -> object:
    if isinstance(value, str):
        return censored(value)
    if isinstance(value, dict):
        return {key: _censored_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_censored_value(item) for item in value]
    return value


def safe_url(url: str) -> str:
    """`scheme://***@host:port/...`: a URL (or `user:pw@host` without a scheme, as proxy variables
    may hold) with its userinfo hidden, whatever it holds (`@` and `:` inside a password,
    percent-encoding, a token as the user name).

    The userinfo ends at the LAST `@`, as a password may contain `@` (urllib3 reads it so); masking
    up to the last `@` of the whole value hides more than the userinfo when a path has an `@`,
    never less. Linear: one search for `://`, one for the last `@`.
    """
    url = url.strip()
    scheme_end = url.find("://")
    # `user:pa://ss@host` has no scheme: what precedes `://` must be one to count as one.
    start = scheme_end + 3 if scheme_end > 0 and _SCHEME.fullmatch(url, 0, scheme_end) else 0
    at = url.rfind("@")
    prefix, masked = url[:start], "***@" if at >= start else ""
    rest = url[at + 1:] if masked else url[start:]
    if len(prefix) + len(rest) <= MAX_URL_SHOWN and (prefix + rest).isprintable():
        return f"{prefix}{masked}{rest}"
    # Too long or with control characters (a pasted blob): the scheme and the host only.
    host = rest.split("/", 1)[0]
    return f"{prefix}{masked}{host} (the rest not shown)" if showable(prefix + host) else hidden(url)


# Words in a configuration key that holds a secret (`password`, `token`, `api-key`, `client_secret`).
_SECRET_KEY_WORDS = ("pass", "secret", "token", "credential", "apikey", "api-key", "api_key", "private")
# The longest key looked at: a key is a short name, and the search stays linear in the line.
_MAX_KEY = 100
# The scheme's length is bounded so that a long line without `://` is scanned in linear time.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}://[^ \t\r\n\f\v\"'<>]+")


def config_line(line: str) -> str:
    """A line of a user's configuration file (pip.conf, .pypirc, pyproject.toml), fit to show in a
    diff: the value of a secret-sounding key hidden, every URL without its userinfo, and what is
    left censored (a `ya29.` token, a PyPI token anywhere else)."""
    end = "\n" if line.endswith("\n") else ""
    body = line[: len(line) - len(end)]
    ends = [at for at in (body.find("=", 0, _MAX_KEY), body.find(":", 0, _MAX_KEY)) if at > 0]
    if ends and any(word in body[: min(ends)].lower() for word in _SECRET_KEY_WORDS):
        body = f"{body[: min(ends) + 1]} [not shown]"
    body = _URL_IN_TEXT.sub(lambda url: safe_url(url[0]), body)
    return censored(body) + end


def iso_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
