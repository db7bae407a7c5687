"""Keyring backend for Google Artifact Registry Python repositories."""

__version__ = "0.1.0"
