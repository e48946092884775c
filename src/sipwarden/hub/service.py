"""The hub's per-process state: the repository, keys, rate limits, the feed cache and the change signal.

Everything that must survive a restart or be shared between processes is in the database; what is
here is a cache (rendered feeds, looked-up keys) or per-process by design (rate-limit buckets: a key
may send `rate_per_second` to each process; a limit kept in the database would cost a write per
request, and a fleet of N processes behind a balancer then allows at most N times the rate, which is
still a bound).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sipwarden.events import Decision
from sipwarden.hub.auth import Authenticator, TokenBucket
from sipwarden.hub.formats import FORMATS, FeedData
from sipwarden.hub.repo import Change, HubRepo, Listing
from sipwarden.hub.settings import HubSettings
from sipwarden.hub.stream import ChangeSignal
from sipwarden.store import Store

#: Seconds between sweeps of expired listings by one process (any process may sweep; it is idempotent).
SWEEP_INTERVAL: Final = 30.0
#: Seconds between prunings of the change log by one process (a DELETE of a day's changes at most).
PRUNE_INTERVAL: Final = 3600.0
#: Rendered feeds kept per process: one per format at the newest cursor is what subscribers ask for.
FEED_CACHE_MAX: Final = 32
#: Scenario name of the hub's own decisions.
HUB_SCENARIO: Final = "sipwarden/hub-blocklist"


#: Seconds a `check` answer is reused by one process. PBXs ask about the same sources over and over
#: (every INVITE from an attacker); one second of staleness turns most lookups into a dict hit.
CHECK_CACHE_SECONDS: Final = 1.0
#: Answers kept at most; the cache is simply emptied when full (it refills within a second).
CHECK_CACHE_MAX: Final = 100_000


class CheckCache:
    """Short-lived answers of the check endpoint; time is a parameter."""

    def __init__(self, ttl: float = CHECK_CACHE_SECONDS, size: int = CHECK_CACHE_MAX) -> None:
        self.ttl = ttl
        self.size = size
        self._items: dict[str, tuple[float, bytes]] = {}

    def get(self, ip: str, now: float) -> bytes | None:
        """The answer stored for `ip` if younger than the TTL."""
        hit = self._items.get(ip)
        if hit is None or now - hit[0] >= self.ttl:
            return None
        return hit[1]

    def put(self, ip: str, body: bytes, now: float) -> None:
        """Remember an answer."""
        if len(self._items) >= self.size:
            self._items.clear()
        self._items[ip] = (now, body)

    def clear(self) -> None:
        """Forget everything (after a change this process made)."""
        self._items.clear()


def listing_decision(listing: Listing, change: Change | None = None) -> Decision:
    """A listing as a Decision record (what the stream and agents receive)."""
    removed = change is not None and change.op == "del"
    return Decision(
        id=listing.decision_id,
        ts=change.ts if change else listing.last_evidence,
        scope="ip",
        value=listing.ip,
        action="ban",
        scenario=HUB_SCENARIO,
        reason=(listing.delisted_reason or "delisted") if removed else listing.reason,
        until=listing.expires_at,
        origin="hub",
    )


class CursorTooOld(Exception):
    """A cursor older than the change log: the client must read the whole list (HTTP 410)."""


class HubService:
    """What every endpoint shares within one hub process."""

    def __init__(self, store: Store, settings: HubSettings) -> None:
        """State over `store` with `settings`."""
        self.store = store
        self.settings = settings
        self.repo = HubRepo(store, settings)
        self.auth = Authenticator(self.repo, settings.anonymous_read)
        self.bucket = TokenBucket(settings.rate_per_second, settings.rate_burst)
        self.signal: ChangeSignal | None = None  # set when the app starts (needs the event loop)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._feeds: dict[tuple[str, int], tuple[bytes, str]] = {}
        self._feed_lock = threading.Lock()
        self._last_sweep = self._last_prune = float("-inf")
        self.check_cache = CheckCache()

    def sweep(self, now: datetime, *, force: bool = False) -> int:
        """Delist expired entries, at most every SWEEP_INTERVAL seconds unless forced; and, at most
        every PRUNE_INTERVAL, forget changes older than `[hub] change_log_days`."""
        mono = time.monotonic()
        if not force and mono - self._last_sweep < SWEEP_INTERVAL:
            return 0
        self._last_sweep = mono
        swept = self.repo.sweep_expired(now)
        if force or mono - self._last_prune >= PRUNE_INTERVAL:
            self._last_prune = mono
            self.repo.prune_changes(now - timedelta(days=self.settings.change_log_days))
        return swept

    def feed(self, fmt: str, now: datetime) -> tuple[bytes, str, int]:
        """(body, media type, cursor) of a full feed, rendered once per format and cursor."""
        self.sweep(now)
        cursor = self.repo.head()
        key = (fmt, cursor)
        with self._feed_lock:
            hit = self._feeds.get(key)
        if hit is not None:
            return hit[0], hit[1], cursor
        plugin = FORMATS[fmt]
        data = FeedData(ips=self.repo.listed_ips(), load_listings=self.repo.listed, generated=now, cursor=cursor)
        body = plugin.render(data).encode("utf-8")
        with self._feed_lock:
            # Feeds at an older cursor are never asked for again by a client that follows ETags.
            for old in [k for k in self._feeds if k[1] != cursor or len(self._feeds) >= FEED_CACHE_MAX]:
                del self._feeds[old]
            self._feeds[key] = (body, plugin.media_type)
        return body, plugin.media_type, cursor

    def delta(self, since: int, limit: int) -> dict[str, Any]:
        """Changes after cursor `since`: the addresses added (with details) and removed, net of each other.

        Raises CursorTooOld when changes after `since` were forgotten (the client reads the whole list).
        """
        from sipwarden.hub.formats import listing_dict

        self.check_cursor(since)
        changes = self.repo.changes(since, limit)
        final: dict[str, tuple[Change, Listing]] = {}
        for change, listing in changes:
            final[change.ip] = (change, listing)
        added = [listing_dict(lst) for ch, lst in final.values() if ch.op == "add" and lst.listed]
        removed = [ch.ip for ch, lst in final.values() if ch.op == "del" and not lst.listed]
        cursor = changes[-1][0].seq if changes else since
        return {"cursor": cursor, "added": added, "removed": removed, "more": len(changes) >= limit}

    def check_cursor(self, cursor: int) -> None:
        """Raise CursorTooOld when the change log no longer holds every change after `cursor`."""
        pruned = self.repo.pruned_through()
        if cursor < pruned:
            raise CursorTooOld(f"changes up to {pruned} are no longer kept; read the whole list (no since=)")

    def changed(self) -> None:
        """Wake this process's streams (called after a change this process made)."""
        # Endpoints run in the thread pool; asyncio objects are touched only from the loop's thread.
        if self.signal is not None and self.loop is not None:
            self.loop.call_soon_threadsafe(self.signal.notify)
            self.loop.call_soon_threadsafe(self.check_cache.clear)


def decisions_of(changes: Sequence[tuple[Change, Listing]]) -> list[tuple[Change, Decision]]:
    """Each change with the Decision it adds or removes."""
    return [(change, listing_decision(listing, change)) for change, listing in changes]
