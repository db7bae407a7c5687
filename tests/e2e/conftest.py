"""Fixtures for the end-to-end tests: installers built once, a fresh loopback stack per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.e2e.installers import Installers, build_installers, build_tool, pipx_app
from tests.e2e.runs import apply_doctors_pin, doctor_installer
from tests.loopback.keys import ServiceAccountKey, UserCredentials
from tests.loopback.registry import VARIANTS
from tests.loopback.stack import LoopbackStack

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
    variant = getattr(request, "param", None) or os.environ.get(UNKNOWNS_VARIABLE, "strict")
    with LoopbackStack(*identities, ca=private_ca, unknowns=VARIANTS[variant]) as running:
        yield running


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def pdm_with_plugin(installers: Installers, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pdm` with keyring and keyrings.gar in its own venv (`pipx install pdm; pipx inject pdm keyring
    keyrings.gar`): pdm imports keyring. Nothing pinned: what doctor says breaks it is fixed as doctor says."""
    app = pipx_app(installers, tmp_path_factory.mktemp("pdm-with-plugin"), "pdm", "keyring", installers.plugin)
    apply_doctors_pin(app, doctor_installer("pdm", app))
    return app.command


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
