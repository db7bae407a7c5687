"""Running a real installer against the loopback stack, and what every e2e test checks after."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.loopback.stack import Credential, LoopbackStack

RUN_TIMEOUT = 180


def run_installer(command: list[str | Path], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run an installer the way a user would: no terminal, no input."""
    return subprocess.run([str(part) for part in command], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL, check=False)


def assert_installed(result: subprocess.CompletedProcess[str], stack: LoopbackStack, target: Path,
                     credential: Credential) -> None:
    """The install succeeded, with the expected credential only, and printed no secret."""
    output = result.stdout + result.stderr
    leaked = stack.leaked(output)
    assert leaked == [], f"the installer printed secrets: {leaked}"  # before any output is shown
    assert result.returncode == 0, f"{output[-4000:]}\nregistry:\n" + "\n".join(stack.registry.log)
    imported = subprocess.run([sys.executable, "-c", "import acme_private; print(acme_private.MESSAGE)"],
                              env={"PYTHONPATH": str(target)}, capture_output=True, text=True, timeout=60,
                              check=False)
    assert imported.stdout.strip() == "hello from a private package", imported.stderr
    assert set(stack.registry.logins) == {credential.username}, stack.registry.log
    assert set(stack.registry.identities) == {credential.identity}, stack.registry.log
