"""Who owns an address: the network, its owner, country and abuse contact.

Lookups are cache reads only (no network I/O in a page view or a report); filling the cache, e.g.
from RDAP, is the job of a separate refresher. `NullOwnership` is the default: nothing is known.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol

#: The network an address is grouped into when its real allocation is unknown: a /24 is the usual
#: smallest routed IPv4 block, a /48 the usual IPv6 site assignment (RFC 6177).
FALLBACK_V4_PREFIX: Final = 24
FALLBACK_V6_PREFIX: Final = 48


@dataclass(frozen=True, slots=True)
class Owner:
    """What an ownership source knows about an address."""

    network: str  # CIDR, e.g. "192.0.2.0/24"
    name: str = ""  # owner or AS name
    asn: int | None = None
    country: str | None = None  # ISO 3166-1 alpha-2 of the registration
    abuse_email: str | None = None


class OwnershipLookup(Protocol):
    """Answers from a cache; None when nothing is known."""

    def lookup(self, ip: str) -> Owner | None:
        """The owner of `ip`, or None."""
        ...


class NullOwnership:
    """Knows nothing (the default until an ownership source is configured)."""

    def lookup(self, ip: str) -> Owner | None:
        """Always None."""
        return None


class StaticOwnership:
    """Owners by network, longest prefix first (imported tables, tests)."""

    def __init__(self, owners: Mapping[str, Owner]) -> None:
        self._nets = sorted(
            ((ipaddress.ip_network(net, strict=False), owner) for net, owner in owners.items()),
            key=lambda item: item[0].prefixlen,
            reverse=True,
        )

    def lookup(self, ip: str) -> Owner | None:
        """The owner of the most specific network holding `ip`."""
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        for net, owner in self._nets:
            if addr.version == net.version and addr in net:
                return owner
        return None


@functools.lru_cache(maxsize=65_536)
def fallback_network(ip: str) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) holding `ip`; None for text that is not an address."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = FALLBACK_V4_PREFIX if addr.version == 4 else FALLBACK_V6_PREFIX
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))
