"""A keyring backend that is viable and has nothing stored: the benchmark's stand-in for an OS keyring.

On a headless machine keyring finds no backend at all and `keyring get` dies with NoKeyringError
and a traceback instead of answering None. Every benchmark venv gets this backend, so bare
keyring answers None the way it does on a desktop with an empty OS keyring, and keyring's
chainer runs in every venv that has a plugin, as it does for users.
"""

from __future__ import annotations

from keyring.backend import KeyringBackend


class EmptyKeyring(KeyringBackend):
    priority = 1.0  # viable, and below every real backend

    def get_password(self, service: str, username: str) -> str | None:
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        raise NotImplementedError

    def delete_password(self, service: str, username: str) -> None:
        raise NotImplementedError
