"""sipwarden.sensors.logs."""
