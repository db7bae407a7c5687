"""Fixtures for the end-to-end tests: installers built once, a fresh loopback stack per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.e2e.installers import Installers, build_installers, build_tool
from tests.loopback.keys import ServiceAccountKey, UserCredentials
from tests.loopback.registry import VARIANTS
from tests.loopback.stack import LoopbackStack, new_identities

_versions: dict[str, str] = {}
_installers: list[Installers] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _installers:
        _versions.update(_installers[0].versions)
    if _versions:
        terminalreporter.write_line("e2e installers: " + ", ".join(f"{k} {v}" for k, v in _versions.items()))


@pytest.fixture(scope="session")
def installers(tmp_path_factory: pytest.TempPathFactory) -> Installers:
    built = build_installers(tmp_path_factory.mktemp("installers"))
    _installers.append(built)
    return built


@pytest.fixture(scope="session")
def hatch(installers: Installers, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`hatch` in a venv with keyrings.gar (`pipx inject hatch keyrings.gar`): hatch imports keyring."""
    return build_tool(installers, tmp_path_factory.mktemp("hatch"), "hatch", installers.plugin).with_name("hatch")


@pytest.fixture(scope="session")
def identities() -> tuple[ServiceAccountKey, UserCredentials]:
    return new_identities()


@pytest.fixture(scope="session")
def private_ca() -> trustme.CA:
    return trustme.CA()


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
    """`pdm` with keyring and keyrings.gar in its own venv (`pipx inject pdm keyring keyrings.gar`):
    pdm imports keyring. hishel<2: pdm 2.29 crashes with hishel 2.0 (no `SyncSqliteStorage`)."""
    return build_tool(installers, tmp_path_factory.mktemp("pdm-with-plugin"), "pdm", "hishel<2", "keyring",
                      installers.plugin).with_name("pdm")


@pytest.fixture(scope="session")
def pdm_alone(installers: Installers, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pdm` without keyring in its venv: it runs the `keyring` on PATH. hishel<2 as above."""
    return build_tool(installers, tmp_path_factory.mktemp("pdm-alone"), "pdm", "hishel<2").with_name("pdm")


@pytest.fixture(scope="session")
def pip_compile(installers: Installers, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip-compile` (pip-tools) with no keyring beside it: it resolves with pip's own code."""
    return build_tool(installers, tmp_path_factory.mktemp("pip-tools"), "pip-tools").with_name("pip-compile")
