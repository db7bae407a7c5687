"""Loopback stand-ins for what cannot exist here: Google's token endpoints and Artifact Registry."""
