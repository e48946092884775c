"""sipwarden.agent."""
