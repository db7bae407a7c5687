"""The TOML reader tests check written files with: what configure itself parses them with."""

from __future__ import annotations

from types import ModuleType

import pytest


def toml_reader() -> ModuleType:
    """tomllib on Python 3.11+, tomli (a test dependency) before; a skip only where neither is."""
    try:
        import tomllib
    except ImportError:
        tomli: ModuleType = pytest.importorskip("tomli")
        return tomli
    return tomllib
