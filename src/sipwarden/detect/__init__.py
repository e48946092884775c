"""sipwarden.detect."""
