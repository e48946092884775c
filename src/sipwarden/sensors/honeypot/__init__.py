"""sipwarden.sensors.honeypot."""
