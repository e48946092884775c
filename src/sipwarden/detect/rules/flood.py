"""Floods: too many requests of any kind from one source (`flood` events carry their count)."""

from __future__ import annotations

from datetime import datetime

from sipwarden.detect.durations import Rate, format_duration
from sipwarden.detect.rules.base import Finding, SourceView
from sipwarden.events import Event


class Flood:
    """Ban a source whose events (weighted by `count`) reach the limit within the window."""

    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self.windows: tuple[float, ...] = (rate.seconds,)

    def observe(self, event: Event, source: SourceView) -> list[Finding]:
        """Count every event; report when the window is full."""
        n = source.count(0, event.count)
        if not source.over(n, self.rate.count):
            return []
        return [
            Finding(
                scenario="flood",
                reason=f"{n} requests within {format_duration(self.rate.seconds)} (limit {self.rate.count})",
            )
        ]

    def expire(self, now: datetime) -> None:
        """Counters live in the source table."""
