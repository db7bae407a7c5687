"""The installers under test, each in its own venv as users set them up, built once per run.

Current pip, uv, twine and poetry from the package index (nothing pinned; pdm, hatch and pip-tools
on first use), plus keyrings.gar as the wheel built from this checkout (once per run: tests/conftest.py's
`dist_folder`), so packaging mistakes (a missing module, a broken entry point) fail here as they
would for users.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

SETUP_TIMEOUT = 300


@dataclass(frozen=True)
class Installers:
    uv: Path
    pip_with_plugin: Path
    """python of a venv with pip, keyring and keyrings.gar: `pip install keyring keyrings.gar`."""
    pip_alone: Path
    """python of a venv with pip and a plain keyring without the plugin, which pip must skip."""
    keyring_bin: Path
    """A folder holding only `keyring`, linked to a venv with keyring and keyrings.gar: what
    `pipx install keyring; pipx inject keyring keyrings.gar` leaves in ~/.local/bin."""
    twine: Path
    poetry: Path
    plugin: Path
    """The keyrings.gar wheel built from this checkout."""
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def pip_alone_bin(self) -> Path:
        return self.pip_alone.parent


def _run(*args: str | Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=SETUP_TIMEOUT,
                            check=False, stdin=subprocess.DEVNULL, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"setting up the installers failed: {' '.join(map(str, args))}\n"
                           f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def _venv(uv: Path, where: Path, *requirements: str | Path) -> Path:
    """A venv at `where` with `requirements` installed; its python."""
    _run(uv, "venv", "--quiet", "--python", sys.executable, where)
    python = where / ("Scripts" if os.name == "nt" else "bin") / "python"
    _run(uv, "pip", "install", "--quiet", "--python", python, *requirements)
    return python


def _version(python: Path, distribution: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({distribution!r}))"
    return _run(python, "-c", code).strip()


def build_installers(workdir: Path, dist_folder: Path) -> Installers:
    """Every installer's venv under `workdir`, with the plugin wheel from `dist_folder` (the run's
    one build, tests/conftest.py's `dist_folder`)."""
    uv = Path(sys.executable).with_name("uv")
    [plugin] = dist_folder.glob("keyrings_gar-*.whl")
    pipx_keyring = _venv(uv, workdir / "pipx-keyring", "keyring", plugin)
    keyring_bin = workdir / "pipx-bin"
    keyring_bin.mkdir()
    (keyring_bin / "keyring").symlink_to(pipx_keyring.with_name("keyring"))
    installers = Installers(
        uv=uv,
        pip_with_plugin=_venv(uv, workdir / "pip-with-plugin", "pip", "keyring", plugin),
        pip_alone=_venv(uv, workdir / "pip-alone", "pip", "keyring"),
        keyring_bin=keyring_bin,
        twine=_venv(uv, workdir / "twine", "twine", plugin).with_name("twine"),
        poetry=_venv(uv, workdir / "poetry", "poetry", plugin).with_name("poetry"),
        plugin=plugin,
    )
    installers.versions.update({
        "pip": _version(installers.pip_with_plugin, "pip"),
        "uv": _run(uv, "--version").split()[1],
        "twine": _version(installers.twine.with_name("python"), "twine"),
        "poetry": _version(installers.poetry.with_name("python"), "poetry"),
        "keyring": _version(pipx_keyring, "keyring"),
    })
    return installers


def build_tool(installers: Installers, where: Path, distribution: str, *requirements: str | Path) -> Path:
    """One more installer's venv, built only when a test needs it (pdm, hatch and pip-tools add
    half a minute each); its python. The version goes into the run's summary."""
    python = _venv(installers.uv, where, distribution, *requirements)
    installers.versions[distribution] = _version(python, distribution)
    return python


@dataclass(frozen=True)
class PipxApp:
    """An application installed with a real pipx, its home under one folder, nothing pinned: what
    `pipx install APP; pipx inject APP …` gives a user today."""

    command: Path
    """The app's command in pipx's bin folder (a link into its venv)."""
    python: Path
    environ: dict[str, str]
    """The environment pipx ran in: `pipx` on PATH, PIPX_HOME and its bin folder under the one folder."""


_PIPX: dict[Path, Path] = {}
"""pipx itself, one venv per run (by the uv that built it), beside the one venv of shared libraries
(pip) it makes on first use, as a user's pipx has: each app still has a home of its own."""


def pipx_app(installers: Installers, where: Path, app: str, *injects: str | Path) -> PipxApp:
    """`pipx install app` and `pipx inject app *injects` with its own pipx home under `where`."""
    if installers.uv not in _PIPX:
        _PIPX[installers.uv] = _venv(installers.uv, where / "pipx-itself", "pipx").with_name("pipx")
    pipx = _PIPX[installers.uv]
    home = where / "pipx"
    environ = {**os.environ, "PIPX_HOME": str(home), "PIPX_BIN_DIR": str(home / "bin"),
               "PIPX_MAN_DIR": str(home / "man"), "PIPX_SHARED_LIBS": str(pipx.parents[1].with_name("pipx-shared")),
               "PATH": f"{pipx.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    _run(pipx, "install", app, env=environ)
    if injects:
        _run(pipx, "inject", app, *injects, env=environ)
    python = home / "venvs" / app / "bin" / "python"
    installers.versions[app] = _version(python, app)
    return PipxApp(home / "bin" / app, python, environ)
