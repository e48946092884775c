"""The listing policy, sans I/O: which evidence lists an address, and which addresses never are.

Anti-poisoning (the hub's first duty): one untrusted reporter cannot list anybody; an address is
listed on evidence from a trusted sensor (a honeypot contact or a local ban with its evidence), or
when independent reporters, weighted by trust, reach `reporters_to_list`. Private, reserved, loopback
and allowlisted ranges are never listed, whoever reports them: a poisoned feed that bans 10.0.0.0/8
or the operator's own SBC would take a whole fleet offline.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sipwarden.events import Event

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Ranges that are never listed, on top of what `ipaddress` calls private/reserved/loopback/...
#: (RFC 6890 special-purpose registries; 100.64/10 is carrier-grade NAT, RFC 6598, where whole
#: customer populations share addresses; 192.0.0.0/24 and 2001::/23 are IETF protocol assignments).
GLOBAL_NEVER_LIST: Final[tuple[str, ...]] = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/3",
    "::/127",
    "64:ff9b:1::/48",
    "100::/64",
    "2001::/23",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
)

#: Event kinds that prove hostile intent when a trusted honeypot sees them: nobody legitimate
#: talks to a honeypot at all (it has no users), so any contact is evidence.
HONEYPOT_KINDS: Final = frozenset(
    {"probe", "register", "auth_failure", "unknown_user", "auth_success", "call_attempt", "call_answered", "flood"}
)
#: Event kinds that count as evidence from a PBX sensor (a refused request, not a normal call).
HOSTILE_KINDS: Final = frozenset(
    {"auth_failure", "unknown_user", "acl_denied", "call_rejected", "flood", "blocked", "fraud_call", "malformed"}
)


class NeverList:
    """The ranges that are never listed: global special-purpose ones plus the operator's allowlist."""

    def __init__(self, allowlist: Iterable[str] = ()) -> None:
        """Build from CIDR texts; ValueError names a bad entry."""
        nets: list[IPNetwork] = []
        for text in (*GLOBAL_NEVER_LIST, *allowlist):
            try:
                nets.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise ValueError(f"not a network: {text!r}") from None
        self.networks: tuple[IPNetwork, ...] = tuple(nets)

    def protects(self, ip: IPAddress) -> bool:
        """True when `ip` must never be listed."""
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if not ip.is_global or ip.is_multicast:
            return True
        return any(ip.version == net.version and ip in net for net in self.networks)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one report says about one address: who reported it, how much it weighs, why."""

    ip: str
    weight: float
    trusted: bool
    count: int
    reason: str
    ts: datetime


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether the evidence so far lists an address."""

    listed: bool
    score: float
    reporters: int


def parse_address(text: str) -> IPAddress:
    """The address in `text` (ValueError otherwise); never resolves names."""
    ip = ipaddress.ip_address(text.strip())
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def evidence_from_events(events: Sequence[Event], *, weight: float, trusted: bool) -> list[Evidence]:
    """One Evidence per address from a sensor's batch; events that prove nothing are skipped.

    A trusted key's honeypot events count as trusted evidence; any other hostile event counts at
    `weight` (PBX logs see customers mistype passwords too, so one PBX alone does not list).
    """
    per_ip: dict[str, tuple[int, str, datetime, bool]] = {}
    for ev in events:
        if ev.src_ip is None:
            continue
        honeypot = ev.source == "honeypot" and ev.kind in HONEYPOT_KINDS
        if not honeypot and ev.kind not in HOSTILE_KINDS:
            continue
        try:
            ip = str(parse_address(ev.src_ip))
        except ValueError:
            continue
        count, reason, last, strong = per_ip.get(ip, (0, "", ev.ts, False))
        why = f"{ev.source} {ev.kind}" + (f" ({ev.tool})" if ev.tool else "")
        per_ip[ip] = (count + ev.count, reason or why, max(last, ev.ts), strong or (honeypot and trusted))
    return [
        Evidence(ip=ip, weight=weight, trusted=strong, count=count, reason=reason, ts=last)
        for ip, (count, reason, last, strong) in per_ip.items()
    ]


def judge(weights: Iterable[tuple[float, bool]], *, threshold: float) -> Verdict:
    """Decide from (weight, trusted) per independent reporter: trusted evidence, or enough weight."""
    score = 0.0
    reporters = 0
    trusted = False
    for weight, strong in weights:
        score += weight
        reporters += 1
        trusted = trusted or strong
    return Verdict(listed=trusted or score >= threshold, score=score, reporters=reporters)


def expiry(last_evidence: datetime, days: float) -> datetime:
    """When a listing lapses: `days` after its last evidence (renewed by new evidence)."""
    return last_evidence + timedelta(days=days)
