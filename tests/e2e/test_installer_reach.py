"""`keyrings-gar doctor --installer poetry` agrees with what the real poetry then does: a poetry in its
own (pipx-style) venv without the plugin fails to authenticate and doctor says so with the fix; once
the plugin is injected there, doctor says OK and poetry installs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import console_script
from tests.e2e.installers import Installers, build_tool
from tests.e2e.runs import run_installer
from tests.loopback.stack import SERVICE_ACCOUNT_KEY, LoopbackStack

pytestmark = pytest.mark.e2e


def _project(home: Path, index_url: str) -> Path:
    project = home / "consumer"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "consumer"\nversion = "0.1.0"\nrequires-python = ">=3.9"\n'
        'dependencies = ["acme-private"]\n\n[tool.poetry]\npackage-mode = false\n\n'
        f'[[tool.poetry.source]]\nname = "team-repo"\nurl = "{index_url}"\npriority = "primary"\n')
    return project


def test_doctor_says_whether_poetry_reaches_the_plugin_as_poetry_then_does(
    installers: Installers, stack: LoopbackStack, home: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Where `pipx install poetry` puts it, with the `poetry` link in a bin folder on PATH.
    venvs = tmp_path_factory.mktemp("tools") / "pipx" / "venvs"
    python = build_tool(installers, venvs / "poetry", "poetry")
    local_bin = home / ".local" / "bin"
    local_bin.mkdir(parents=True)
    (local_bin / "poetry").symlink_to(python.with_name("poetry"))
    env = {**stack.environ(home, [local_bin]), **stack.credential(SERVICE_ACCOUNT_KEY, home).environ,
           "POETRY_VIRTUALENVS_IN_PROJECT": "true", "POETRY_VIRTUALENVS_USE_POETRY_PYTHON": "true"}
    project = _project(home, stack.index_url())

    def doctor() -> subprocess.CompletedProcess[str]:
        return subprocess.run([console_script("keyrings-gar"), "doctor", "--installer", "poetry", stack.index_url()],
                              capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL,
                              check=False)

    before = doctor()
    assert before.returncode == 1, before.stdout
    version = installers.versions["poetry"]
    assert f"poetry {version} will not reach keyrings.gar" in before.stdout  # doctor names what it checked
    assert "install it there: pipx inject poetry " in before.stdout  # then this checkout, or keyrings.gar
    refused = run_installer(["poetry", "install", "--no-interaction"], env, project)
    assert refused.returncode != 0  # poetry agrees: no credential from keyring

    # What `pipx inject poetry keyrings.gar` does.
    subprocess.run([str(installers.uv), "pip", "install", "--quiet", "--python", str(python), str(installers.plugin)],
                   check=True, timeout=300, capture_output=True)
    after = doctor()
    assert after.returncode == 0, after.stdout
    assert f"poetry {version} loads keyring" in after.stdout
    installed = run_installer(["poetry", "install", "--no-interaction"], env, project)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    for result in (before, after, refused, installed):
        assert stack.leaked(result.stdout + result.stderr) == []
