"""The `keyrings-gar` command: diagnosis, configuration and reports; a lookup never imports it."""
