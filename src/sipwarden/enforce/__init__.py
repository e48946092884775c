"""sipwarden.enforce."""
