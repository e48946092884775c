"""Any contact with the honeypot: nobody has a reason to talk to it, so every source is hostile."""

from __future__ import annotations

from datetime import datetime

from sipwarden.detect.rules.base import Finding, SourceView
from sipwarden.events import Event


class HoneypotContact:
    """Ban every source that the honeypot saw."""

    windows: tuple[float, ...] = ()

    def observe(self, event: Event, source: SourceView) -> list[Finding]:
        """Report any honeypot event."""
        if event.source != "honeypot":
            return []
        what = event.method or event.kind
        return [Finding(scenario="honeypot-contact", reason=f"contacted the honeypot ({what})")]

    def expire(self, now: datetime) -> None:
        """Stateless."""
