"""The exceptions keyrings.gar raises inside the package; the backend turns them into None."""

from __future__ import annotations


class GarError(Exception):
    """Base class: its message is one line, the cause first, then the fix.

    Messages never contain a secret or a token; they name variables, files and identities. `args`
    are what the message is made of (plain values: failures.py stores them and makes it again), and
    `subject`, when set, names who failed (an identity and where it was found) before it.
    """

    subject: str | None = None

    def __str__(self) -> str:
        return f"{self.subject}: {self.says()}" if self.subject else self.says()

    def says(self) -> str:
        return super().__str__()


class ConfigError(GarError):
    """An environment variable or the configuration file holds a value we cannot use."""


class SecretError(GarError):
    """The `_json_key_base64` secret cannot be decoded to a service-account key."""


class NoCredentialsError(GarError):
    """No credential source is configured or discoverable on this machine."""


class TokenError(GarError):
    """A credential source exists but minting an access token from it failed."""


class EditRefusedError(GarError):
    """A file `configure` will not change: unreadable, unparseable, or holding a conflicting value."""


_BECAUSE = {
    "proxy": "the proxy (HTTPS_PROXY) failed or is unreachable; check the proxy or NO_PROXY",
    "tls": "TLS verification failed; point REQUESTS_CA_BUNDLE or SSL_CERT_FILE at your CA bundle",
    "timeout": "timed out (KEYRINGS_GAR_TIMEOUT raises the limit)",
    "refused": "connection refused",
    "closed": "the connection was closed mid-response",
    "network": "network error; check your connection, HTTPS_PROXY and NO_PROXY",
}


class UnreachableError(TokenError):
    """`endpoint` could not be reached: `cause` is a key of _BECAUSE, `seconds` the deadline it missed."""

    def __init__(self, endpoint: str, cause: str, seconds: float = 0.0) -> None:
        super().__init__(endpoint, cause, seconds)
        self.endpoint, self.cause, self.seconds = endpoint, cause, seconds

    def says(self) -> str:
        because = _BECAUSE.get(self.cause, _BECAUSE["network"])
        if self.cause == "timeout" and self.seconds:
            because = because.replace("timed out", f"timed out after {self.seconds:g} s", 1)
        return f"{self.endpoint} unreachable: {because}"


class AnswerTooLargeError(TokenError):
    """`endpoint` sent more than any token answer (`limit_kib`); it was not read further."""

    def __init__(self, endpoint: str, limit_kib: int) -> None:
        super().__init__(endpoint, limit_kib)
        self.endpoint, self.limit_kib = endpoint, limit_kib

    def says(self) -> str:
        return (f"the {self.endpoint}'s answer is larger than {self.limit_kib} KiB, which no token answer is; "
                "check the credentials' URLs and HTTPS_PROXY")


class RedirectedError(TokenError):
    """`endpoint` (at `host`) answered with a redirect, which Google's never send; it was not followed."""

    def __init__(self, endpoint: str, host: str, status: int) -> None:
        super().__init__(endpoint, host, status)
        self.endpoint, self.host, self.status = endpoint, host, status

    def says(self) -> str:
        return (f"{self.endpoint} at {self.host} answered with a redirect (HTTP {self.status}), not followed: "
                "check the credentials' URLs and HTTPS_PROXY (a proxy's login page?)")


class RefusedError(TokenError):
    """`endpoint` answered with the error `code`; `why` says what that means here, with the fix."""

    def __init__(self, endpoint: str, code: str, why: str) -> None:
        super().__init__(endpoint, code, why)
        self.endpoint, self.code, self.why = endpoint, code, why

    def says(self) -> str:
        return f"{self.endpoint} {self.why}"
