"""sipwarden.hub."""
