"""poetry installs from an Artifact Registry source with credentials from keyrings.gar."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.installers import Installers
from tests.e2e.runs import run_installer
from tests.loopback.stack import JSON_KEY_BASE64, SERVICE_ACCOUNT_KEY, LoopbackStack

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("kind", [SERVICE_ACCOUNT_KEY, JSON_KEY_BASE64])
def test_poetry_install_from_a_source_without_username(
    installers: Installers, stack: LoopbackStack, home: Path, kind: str
) -> None:
    """poetry asks keyring `get_credential(source_url, None)` before its first request; the
    source URL carries no username (poetry would then never ask keyring)."""
    credential = stack.credential(kind, home)
    project = home / "consumer"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        "[project]\n"
        'name = "consumer"\n'
        'version = "0.1.0"\n'
        'requires-python = ">=3.9"\n'
        'dependencies = ["acme-private"]\n\n'
        "[tool.poetry]\n"
        "package-mode = false\n\n"
        "[[tool.poetry.source]]\n"
        'name = "team-repo"\n'
        f'url = "{stack.index_url()}"\n'
        'priority = "primary"\n')
    # The project's venv from the python poetry runs on, not whichever python3 is first on PATH.
    env = {**stack.environ(home), **credential.environ, "POETRY_VIRTUALENVS_IN_PROJECT": "true",
           "POETRY_VIRTUALENVS_USE_POETRY_PYTHON": "true"}
    result = run_installer([installers.poetry, "install", "--no-interaction", "-v"], env, project)

    output = result.stdout + result.stderr
    assert stack.leaked(output) == []
    assert result.returncode == 0, output[-4000:] + "\n".join(stack.registry.log)
    installed = sorted(p.name for p in (project / ".venv").glob("lib/python*/site-packages/acme_*.dist-info"))
    assert installed == ["acme_private-1.0.0.dist-info", "acme_util-1.2.0.dist-info"]
    assert set(stack.registry.logins) == {credential.username}
    assert set(stack.registry.identities) == {credential.identity}
