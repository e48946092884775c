"""The listed set in memory: answers `check` lookups without the database.

Every hub process keeps the addresses that are listed now (address -> a packed summary of the
listing row), the most recent delistings (so a check can still say why), and the hashes of the
live keys. `HubIndex.load` reads them once at start; `HubIndex.refresh` follows the change log by
cursor, picks up renewed listings and reloads the keys, and is called at most a second apart (and
at once when a NOTIFY or a local change says something changed), so a listing, a delisting or a
key revocation made through any process is seen by every process within about a second.

Memory: a listing costs one dict slot, one int key and one bytes record (a 86-byte header plus the
reason text): 198 bytes measured with a short reason, so 1,000,000 listed addresses take about
190 MiB per process (`python -m bench hub_check`, docs/benchmarks.md, "Hub").
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy.exc import SQLAlchemyError

from sipwarden.events import utcnow
from sipwarden.hub.formats import listing_dict
from sipwarden.hub.repo import HubRepo, Listing
from sipwarden.hub.service import HubService
from sipwarden.hub.stream import ChangeSignal

log = logging.getLogger(__name__)

#: Longest wait between two refreshes: a change made through another process is answered within it.
REFRESH_SECONDS: Final = 1.0
#: Shortest gap between two refreshes, however often NOTIFY wakes us (a burst of listings costs one).
REFRESH_MIN_GAP: Final = 0.1
#: Back-off while the database cannot be read at start.
LOAD_RETRY_SECONDS: Final = 2.0
#: A refresh that has not succeeded for this long makes the index step aside (the database answers,
#: or fails honestly) rather than answer from a copy that may miss revocations and delistings.
STALE_SECONDS: Final = 10.0
#: Rows read per query while loading (bounded memory while a million listings are read).
LOAD_PAGE: Final = 50_000
#: Changes applied per query while catching up.
CHANGE_PAGE: Final = 10_000
#: Delistings remembered (oldest forgotten first): enough for `delisted_reason` of recent ones.
DELISTED_MAX: Final = 100_000
#: Renewed listings are found by `expires_at` (last evidence + listing_days); this margin covers
#: writers whose clock or transaction lagged the poll (a row seen twice is simply written again).
RENEW_MARGIN: Final = timedelta(seconds=3)
#: Keys on IPv6 addresses carry this bit, so `::a.b.c.d` never collides with the IPv4 `a.b.c.d`.
V6_FLAG: Final = 1 << 128

# seq, decision_id, score, reporters, events, first_seen, last_evidence, expires_at (microseconds
# since the epoch), then the byte lengths of reason and delisted_reason, which follow the header.
_HEADER: Final = struct.Struct("<q26sdiqqqqHH")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_NO_REASON: Final = 0xFFFF


def address_key(text: str) -> int | None:
    """The index key of an address in text (IPv4-mapped IPv6 counts as IPv4); None if not an address."""
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, ValueError):  # ValueError: an embedded NUL
        pass
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped
        return int(mapped) if mapped is not None else int(ip) | V6_FLAG
    return int(ip)


def key_address(key: int) -> str:
    """The canonical text of an index key (as the store writes addresses)."""
    if key & V6_FLAG:
        return str(ipaddress.IPv6Address(key ^ V6_FLAG))
    return socket.inet_ntop(socket.AF_INET, key.to_bytes(4, "big"))


_EPOCH_NAIVE: Final = datetime(1970, 1, 1)
_MICROSECOND: Final = timedelta(microseconds=1)


def _micros(ts: datetime | str) -> int:
    """Microseconds since the epoch of an aware UTC time, a naive UTC time or its text (SQLite)."""
    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts)
    if ts.tzinfo is None:
        return (ts - _EPOCH_NAIVE) // _MICROSECOND
    return (ts - _EPOCH) // _MICROSECOND


def _from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def pack_record(
    seq: int,
    decision_id: str,
    score: float,
    reporters: int,
    events: int,
    first_seen: datetime | str,
    last_evidence: datetime | str,
    expires_at: datetime | str,
    reason: str,
    delisted_reason: str | None,
) -> bytes:
    """A listing's fields as a compact record (see `unpack_listing`)."""
    why = reason.encode("utf-8")[: _NO_REASON - 1]
    delisted = None if delisted_reason is None else delisted_reason.encode("utf-8")[: _NO_REASON - 1]
    header = _HEADER.pack(
        seq,
        decision_id.encode("ascii", "replace")[:26],
        score,
        reporters,
        events,
        _micros(first_seen),
        _micros(last_evidence),
        _micros(expires_at),
        len(why),
        _NO_REASON if delisted is None else len(delisted),
    )
    return header + why + (delisted or b"")


def pack_listing(listing: Listing) -> bytes:
    """A listing row as a compact record."""
    return pack_record(
        listing.seq,
        listing.decision_id,
        listing.score,
        listing.reporters,
        listing.events,
        listing.first_seen,
        listing.last_evidence,
        listing.expires_at,
        listing.reason,
        listing.delisted_reason,
    )


def unpack_listing(ip: str, record: bytes, *, listed: bool) -> Listing:
    """The Listing a record stands for."""
    seq, did, score, reporters, events, first, last, expires, n_reason, n_delisted = _HEADER.unpack_from(record)
    start = _HEADER.size
    reason = record[start : start + n_reason].decode("utf-8", "replace")
    delisted_reason = None
    if n_delisted != _NO_REASON:
        delisted_reason = record[start + n_reason : start + n_reason + n_delisted].decode("utf-8", "replace")
    return Listing(
        ip=ip,
        listed=listed,
        decision_id=did.rstrip(b"\0").decode("ascii"),
        score=score,
        reporters=reporters,
        events=events,
        reason=reason,
        first_seen=_from_micros(first),
        last_evidence=_from_micros(last),
        expires_at=_from_micros(expires),
        seq=seq,
        delisted_at=None,
        delisted_reason=delisted_reason,
    )


def record_seq(record: bytes) -> int:
    """The change number stored in a record (the APIBAN `ID` of a check answer)."""
    return int(_HEADER.unpack_from(record)[0])


@dataclass(frozen=True, slots=True)
class IndexStats:
    """What one process holds."""

    listed: int
    delisted: int
    keys: int
    cursor: int
    ready: bool


class HubIndex:
    """Listed addresses, recent delistings and live key hashes of one hub process.

    Reads (`lookup`, `key_is_live`, `ready`) take no lock and do no I/O: they run on the event loop
    for every check request. Writers (`load`, `refresh`, `catch_up`) run in threads and hold a lock
    so two of them never interleave; each write replaces one dict entry, which readers see whole.
    """

    def __init__(self, repo: HubRepo, clock: Callable[[], float] = time.monotonic) -> None:
        """An empty index over `repo`; `clock` is monotonic seconds (a parameter for tests)."""
        self.repo = repo
        self.clock = clock
        self.listed: dict[int, bytes] = {}
        self.delisted: dict[int, bytes] = {}
        self.key_hashes: frozenset[str] = frozenset()
        self.cursor = 0
        self._renewed_after: datetime | None = None
        self._fresh_at = float("-inf")
        self._loaded = False
        self._lock = threading.Lock()

    # -- reads (event loop, no I/O) -----------------------------------------------------------------

    def ready(self) -> bool:
        """True when loaded and refreshed within STALE_SECONDS: only then may answers come from here."""
        return self._loaded and self.clock() - self._fresh_at < STALE_SECONDS

    def lookup(self, key: int) -> tuple[bytes | None, bool]:
        """(record, listed) for an address key: listed, recently delisted, or (None, False)."""
        record = self.listed.get(key)
        if record is not None:
            return record, True
        return self.delisted.get(key), False

    def key_is_live(self, key_hash: str) -> bool:
        """True when a key with this SHA-256 hash exists and is not revoked."""
        return key_hash in self.key_hashes

    def check_body(self, key: int) -> bytes:
        """The native `/v1/check` answer for an address key (the same JSON as the database path)."""
        record, listed = self.lookup(key)
        ip = key_address(key)
        if record is None:
            return dumps({"ip": ip, "listed": False})
        listing = unpack_listing(ip, record, listed=listed)
        body = listing_dict(listing)
        if not listed:
            body["delisted_reason"] = listing.delisted_reason
        return dumps(body)

    def stats(self) -> IndexStats:
        """Counts, for logs, tests and the benchmark."""
        return IndexStats(len(self.listed), len(self.delisted), len(self.key_hashes), self.cursor, self.ready())

    # -- writes (threads) ---------------------------------------------------------------------------

    def load(self, now: datetime) -> None:
        """Read every listed address, recent delistings and the keys (at start; blocking)."""
        with self._lock:
            head = self.repo.head()
            renewed_after = now - RENEW_MARGIN
            after = 0
            listed = self.listed
            while True:
                page = self.repo.listed_records(after_seq=after, limit=LOAD_PAGE)
                for ip, *fields in page:  # LISTING_RECORD order: ip, seq, decision_id, ...
                    key = address_key(ip)
                    if key is not None:
                        listed[key] = pack_record(*fields)
                if len(page) < LOAD_PAGE:
                    break
                after = page[-1][1]
            for listing in reversed(self.repo.recently_delisted(DELISTED_MAX)):
                key = address_key(listing.ip)
                if key is not None and key not in self.listed:
                    self._forget(key, listing)
            self.cursor = max(self.cursor, head)
            self._renewed_after = renewed_after
            self._catch_up()
            self.key_hashes = frozenset(self.repo.live_key_hashes())
            self._loaded = True
            self._fresh_at = self.clock()
        log.info(
            "hub index loaded: %d listed, %d recent delistings, cursor %d",
            len(self.listed),
            len(self.delisted),
            self.cursor,
        )

    def refresh(self, now: datetime, *, full: bool | None = None) -> int:
        """Apply changes since the cursor; also renewed listings and the current keys when `full`, or
        (None) when REFRESH_SECONDS have passed since they were last read, so a burst of NOTIFYs costs
        one change-log query each, no more. How many changes were applied."""
        with self._lock:
            if not self._loaded:
                return 0
            refresh_all = full or (full is None and self.clock() - self._fresh_at >= REFRESH_SECONDS * 0.9)
            if refresh_all and self.cursor < self.repo.pruned_through():
                self._reload(now)  # changes it never applied were forgotten (a process stalled for weeks)
            applied = self._catch_up()
            if refresh_all:
                since = self._renewed_after or now
                self._renewed_after = now - RENEW_MARGIN
                for listing in self.repo.renewed(since + timedelta(days=self.repo.settings.listing_days)):
                    if listing.seq <= self.cursor:  # a newer change is applied by the next catch-up
                        self._put(listing)
                self.key_hashes = frozenset(self.repo.live_key_hashes())
                self._fresh_at = self.clock()
        return applied

    def _reload(self, now: datetime) -> None:
        log.warning("hub index cursor %d is older than the change log; reading the whole list again", self.cursor)
        fresh = HubIndex(self.repo, self.clock)
        fresh.load(now)
        # Whole dicts swapped in: readers see the old index or the new one, never an empty one.
        self.listed, self.delisted, self.key_hashes = fresh.listed, fresh.delisted, fresh.key_hashes
        self.cursor, self._renewed_after = fresh.cursor, fresh._renewed_after

    def catch_up(self) -> int:
        """Apply changes since the cursor now (after a change this process made: read your writes)."""
        with self._lock:
            return self._catch_up() if self._loaded else 0

    def _catch_up(self) -> int:
        applied = 0
        while True:
            changes = self.repo.changes(self.cursor, CHANGE_PAGE)
            for change, listing in changes:
                key = address_key(change.ip)
                if key is not None:
                    # The joined row is the address's state now; a later change in this page wins.
                    if listing.listed and listing.seq == change.seq:
                        self._put(listing)
                    elif not listing.listed:
                        self.listed.pop(key, None)
                        self._forget(key, listing)
                self.cursor = change.seq
                applied += 1
            if len(changes) < CHANGE_PAGE:
                return applied

    def _put(self, listing: Listing) -> None:
        key = address_key(listing.ip)
        if key is None:
            return
        self.listed[key] = pack_listing(listing)
        self.delisted.pop(key, None)

    def _forget(self, key: int, listing: Listing) -> None:
        self.delisted.pop(key, None)  # re-inserted last: the dict's order is the eviction order
        self.delisted[key] = pack_listing(listing)
        while len(self.delisted) > DELISTED_MAX:
            del self.delisted[next(iter(self.delisted))]


def dumps(body: Any) -> bytes:
    """JSON as the hub's responses write it (the same bytes as Starlette's JSONResponse)."""
    return json.dumps(body, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode("utf-8")


async def keep_current(index: HubIndex, svc: HubService, signal: ChangeSignal | None) -> None:
    """Load `index`, then refresh it every REFRESH_SECONDS or when `signal` fires (this loop's change
    signal); also sweep expired listings, so they leave the list even when nobody reads a feed.
    Runs until cancelled."""
    while True:
        try:
            await asyncio.to_thread(index.load, utcnow())
            break
        except (SQLAlchemyError, OSError) as exc:
            log.warning("cannot load the hub index (%s); retrying in %.0fs", exc, LOAD_RETRY_SECONDS)
            await asyncio.sleep(LOAD_RETRY_SECONDS)
    while True:
        if signal is not None:
            await signal.wait(REFRESH_SECONDS)
        else:
            await asyncio.sleep(REFRESH_SECONDS)
        try:
            await asyncio.to_thread(svc.sweep, utcnow())
            await asyncio.to_thread(index.refresh, utcnow())
        except (SQLAlchemyError, OSError) as exc:
            # The index stops answering after STALE_SECONDS without a refresh; the app answers then.
            log.warning("cannot refresh the hub index: %s", exc)
        await asyncio.sleep(REFRESH_MIN_GAP)
