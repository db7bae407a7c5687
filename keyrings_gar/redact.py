"""How values that may hold secrets appear in messages: a path is shown, a pasted key never is.
(What only the command shows, URLs without their userinfo and whole reports, is command/shown.py.)

Users paste the key where a path belongs (GOOGLE_APPLICATION_CREDENTIALS, key_file, ...), so every
message that names such a setting describes its value through here. Every judgement reads the text
alone: no I/O, linear time however long the value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from .errors import ConfigError

MAX_SHOWN = 255
"""The longest setting value ever printed (a longer one is not a path anyone types)."""
MAX_PATH = 1024
"""Longer than this is not a path (macOS's PATH_MAX; every key, base64 or JSON, is longer)."""
MAX_NAME = 255
"""No common file system (ext4, APFS, NTFS) allows a longer file or folder name."""
SECRET_RUN = 40
"""An unbroken run of base64 characters this long may be a token or a key fragment: not shown.
File and folder names break theirs with `.` or `/` long before (`acme-prod-1a2b3c4d5e6f.json`)."""

_BASE64_RUN = re.compile(r"[A-Za-z0-9+=_-]+")
# In free text (another program's error line) `/` counts too: base64 has it, and a fragment of a
# key between two `/` must not survive. Fixed classes, no nesting: linear.
_SECRET_IN_TEXT = re.compile(rf"[A-Za-z0-9+/=_-]{{{SECRET_RUN},}}")
# A JWT (an OIDC ID token from CI, a signed assertion): three base64url segments joined by dots,
# the header and the claims each JSON objects, so both start `eyJ` (base64 of `{"`). Requiring both
# keeps file names such as `keyJohn.backup.json` out.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
# Google's OAuth tokens: access tokens of every kind (users, service accounts, the metadata
# server, STS's federated tokens) start `ya29.`; refresh tokens `1//`. Short runs, so the base64
# run length alone misses them.
_GOOGLE_TOKEN = re.compile(r"ya29\.[A-Za-z0-9._-]{8,}|\b1//[A-Za-z0-9_-]{16,}")


def _longest_run(text: str) -> int:
    return max((len(run) for run in _BASE64_RUN.findall(text)), default=0)


def key_material(value: str) -> str | None:
    """What `value` plainly is instead of a path (`JSON`, `a URL with a password`...), or None
    when it could be a path. A setting that holds such a value is refused in one line (refuse_pasted)
    and never used as a path: no file opened, no folder created."""
    text = value.strip()
    if len(text) > MAX_PATH:
        return "too long for a path"
    if text.startswith("{"):
        return "JSON"
    if "-----BEGIN" in text:
        return "a PEM block"
    if "://" in text and "@" in text:
        return "a URL with a password"
    shape = credential_shape(text)
    if shape is not None:
        return shape
    if not text.isprintable():
        return "line breaks or control characters"
    if _longest_run(text) > MAX_NAME:
        return "a base64 run longer than any file name"
    return None


def credential_shape(text: str) -> str | None:
    """`a JWT` or `an access token` when `text` holds one anywhere, else None."""
    if _JWT.search(text):
        return "a JWT"
    if _GOOGLE_TOKEN.search(text):
        return "an access token"
    return None


def censored(text: str) -> str:
    """Our own message with every credential-shaped piece cut out: JWTs, Google tokens, and base64
    runs long enough to be a token or a key fragment. Paths, emails and fingerprints stay. The last
    pass over a log line, `doctor --json` or a failure record before it leaves the process."""
    text = _JWT.sub("[a JWT, not shown]", text)
    text = _GOOGLE_TOKEN.sub("[a token, not shown]", text)
    return _BASE64_RUN.sub(lambda run: "[…]" if _random_looking(run[0]) else run[0], text)


def _random_looking(run: str) -> bool:
    """A run long enough to be a token or key fragment, with the mixed case and digits of base64
    (variable names such as GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES and hex digests have not)."""
    return (len(run) >= SECRET_RUN and any(c.islower() for c in run) and any(c.isupper() for c in run)
            and any(c.isdigit() for c in run))


def showable(value: str) -> bool:
    """Whether `value` may appear in a message as it is: short, printable, no key shape and no long
    base64 run (a token or key fragment). Anything else is named by its setting and length only."""
    return (len(value) <= MAX_SHOWN and value.isprintable() and key_material(value) is None
            and _longest_run(value) < SECRET_RUN)


def refuse_pasted(name: str, value: str, fix: str | Mapping[str, str], instead: str = "a path") -> None:
    """ConfigError, in one line, for a setting `name` whose `value` is key material where a path (or
    a name) belongs, saying which kind of credential. `fix` may depend on what was pasted: by
    `credential_shape` (`a JWT`, `an access token`), "" for a key."""
    if key_material(value) is None:
        return
    shape = credential_shape(value)
    if not isinstance(fix, str):
        fix = fix.get(shape or "", fix[""])
    raise ConfigError(f"{name} holds what looks like {shape or 'a key'} itself, not {instead}: {fix}")


def describe(name: str, value: str) -> str:
    """`NAME=value`, or `NAME (a 97-character value, not shown)` when it may hold a secret."""
    return f"{name}={value}" if showable(value) else shown_text(value, name)


def shown_path(path: Path | str) -> str:
    """The path itself, or what it is when it may hold a secret."""
    text = str(path)
    return text if showable(text) else hidden(text)


def shown_text(value: str, what: str) -> str:
    """An identity or name as given, or `what` when it may hold a secret (an account set to a token)."""
    return value if showable(value) else f"{what} ({hidden(value)})"


def scrubbed(text: str, limit: int = 200) -> str:
    """Another program's message, fit to repeat: long base64-like runs (a token, a key pasted into
    its settings) and control characters replaced, then cut to at most `limit` characters at a word
    boundary, marked with `…` (a word cut in two, `Tunnel conne`, reads as a different word). Linear in
    the text (a failure path; callers bound what they read)."""
    text = "".join(c if c.isprintable() else " " for c in _SECRET_IN_TEXT.sub("[…]", text))
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    # A message without a space in its last quarter is one long word (a URL, a path): cut it anyway.
    return (cut[:space] if space >= limit * 3 // 4 else cut).rstrip() + "…"


def hidden(value: str) -> str:
    return f"a {len(value)}-character value, not shown"
