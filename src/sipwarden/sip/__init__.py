"""sipwarden.sip."""
