"""The ownership cache in the store: `StoreOwnership` answers `OwnershipLookup` from it.

`rdap_refresh.RdapRefresher` fills the `intel_owners` table; everything else only reads it. Reads
are served from an in-memory index of the whole table (networks number in the thousands, not the
millions), reloaded at most every `reload_seconds`, so that folding a million events or drawing a
scoreboard costs a dict lookup per address and never a query, let alone network I/O.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import delete, select

from sipwarden.intel.ownership import Owner
from sipwarden.intel.rdap import RdapNetwork
from sipwarden.store import Store
from sipwarden.store.intel_tables import intel_owner_lookups, intel_owners

#: Seconds an in-memory copy of the cache is used before it is read again (a refresh run is a batch
#: job every few hours; a minute of staleness in page views costs nothing).
RELOAD_SECONDS: Final = 60.0
#: Longest error text kept for a failed lookup.
MAX_DETAIL: Final = 500

LookupStatus = str  # found, missing, error


@dataclass(frozen=True, slots=True)
class CachedOwner:
    """One row of the cache: an owner and when it was fetched and goes stale."""

    owner: Owner
    handle: str
    org: str
    source: str
    fetched_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class LookupOutcome:
    """The last lookup of one address: found, missing (404) or error, and when to ask again."""

    ip: str
    status: LookupStatus
    network: str | None
    detail: str
    checked_at: datetime
    retry_at: datetime


class OwnerIndex:
    """Longest-prefix match over cached owners: one dict probe per prefix length present."""

    def __init__(self, rows: Iterable[CachedOwner]) -> None:
        """Index `rows` by (version, prefix length, network number)."""
        self._nets: dict[tuple[int, int, int], CachedOwner] = {}
        lengths: dict[int, set[int]] = {4: set(), 6: set()}
        for row in rows:
            net = ipaddress.ip_network(row.owner.network)
            self._nets[(net.version, net.prefixlen, int(net.network_address))] = row
            lengths[net.version].add(net.prefixlen)
        self._lengths = {v: sorted(ls, reverse=True) for v, ls in lengths.items()}

    def __len__(self) -> int:
        return len(self._nets)

    def find(self, ip: str) -> CachedOwner | None:
        """The most specific cached network holding `ip` (stale or not), or None."""
        parsed = address_number(ip)
        if parsed is None:
            return None
        version, number = parsed
        bits = 32 if version == 4 else 128
        for length in self._lengths[version]:
            mask = ((1 << length) - 1) << (bits - length)
            hit = self._nets.get((version, length, number & mask))
            if hit is not None:
                return hit
        return None


#: IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, RFC 4291 2.5.5.2) are looked up as the IPv4 address.
_V4_MAPPED: Final = 0xFFFF << 32


def address_number(ip: str) -> tuple[int, int] | None:
    """(version, integer) of an address; None for anything else.

    `socket.inet_pton` parses in C, ten times faster than `ipaddress` (a scoreboard of 100,000
    addresses spent most of its time parsing them).
    """
    try:
        if ":" in ip:
            number = int.from_bytes(socket.inet_pton(socket.AF_INET6, ip.split("%", 1)[0]), "big")
            if number >> 32 == 0xFFFF:
                return 4, number ^ _V4_MAPPED
            return 6, number
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, ip), "big")
    except (OSError, ValueError):
        return None


def _row_owner(m: Any) -> CachedOwner:
    return CachedOwner(
        owner=Owner(network=m.network, name=m.name, asn=m.asn, country=m.country, abuse_email=m.abuse_email),
        handle=m.handle,
        org=m.org,
        source=m.source,
        fetched_at=m.fetched_at,
        expires_at=m.expires_at,
    )


class StoreOwnership:
    """`OwnershipLookup` over the store's cache, plus the writes the refresher makes."""

    def __init__(
        self, store: Store, *, reload_seconds: float = RELOAD_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Read (and write) the cache in `store`; the in-memory index is kept `reload_seconds`."""
        self.store = store
        self.reload_seconds = reload_seconds
        self.clock = clock
        self._index: OwnerIndex | None = None
        self._loaded = float("-inf")
        self._lock = threading.Lock()

    # -- reads ----------------------------------------------------------------------------------------

    def index(self) -> OwnerIndex:
        """The in-memory index, reloaded when older than `reload_seconds`."""
        now = self.clock()
        with self._lock:
            if self._index is not None and now - self._loaded < self.reload_seconds:
                return self._index
        index = OwnerIndex(self.owners())
        with self._lock:
            self._index, self._loaded = index, now
        return index

    def lookup(self, ip: str) -> Owner | None:
        """The cached owner of `ip` (no network I/O; stale entries still answer)."""
        hit = self.index().find(ip)
        return hit.owner if hit else None

    def cached(self, ip: str) -> CachedOwner | None:
        """The cache row holding `ip`, with its times."""
        return self.index().find(ip)

    def owners(self) -> list[CachedOwner]:
        """Every cached owner, by network."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(intel_owners).order_by(intel_owners.c.network)).all()
        return [_row_owner(r) for r in rows]

    def outcomes(self, ips: Iterable[str]) -> dict[str, LookupOutcome]:
        """The last lookup outcome of each of `ips` that was ever looked up."""
        wanted = sorted(set(ips))
        found: dict[str, LookupOutcome] = {}
        c = intel_owner_lookups.c
        with self.store.engine.connect() as conn:
            for i in range(0, len(wanted), 500):
                for r in conn.execute(select(intel_owner_lookups).where(c.ip.in_(wanted[i : i + 500]))):
                    found[r.ip] = LookupOutcome(**r._mapping)
        return found

    # -- writes (the refresher) -----------------------------------------------------------------------

    def save_network(self, ip: str, net: RdapNetwork, *, source: str, now: datetime, expires: datetime) -> None:
        """Store the network that answered for `ip` (replacing its blocks) and the lookup outcome."""
        rows = [
            {
                "network": block,
                "version": ipaddress.ip_network(block).version,
                "prefixlen": ipaddress.ip_network(block).prefixlen,
                "handle": net.handle,
                "name": net.name,
                "org": net.org,
                "asn": net.asn,
                "country": net.country,
                "abuse_email": net.abuse_email,
                "source": source,
                "fetched_at": now,
                "expires_at": expires,
            }
            for block in net.blocks
        ]
        update_cols = [k for k in rows[0] if k != "network"]
        owner = net.owner_of(ip)
        with self.store._write() as conn:
            conn.execute(self.store._insert_ignore(intel_owners, update_cols=update_cols), rows)
            self._outcome(conn, ip, "found", owner.network, "", now, expires)
        with self._lock:
            self._index = None  # the next read sees the new network

    def save_failure(self, ip: str, status: LookupStatus, detail: str, *, now: datetime, retry_at: datetime) -> None:
        """Remember that `ip` is unknown (missing) or could not be looked up (error) until `retry_at`."""
        with self.store._write() as conn:
            self._outcome(conn, ip, status, None, detail, now, retry_at)

    def _outcome(
        self, conn: Any, ip: str, status: str, network: str | None, detail: str, now: datetime, retry: datetime
    ) -> None:
        row = {
            "ip": ip,
            "status": status,
            "network": network,
            "detail": detail[:MAX_DETAIL],
            "checked_at": now,
            "retry_at": retry,
        }
        stmt = self.store._insert_ignore(intel_owner_lookups, update_cols=[k for k in row if k != "ip"])
        conn.execute(stmt, row)

    def forget(self, network: str) -> int:
        """Drop one cached network (an operator correcting the cache); how many rows."""
        with self.store._write() as conn:
            done = conn.execute(delete(intel_owners).where(intel_owners.c.network == network)).rowcount
        with self._lock:
            self._index = None
        return int(done)
