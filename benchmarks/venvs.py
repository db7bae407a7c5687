"""The benchmark's virtual environments: bare keyring, keyrings.gar from the checkout, Google's plugin.

Standard library only: this runs under whatever `python3` started the benchmark, before the
harness venv (which has cryptography for the loopback token endpoint) exists.

Every venv gets the same keyring version and the `emptyring` backend (see emptyring/), and the
shared dependencies are pinned to what the keyrings.gar venv resolved, so the venvs differ only
in the plugin. A venv is reused while the marker file it carries still matches what it should
hold; keyrings.gar's marker includes a hash of the checkout's package files, so a code change
reinstalls it (non-editable, as a user's `pip install` does).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

KEYRING_VERSION = "25.7.0"
OFFICIAL_PLUGIN = "keyrings.google-artifactregistry-auth==1.1.2"
MARKER = "bench-spec.txt"

BARE, GAR, OFFICIAL, HARNESS = "bare", "keyrings.gar", "official", "harness"


@dataclass(frozen=True)
class Venv:
    name: str
    path: Path

    @property
    def bin(self) -> Path:
        return self.path / ("Scripts" if sys.platform == "win32" else "bin")

    @property
    def python(self) -> Path:
        return self.bin / ("python.exe" if sys.platform == "win32" else "python")

    @property
    def keyring(self) -> Path:
        return self.bin / ("keyring.exe" if sys.platform == "win32" else "keyring")


def _source_hash(repo: Path) -> str:
    """What a non-editable install of the checkout contains, hashed."""
    digest = hashlib.sha256()
    for path in sorted([repo / "pyproject.toml", *(repo / "keyrings_gar").rglob("*")]):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(repo).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _pip(venv: Venv, *args: str) -> None:
    command = [str(venv.python), "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"benchmark: `pip {' '.join(args)}` failed in {venv.path}")


def _fresh(venv: Venv, python: str) -> None:
    if venv.path.exists():
        shutil.rmtree(venv.path)
    subprocess.run([python, "-m", "venv", str(venv.path)], check=True)


def _is_current(venv: Venv, spec: str) -> bool:
    marker = venv.path / MARKER
    return venv.python.exists() and marker.is_file() and marker.read_text() == spec


def venvs_under(root: Path) -> dict[str, Venv]:
    """The four venvs' places under `root` (built or not)."""
    return {name: Venv(name, root / name.replace(".", "-")) for name in (BARE, GAR, OFFICIAL, HARNESS)}


def ensure_venvs(root: Path, repo: Path, python: str, rebuild: bool = False, log: bool = True) -> dict[str, Venv]:
    """The four venvs under `root`, built or updated as needed."""
    root.mkdir(parents=True, exist_ok=True)
    venvs = venvs_under(root)
    emptyring = _staged(repo / "benchmarks" / "emptyring", root / "src" / "emptyring",
                        ["pyproject.toml", "emptyring.py"])
    constraints = root / "constraints.txt"
    base = f"python={python} keyring=={KEYRING_VERSION} emptyring={_source_hash_of(emptyring)}\n"

    def say(message: str) -> None:
        if log:
            print(f"benchmark: {message}", flush=True)

    gar = venvs[GAR]
    gar_spec = base + f"keyrings.gar={_source_hash(repo)}\n"
    if rebuild or not _is_current(gar, gar_spec):
        if rebuild or not gar.python.exists():
            say(f"building {gar.path}")
            _fresh(gar, python)
        else:
            say(f"reinstalling keyrings.gar from the checkout into {gar.path}")
            (gar.path / MARKER).unlink(missing_ok=True)
        # Non-editable, as users install it, and built from a copy so that no build leftovers
        # land in the checkout; --force-reinstall picks up a change under an unchanged version.
        source = _staged(repo, root / "src" / "keyrings.gar",
                         ["pyproject.toml", "README.md", "LICENSE", "keyrings_gar"])
        _pip(gar, "install", "--quiet", "--force-reinstall", "--no-deps", str(source))
        _pip(gar, "install", "--quiet", f"keyring=={KEYRING_VERSION}", str(source), str(emptyring))
        frozen = subprocess.run([str(gar.python), "-m", "pip", "freeze", "--disable-pip-version-check"],
                                capture_output=True, text=True, check=True).stdout
        pins = [line for line in frozen.splitlines()
                if "==" in line and not line.lower().startswith(("keyrings.gar", "keyrings-gar"))]
        constraints.write_text("\n".join(pins) + "\n")
        (gar.path / MARKER).write_text(gar_spec)

    pinned = base + constraints.read_text()
    wanted = {
        BARE: [f"keyring=={KEYRING_VERSION}", str(emptyring)],
        OFFICIAL: [f"keyring=={KEYRING_VERSION}", OFFICIAL_PLUGIN, str(emptyring)],
        # cryptography for the loopback token endpoint, trustme for the TLS proxies' private CA,
        # uv for the whole-install figures (installs.py).
        HARNESS: ["cryptography", "trustme", "uv"],
    }
    for name, requirements in wanted.items():
        venv = venvs[name]
        spec = pinned + " ".join(requirements) + "\n"
        if not rebuild and _is_current(venv, spec):
            continue
        say(f"building {venv.path}")
        _fresh(venv, python)
        _pip(venv, "install", "--quiet", "-c", str(constraints), *requirements)
        (venv.path / MARKER).write_text(spec)
    return venvs


def _staged(source: Path, destination: Path, names: list[str]) -> Path:
    """A fresh copy of `names` from `source` (no caches, no build leftovers) at `destination`."""
    if destination.exists():
        shutil.rmtree(destination)
    destination.mkdir(parents=True)
    for name in names:
        if (source / name).is_dir():
            shutil.copytree(source / name, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source / name, destination / name)
    return destination


def _source_hash_of(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.*")):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def installed_versions(venv: Venv, *distributions: str) -> dict[str, str]:
    """Installed versions of `distributions` in `venv` (missing ones are left out)."""
    code = (
        "import sys, importlib.metadata as m\n"
        "for name in sys.argv[1:]:\n"
        "    try: print(name, m.version(name))\n"
        "    except m.PackageNotFoundError: pass\n"
    )
    out = subprocess.run([str(venv.python), "-c", code, *distributions], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONNOUSERSITE": "1"}).stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
