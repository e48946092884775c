"""sipwarden.sensors."""
