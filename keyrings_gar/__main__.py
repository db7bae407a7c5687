"""`python -m keyrings_gar`: the `keyrings-gar` command."""

from __future__ import annotations

from .command.cli import main

raise SystemExit(main())
