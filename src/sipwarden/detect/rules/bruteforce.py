"""Password brute force: failed authentications per source over short and long windows.

A trusted source (recent successful logins: an office NAT) that keeps failing one single account is a
phone with a stale password, not an attacker: it raises a `misconfigured-device` notice instead of a
ban, so the office is not cut off.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sipwarden.detect.durations import Rate, format_duration
from sipwarden.detect.rules.base import FAILURE_KINDS, Finding, SourceView
from sipwarden.events import Event


class BruteForce:
    """Ban a source whose failures reach any one of several COUNT/DURATION limits."""

    def __init__(self, rates: Sequence[Rate]) -> None:
        self.rates = tuple(rates)
        self.windows = tuple(rate.seconds for rate in self.rates)

    def observe(self, event: Event, source: SourceView) -> list[Finding]:
        """Count a failure; report when a window's limit is reached."""
        if event.kind not in FAILURE_KINDS:
            return []
        # Every window must count the event, so no short-circuit here.
        counts = [source.count(i, event.count) for i in range(len(self.rates))]
        crossed = [(n, rate) for n, rate in zip(counts, self.rates, strict=True) if source.over(n, rate.count)]
        if not crossed:
            return []
        n, rate = crossed[0]
        users = source.usernames()
        within = format_duration(rate.seconds)
        if source.trusted and len(users) <= 1:
            account = users[0] if users else "(unknown)"
            return [
                Finding(
                    scenario="misconfigured-device",
                    action="notice",
                    reason=f"{n} failed logins to account {account} within {within} from a source that also "
                    "logs in successfully: a device with a wrong password, not banned",
                )
            ]
        shown = ", ".join(users[:5]) + (" ..." if len(users) > 5 else "")
        return [
            Finding(
                scenario="bruteforce",
                reason=f"{n} failed authentications within {within} (limit {rate.count})"
                + (f" for {shown}" if shown else ""),
            )
        ]

    def expire(self, now: datetime) -> None:
        """Nothing rule-local to forget (counters live in the source table)."""
