"""sipwarden.audit."""
