"""Known attack tools (SIPVicious, sipcli, friendly-scanner...): the sensor recognised the tool."""

from __future__ import annotations

from datetime import datetime

from sipwarden.detect.rules.base import Finding, SourceView
from sipwarden.events import Event


class AttackTool:
    """Ban on the first event whose `tool` is set: no legitimate phone calls itself svcrack."""

    windows: tuple[float, ...] = ()

    def observe(self, event: Event, source: SourceView) -> list[Finding]:
        """Report any event carrying a recognised tool."""
        if not event.tool:
            return []
        return [Finding(scenario="attack-tool", reason=f"request from attack tool {event.tool}")]

    def expire(self, now: datetime) -> None:
        """Stateless."""
