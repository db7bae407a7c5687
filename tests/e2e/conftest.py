"""Fixtures for the end-to-end tests: installers built once, a fresh loopback stack per test."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from tests.e2e.installers import Installers, PipxApp, build_installers, build_tool, pipx_app
from tests.e2e.runs import apply_doctors_pin, doctor_installer, pdm_install
from tests.loopback.keys import ServiceAccountKey, UserCredentials
from tests.loopback.registry import VARIANTS
from tests.loopback.stack import SERVICE_ACCOUNT_KEY, LoopbackStack

_versions: dict[str, str] = {}
_installers: list[Installers] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _installers:
        _versions.update(_installers[0].versions)
    if _versions:
        terminalreporter.write_line("e2e installers: " + ", ".join(f"{k} {v}" for k, v in _versions.items()))


@pytest.fixture(scope="session")
def installers(tmp_path_factory: pytest.TempPathFactory, dist_folder: Path) -> Installers:
    built = build_installers(tmp_path_factory.mktemp("installers"), dist_folder)
    _installers.append(built)
    return built


@pytest.fixture(scope="session")
def hatch(installers: Installers, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`hatch` in a venv with keyrings.gar (`pipx inject hatch keyrings.gar`): hatch imports keyring."""
    return build_tool(installers, tmp_path_factory.mktemp("hatch"), "hatch", installers.plugin).with_name("hatch")



UNKNOWNS_VARIABLE = "LOOPBACK_AR_UNKNOWNS"
"""`strict` (the default) or `lenient`: how the stand-in answers what no public evidence shows
(tests/loopback/registry.py, VARIANTS), for every e2e test that does not choose."""


@pytest.fixture
def stack(identities: tuple[ServiceAccountKey, UserCredentials], private_ca: trustme.CA,
          request: pytest.FixtureRequest) -> Iterator[LoopbackStack]:
    """A fresh stack; `@pytest.mark.parametrize("stack", sorted(VARIANTS), indirect=True)` runs a
    test under each answer to the unknowns."""
    with _loopback_stack(identities, private_ca, getattr(request, "param", None)) as running:
        yield running


def _loopback_stack(identities: tuple[ServiceAccountKey, UserCredentials], private_ca: trustme.CA,
                    variant: str | None = None) -> LoopbackStack:
    variant = variant or os.environ.get(UNKNOWNS_VARIABLE, "strict")
    return LoopbackStack(*identities, ca=private_ca, unknowns=VARIANTS[variant])


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@dataclass(frozen=True)
class PdmAsUsersGetIt:
    """`pdm` with keyring and keyrings.gar in its own venv (`pipx install pdm; pipx inject pdm keyring
    keyrings.gar`), nothing pinned, and what it did before doctor's pin was applied."""

    app: PipxApp
    hishel: str
    """The hishel version pipx resolved for pdm."""
    unpinned_install: subprocess.CompletedProcess[str]
    """`pdm install` before the pin (tests/e2e/runs.py's pdm_install, service-account key)."""
    doctor_before: str
    """What `keyrings-gar doctor --installer pdm` said then; its pin, if any, has been applied since."""


@pytest.fixture(scope="session")
def pdm_as_users_get_it(installers: Installers, identities: tuple[ServiceAccountKey, UserCredentials],
                        private_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> PdmAsUsersGetIt:
    """Built once a run (a pipx install costs a quarter of a minute): test_pdm.py checks what it did
    before the pin, every other pdm test uses it as doctor left it."""
    where = tmp_path_factory.mktemp("pdm-as-users-get-it")
    app = pipx_app(installers, where, "pdm", "keyring", installers.plugin)
    hishel = subprocess.run([app.python, "-c", "import importlib.metadata as m; print(m.version('hishel'))"],
                            capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    installers.versions["hishel (as pdm gets it)"] = hishel
    with _loopback_stack(identities, private_ca) as stack:
        credential = stack.credential(SERVICE_ACCOUNT_KEY, where / "home")
        unpinned, _ = pdm_install(installers, app.command, stack, where / "home", path=[],
                                  credential_environ=credential.environ)
    before = doctor_installer("pdm", app)
    apply_doctors_pin(app, before)
    return PdmAsUsersGetIt(app, hishel, unpinned, before)


@pytest.fixture(scope="session")
def pdm_with_plugin(pdm_as_users_get_it: PdmAsUsersGetIt) -> Path:
    """`pdm` with keyring and keyrings.gar in its own venv: pdm imports keyring. Nothing pinned but
    what doctor said to pin."""
    return pdm_as_users_get_it.app.command


@pytest.fixture(scope="session")
def pdm_alone(installers: Installers, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pdm` without keyring in its venv (`pipx install pdm`): it runs the `keyring` on PATH."""
    app = pipx_app(installers, tmp_path_factory.mktemp("pdm-alone"), "pdm")
    apply_doctors_pin(app, doctor_installer("pdm", app))
    return app.command


@pytest.fixture(scope="session")
def pip_compile(installers: Installers, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip-compile` (pip-tools) with no keyring beside it: it resolves with pip's own code."""
    return build_tool(installers, tmp_path_factory.mktemp("pip-tools"), "pip-tools").with_name("pip-compile")
