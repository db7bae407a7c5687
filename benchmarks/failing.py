"""Installs whose lookups fail: pip with no credentials at all, and pip with a gcloud that hangs.

The stand-ins: the loopback Artifact Registry behind the TLS proxy (tests/loopback/stack.py),
which answers an anonymous request with 401 so that pip asks keyring, for the index URL and then
for the host; a metadata address that accepts connections and never answers, so each probe costs
its full second, as 169.254.169.254 does off Google Cloud, with every connection counted; and the
fake gcloud (tests/loopback/gcloud.py) in its hanging mode, with every start counted.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from installs import registry_env
from paired import Check, Command, WrongResultError
from venvs import Venv

if TYPE_CHECKING:
    from tests.loopback.gcloud import FakeGcloud
    from tests.loopback.stack import LoopbackStack

HANG_TIMEOUT = 2.0
"""KEYRINGS_GAR_TIMEOUT for the hanging-gcloud runs: short, since the figure is in timeouts."""
NO_CREDENTIALS_LINE = "keyrings.gar: no Google credentials found"


class SilentPort:
    """A loopback TCP port that accepts connections, counts them and never answers."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(128)
        self.connections = 0
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name="silent-port", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._socket.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:  # closed: the benchmark is over
                return
            self.connections += 1
            self._held.append(connection)  # held open and unanswered until close()

    def close(self) -> None:
        self._socket.close()
        for connection in self._held:
            connection.close()


class Tally:
    """Checks that each run made exactly so many of something, counted by `count` (shared by the
    commands of one comparison, which run in turn)."""

    def __init__(self, count: Callable[[], int], what: str) -> None:
        self.count = count
        self.what = what
        self.last = count()

    def expect(self, expected: int, check: Check) -> Check:
        def counted(result: subprocess.CompletedProcess[str]) -> None:
            now = self.count()
            made, self.last = now - self.last, now
            if made != expected:
                raise WrongResultError(f"{made} {self.what} in one run, not {expected}")
            check(result)
        return counted


def pip_failed(says: str | None) -> Check:
    """pip could not install (the registry refused it) and, when `says` is given, printed that line."""
    def check(result: subprocess.CompletedProcess[str]) -> None:
        output = result.stdout + result.stderr
        if result.returncode == 0 or "No matching distribution found for acme-private" not in output:
            raise WrongResultError("pip did not fail for want of credentials")
        if says is not None and says not in output:
            raise WrongResultError(f"pip's output lacks {says!r}")
    return check


def keyring_failed(result: subprocess.CompletedProcess[str]) -> None:
    if result.returncode != 1 or result.stdout:
        raise WrongResultError("expected no answer and keyring's 'not found' exit status 1")


class FailingInstalls:
    """Commands for pip installs (and single lookups) against the stack, with nothing configured."""

    def __init__(self, stack: LoopbackStack, workdir: Path, base_env: Callable[[Venv, str], dict[str, str]]) -> None:
        self.stack = stack
        self.workdir = workdir
        self.base_env = base_env
        self.silent = SilentPort()
        self.ca_file = workdir / "private-ca.pem"
        stack.proxy.write_ca(self.ca_file)

    def env(self, venv: Venv, scenario: str, path: list[Path] | None = None) -> dict[str, str]:
        """The benchmark's clean environment without any credential, the registry reachable by
        name through the proxy, and the metadata server silent."""
        env = registry_env(self.base_env(venv, scenario), self.stack, self.ca_file)
        env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
        env.update({"GCE_METADATA_HOST": self.silent.address, "GCE_METADATA_IP": self.silent.address})
        if path:
            env["PATH"] = os.pathsep.join([*(str(p) for p in path), env["PATH"]])
        return env

    def pip_install(self, venv: Venv, scenario: str, provider: str, check: Check, *, repositories: int = 1,
                    extra_env: dict[str, str] | None = None, path: list[Path] | None = None) -> Command:
        """pip with keyring (and the plugin, if `venv` has it) beside it for the import provider;
        for the subprocess provider, the harness's pip running `venv`'s `keyring` from PATH (pip
        skips one in its own environment), with the username in the URL as pip before 26.2 needs.
        With two repositories, the second (same host, same identity) is an extra index."""
        env = {**self.env(venv, scenario, [*(path or []), venv.bin]), **(extra_env or {})}
        if provider == "import":
            python, url = str(venv.python), self.stack.index_url()
        else:
            python, url = sys.executable, self.stack.index_url("oauth2accesstoken")
        home = Path(env["HOME"])
        argv = [python, "-m", "pip", "install", "--no-input", "--keyring-provider", provider,
                "--target", str(home / "target"), "--index-url", url, "acme-private"]
        for number in range(2, repositories + 1):
            argv += ["--extra-index-url", url.replace("/simple/", f"-{number}/simple/")]
        return Command(f"pip {provider} {venv.name} {scenario}", argv, env, check, home, fresh_cache=True)

    def keyring_get(self, venv: Venv, scenario: str, check: Check) -> Command:
        env = self.env(venv, scenario)
        return Command(f"keyring get {venv.name} {scenario}",
                       [str(venv.keyring), "get", self.stack.index_url(), "oauth2accesstoken"], env, check,
                       Path(env["HOME"]), fresh_cache=True)

    def hanging_gcloud(self, venv: Venv, scenario: str) -> FakeGcloud:
        """The fake gcloud, logged in and hanging, for `venv`'s runs in `scenario`."""
        from tests.loopback.gcloud import FakeGcloud

        env = self.env(venv, scenario)
        gcloud = FakeGcloud(self.workdir / f"gcloud-{venv.path.name}-{scenario}", self.stack.google,
                            Path(env["CLOUDSDK_CONFIG"]))
        gcloud.login(self.stack.user)
        gcloud.set_mode("hang")
        return gcloud

    def close(self) -> None:
        self.silent.close()
