"""pip-tools' pip-compile resolves against Artifact Registry with pip's keyring support."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.installers import Installers
from tests.e2e.runs import run_installer, secrets_written
from tests.loopback.stack import SERVICE_ACCOUNT_KEY, USER_ADC, LoopbackStack

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("kind", [SERVICE_ACCOUNT_KEY, USER_ADC])
def test_pip_compile_with_the_subprocess_provider_writes_no_credential(
    pip_compile: Path, installers: Installers, stack: LoopbackStack, home: Path, kind: str
) -> None:
    """`--pip-args "--keyring-provider subprocess"` hands the option to pip's resolver, which runs
    the `keyring` on PATH after a 401; the lock file names the index URL, with no credential."""
    credential = stack.credential(kind, home)
    project = home / "project"
    project.mkdir()
    (project / "requirements.in").write_text("acme-private\n")
    env = {**stack.environ(home, [installers.keyring_bin]), **credential.environ, "PIP_CONFIG_FILE": os.devnull,
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    result = run_installer([pip_compile, "--no-header", "--emit-index-url", "--index-url", stack.index_url(),
                            "--pip-args", "--keyring-provider subprocess", "--output-file", "requirements.txt",
                            "requirements.in"], env, project)
    output = result.stdout + result.stderr
    assert stack.leaked(output) == []
    assert result.returncode == 0, output[-4000:] + "\n".join(stack.registry.log)
    lock = (project / "requirements.txt").read_text()
    assert "acme-private==1.0.0" in lock
    assert "acme-util==1.2.0" in lock
    assert f"--index-url {stack.index_url()}" in lock
    assert set(stack.registry.logins) == {credential.username}
    assert set(stack.registry.identities) == {credential.identity}
    assert secrets_written(stack, home) == []
