"""`python -m keyrings_gar`: the `keyrings-gar` command."""

from .command.cli import main

raise SystemExit(main())
