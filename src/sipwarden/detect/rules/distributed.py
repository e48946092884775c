"""Distributed brute force: many sources failing one account, each staying under the per-source limits.

The result is an `account` decision (the account is under attack: a strong password or a lock is
due). Optionally the /24 (IPv4) or /64 (IPv6) of every source is banned as a `range`.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from typing import Final

from sipwarden.detect.durations import Rate, format_duration
from sipwarden.detect.rules.base import FAILURE_KINDS, Finding, SourceView
from sipwarden.events import Event

#: Accounts followed at once; beyond it the oldest is forgotten (an attacker inventing usernames
#: must not grow memory without bound).
MAX_ACCOUNTS: Final = 100_000
#: Evidence ids kept per account.
MAX_ACCOUNT_EVIDENCE: Final = 20
RANGE_PREFIX_V4: Final = 24
RANGE_PREFIX_V6: Final = 64


class _Account:
    __slots__ = ("evidence", "sources")

    def __init__(self) -> None:
        self.sources: dict[str, datetime] = {}
        self.evidence: tuple[str, ...] = ()


class DistributedBruteForce:
    """Report an account failed by `rate.count` distinct sources within the window."""

    windows: tuple[float, ...] = ()

    def __init__(self, rate: Rate, *, range_ban: bool) -> None:
        self.rate = rate
        self.window = timedelta(seconds=rate.seconds)
        self.range_ban = range_ban
        self._accounts: dict[str, _Account] = {}

    def observe(self, event: Event, source: SourceView) -> list[Finding]:
        """Record which source failed which account."""
        if event.kind not in FAILURE_KINDS or not event.username:
            return []
        account = self._accounts.get(event.username)
        if account is None:
            if len(self._accounts) >= MAX_ACCOUNTS:
                self._accounts.pop(next(iter(self._accounts)))
            account = self._accounts[event.username] = _Account()
        sources = account.sources
        sources.pop(source.address, None)
        sources[source.address] = event.ts  # insertion order = last-seen order
        while sources and event.ts - next(iter(sources.values())) > self.window:
            sources.pop(next(iter(sources)))
        if len(sources) > self.rate.count * 4:
            sources.pop(next(iter(sources)))  # bounded: the limit is reached long before this
        account.evidence = (*account.evidence, event.id)[-MAX_ACCOUNT_EVIDENCE:]
        if len(sources) < self.rate.count:
            return []
        findings = [
            Finding(
                scenario="distributed-bruteforce",
                scope="account",
                value=event.username,
                action="watch",
                reason=f"account {event.username} failed from {len(sources)} sources within "
                f"{format_duration(self.rate.seconds)} (limit {self.rate.count})",
                evidence=account.evidence,
            )
        ]
        if self.range_ban:
            ranges = sorted({_range_of(ip) for ip in sources})
            findings += [
                Finding(
                    scenario="distributed-bruteforce",
                    scope="range",
                    value=net,
                    reason=f"part of a distributed attack on account {event.username}",
                    evidence=account.evidence,
                )
                for net in ranges
            ]
        return findings

    def expire(self, now: datetime) -> None:
        """Forget accounts with no failure within the window."""
        for name in [n for n, a in self._accounts.items() if all(now - t > self.window for t in a.sources.values())]:
            del self._accounts[name]


def _range_of(ip: str) -> str:
    addr = ipaddress.ip_address(ip)
    prefix = RANGE_PREFIX_V4 if addr.version == 4 else RANGE_PREFIX_V6
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))
