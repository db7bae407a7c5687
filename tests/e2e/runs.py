"""Running a real installer against the loopback stack, and what every e2e test checks after."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from keyrings_gar.command.installer_settings import settings_text
from tests.conftest import console_script
from tests.e2e.installers import Installers, PipxApp
from tests.loopback.stack import Credential, LoopbackStack

RUN_TIMEOUT = 180


def run_installer(command: list[str | Path], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run an installer the way a user would: no terminal, no input."""
    return subprocess.run([str(part) for part in command], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL, check=False)


def pdm_venv(installers: Installers, project: Path) -> dict[str, str]:
    """The project's own venv, made beforehand, and the environment pdm needs to use it: PDM_PYTHON
    names it (given any other interpreter, pdm installs into that interpreter's environment), and no
    update check (it would ask PyPI)."""
    venv = project / ".venv"
    run_installer([installers.uv, "venv", "--quiet", "--python", sys.executable, venv], {}, project)
    return {"PDM_PYTHON": str(venv / "bin" / "python"), "PDM_CHECK_UPDATE": "false"}


def pdm_install(installers: Installers, pdm: Path, stack: LoopbackStack, home: Path, *, path: list[Path],
                credential_environ: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`pdm install -v` in a fresh project under `home` whose source is what `keyrings-gar settings
    pdm` prints (no credential in it): its result and the project."""
    project = home / "consumer"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "consumer"\nversion = "0.1.0"\nrequires-python = ">=3.9"\n'
        'dependencies = ["acme-private"]\n\n[tool.pdm]\ndistribution = false\n\n'
        f"{settings_text('pdm', stack.index_url())}\n")
    # PyPI stays one of pdm's sources unless PDM_PYPI_URL moves it: onto the repository, so that
    # nothing but the loopback registry is asked.
    env = {**stack.environ(home, path), **credential_environ, **pdm_venv(installers, project),
           "PDM_PYPI_URL": stack.index_url()}
    return run_installer([pdm, "install", "-v"], env, project), project


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


# What a user holds on purpose (the key file, gcloud's ADC) and our own token cache, which holds
# tokens by design with owner-only permissions (in the runtime folder the stack gives each home,
# XDG_RUNTIME_DIR=home/run): everything else must stay free of secrets.
_CREDENTIAL_STORES = (Path("keys"), Path(".config", "gcloud"), Path("run", "keyrings-gar"))
_SCAN_LIMIT_BYTES = 4 * 1024 * 1024


def secrets_written(stack: LoopbackStack, home: Path, also: Iterable[Path] = ()) -> list[str]:
    """`path: fingerprint` for every file under `home` (and `also`) holding a secret: lock files,
    installer configs and caches, venv metadata (`direct_url.json` with a credential in its URL)."""
    skipped = [home / store for store in _CREDENTIAL_STORES]
    found: list[str] = []
    for root in (home, *also):
        for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
            if any(path.is_relative_to(s) for s in skipped) or path.stat().st_size > _SCAN_LIMIT_BYTES:
                continue
            text = path.read_bytes().decode("utf-8", "replace")
            found.extend(f"{path.relative_to(root)}: {fingerprint}" for fingerprint in stack.leaked(text))
    return found


def doctor_installer(tool: str, app: PipxApp) -> str:
    """What `keyrings-gar doctor --installer TOOL` prints with only `app`'s bin folder on PATH."""
    env = {"PATH": str(app.command.parent), "HOME": app.environ["PIPX_HOME"], "LANG": "C.UTF-8"}
    done = subprocess.run([console_script("keyrings-gar"), "doctor", "--installer", tool], env=env, text=True,
                          capture_output=True, timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL, check=False)
    return done.stdout + done.stderr


def doctors_pin(said: str) -> list[str] | None:
    """The pin command in doctor's output (`…; pin it there: COMMAND`), split as a shell would; None if none."""
    found = re.search(r"pin it there: (.+)$", said, re.MULTILINE)
    return shlex.split(found.group(1)) if found else None


def apply_doctors_pin(app: PipxApp, said: str) -> list[str] | None:
    """Run the pin doctor printed, as the user would paste it (with pipx on PATH); what was run."""
    command = doctors_pin(said)
    if command is not None:
        done = subprocess.run(command, env=app.environ, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                              stdin=subprocess.DEVNULL, check=False)
        assert done.returncode == 0, f"doctor's fix failed: {command}\n{done.stdout}{done.stderr}"
    return command
