"""The exceptions keyrings.gar raises inside the package; the backend turns them into None."""

from __future__ import annotations


class GarError(Exception):
    """Base class: its message is one line that says what is wrong and how to fix it.

    Messages never contain a secret or a token; they name variables, files and identities.
    """


class ConfigError(GarError):
    """An environment variable or the configuration file holds a value we cannot use."""


class SecretError(GarError):
    """The `_json_key_base64` secret cannot be decoded to a service-account key."""


class NoCredentialsError(GarError):
    """No credential source is configured or discoverable on this machine."""


class TokenError(GarError):
    """A credential source exists but minting an access token from it failed."""


class RememberedFailureError(GarError):
    """A source that failed moments ago is not tried again yet (see failures.py); same message."""


class EditRefusedError(GarError):
    """A file `configure` will not change: unreadable, unparseable, or holding a conflicting value."""


class Unreachable(Exception):  # noqa: N818 - it names the situation; the caller words the message
    """A federation endpoint could not be reached; `what` names it, `cause` is the transport error."""

    def __init__(self, what: str, cause: BaseException) -> None:
        super().__init__(what)
        self.what, self.cause = what, cause
