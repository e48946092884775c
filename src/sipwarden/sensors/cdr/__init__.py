"""sipwarden.sensors.cdr."""
