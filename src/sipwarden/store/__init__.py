"""sipwarden.store."""
