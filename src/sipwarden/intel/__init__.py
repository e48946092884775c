"""sipwarden.intel."""
