"""The per-network scoreboard, sans I/O: which networks attack, which were told, which acted.

Addresses are grouped by the network their owner registered (the ownership cache), or by the /24 or
/48 around them when the owner is unknown. After a report is sent at time T, the network's abuse desk
gets `grace` to react; evidence from any address of the network after T + grace means the report
was ignored, and `quiet` without such evidence means the network acted. Time is a parameter, so the
same history always gives the same verdicts.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from sipwarden.intel.owner_cache import address_number
from sipwarden.intel.ownership import FALLBACK_V4_PREFIX, Owner, OwnershipLookup, fallback_network

Verdict = Literal["unreported", "waiting", "acts", "ignores"]
VERDICTS: Final[tuple[Verdict, ...]] = ("ignores", "waiting", "acts", "unreported")


@dataclass(frozen=True, slots=True)
class AddressSeen:
    """One attacking address as the hub knows it."""

    ip: str
    first_seen: datetime
    last_seen: datetime
    events: int


@dataclass(frozen=True, slots=True)
class SentReport:
    """A report that left the hub."""

    ip: str
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class NetworkScore:
    """One line of the scoreboard."""

    network: str
    owner: Owner | None  # None: grouped by the fallback /24 or /48
    addresses: int
    events: int
    first_seen: datetime
    last_seen: datetime
    reports_sent: int
    first_report_at: datetime | None
    last_report_at: datetime | None
    active_after_report: int  # addresses with evidence after the last report's grace period
    verdict: Verdict


def network_of(ip: str, ownership: OwnershipLookup) -> tuple[str, Owner | None]:
    """The scoreboard group of `ip`: its owner's network, else the fallback /24 or /48."""
    owner = ownership.lookup(ip)
    if owner is not None:
        return owner.network, owner
    parsed = address_number(ip)
    if parsed is not None and parsed[0] == 4:
        # The common case without `ipaddress` (see address_number): the /24 as text.
        block = (parsed[1] >> 8 << 8).to_bytes(4, "big")
        return f"{socket.inet_ntop(socket.AF_INET, block)}/{FALLBACK_V4_PREFIX}", None
    return fallback_network(ip) or ip, None


def judge(
    last_report: datetime | None, last_seen: datetime, now: datetime, *, grace: timedelta, quiet: timedelta
) -> Verdict:
    """The verdict on one network from its last report and its last evidence."""
    if last_report is None:
        return "unreported"
    if last_seen > last_report + grace:
        return "ignores"
    if now >= last_report + quiet:
        return "acts"
    return "waiting"


def score(
    addresses: Iterable[AddressSeen],
    reports: Iterable[SentReport],
    ownership: OwnershipLookup,
    now: datetime,
    *,
    grace: timedelta,
    quiet: timedelta,
) -> list[NetworkScore]:
    """The scoreboard: one line per network, those that ignore reports first, then by events."""
    groups: dict[str, tuple[Owner | None, list[AddressSeen]]] = {}
    for address in addresses:
        net, owner = network_of(address.ip, ownership)
        groups.setdefault(net, (owner, []))[1].append(address)
    sent: dict[str, list[datetime]] = {}
    for report in reports:
        net, _ = network_of(report.ip, ownership)
        sent.setdefault(net, []).append(report.sent_at)
    lines = []
    for net, (owner, seen) in groups.items():
        times = sorted(sent.get(net, ()))
        last_report = times[-1] if times else None
        last_seen = max(s.last_seen for s in seen)
        deadline = last_report + grace if last_report else None
        lines.append(
            NetworkScore(
                network=net,
                owner=owner,
                addresses=len(seen),
                events=sum(s.events for s in seen),
                first_seen=min(s.first_seen for s in seen),
                last_seen=last_seen,
                reports_sent=len(times),
                first_report_at=times[0] if times else None,
                last_report_at=last_report,
                active_after_report=sum(1 for s in seen if deadline is not None and s.last_seen > deadline),
                verdict=judge(last_report, last_seen, now, grace=grace, quiet=quiet),
            )
        )
    lines.sort(key=lambda n: (VERDICTS.index(n.verdict), -n.events, n.network))
    return lines
