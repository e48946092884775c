"""Counters of the investigation views, maintained incrementally from the events.

`fold(events)` is pure: events in, counter deltas out. `refresh(store)` reads the events recorded
after the cursor (ids are time-ordered ULIDs), folds them and writes the deltas and the new cursor in
one transaction, so pages read small aggregate tables instead of scanning the events. Call it after
every committed batch (`EventWriter(on_commit=...)`), on a timer, or before a report.

A backlog of at least `BULK_MIN_BACKLOG` events (an import, a first start over an old store) is
folded by the database instead (`aggregates_bulk`, the same counters computed set-based, tens of
times faster); the last few events, and live folding, stay on the per-event path.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final

from sipwarden.events import Event
from sipwarden.intel.ownership import NullOwnership, OwnershipLookup, fallback_network
from sipwarden.store import Store
from sipwarden.store import intel_queries as q
from sipwarden.store.intel_queries import FacetKey, HourKey, Span, TotalKey, bound_key

log = logging.getLogger(__name__)

#: Events folded per transaction: big enough to amortise the upserts (a batch of 20,000 events
#: becomes a few thousand counter rows), small enough to keep a transaction short.
REFRESH_BATCH: Final = 20_000
#: Bound of one `refresh` call, so a first run over a large store cannot hold a caller forever.
DEFAULT_MAX_EVENTS: Final = 1_000_000
#: Backlog from which `refresh` folds set-based in the database: at 20,000 events the per-event path
#: already needs a few seconds, while the set-based one costs a fixed dozen statements per chunk.
BULK_MIN_BACKLOG: Final = 20_000

#: Distinct keys whose cleaned form is remembered while folding (User-Agents, passwords, days...).
KEY_CACHE_SIZE: Final = 65_536

#: Longest account name in a facet subject: `intel_facets.subject` is VARCHAR(80) and PostgreSQL
#: refuses longer text, so one long username in a REGISTER would otherwise stop every later fold.
MAX_ACCOUNT_CHARS: Final = 80 - len("acct:")

#: Kinds that mean an account was used successfully (register accepted, or call placed with it).
_USE_KINDS: Final = frozenset({"auth_success", "call_attempt", "call_answered"})
#: Kinds that carry a dialled number worth counting.
_CALL_KINDS: Final = frozenset({"call_attempt", "call_answered", "call_rejected", "fraud_call"})


def ip_subject(ip: str) -> str:
    """The facet subject of an address."""
    return f"ip:{ip}"


def number_subject(e164: str) -> str:
    """The facet subject of a number."""
    return f"num:{e164}"


def account_subject(username: str) -> str:
    """The facet subject of an account name (cut to fit the subject column)."""
    return f"acct:{bound_key(username)[:MAX_ACCOUNT_CHARS]}"


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def _key(value: str) -> str:
    # The same few User-Agents, kinds and passwords repeat across a batch: clean each once.
    return bound_key(value)


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def _day(ts_date: date) -> str:
    return ts_date.isoformat()


def _add(span: Span, n: int, ts: datetime) -> None:
    # Span.add without the min()/max() calls: this runs a dozen times per event.
    span.count += n
    if ts < span.first:
        span.first = ts
    elif ts > span.last:
        span.last = ts


@dataclass
class Deltas:
    """Counter deltas of a batch of events."""

    hourly: dict[HourKey, int] = field(default_factory=lambda: defaultdict(int))
    totals: dict[TotalKey, Span] = field(default_factory=dict)
    facets: dict[FacetKey, Span] = field(default_factory=dict)

    def total(self, dim: str, key: str | None, n: int, ts: datetime) -> None:
        """Count `n` for (`dim`, `key`) unless the key is empty."""
        if key:
            k = (dim, _key(key))
            span = self.totals.get(k)
            if span is None:
                self.totals[k] = Span(n, ts, ts)
            else:
                _add(span, n, ts)

    def facet(self, subject: str, facet: str, value: str | None, n: int, ts: datetime) -> None:
        """Count `n` for (`subject`, `facet`, `value`) unless the value is empty."""
        if value:
            k = (subject, facet, _key(value))
            span = self.facets.get(k)
            if span is None:
                self.facets[k] = Span(n, ts, ts)
            else:
                _add(span, n, ts)


def fold(events: Iterable[Event], ownership: OwnershipLookup | None = None) -> Deltas:
    """The counter deltas of `events` (pure; ownership is a cache read)."""
    owners = ownership or NullOwnership()
    d = Deltas()
    for ev in events:
        n, ts = ev.count, ev.ts
        hour = ts.replace(minute=0, second=0, microsecond=0)
        d.hourly[("all", hour)] += n
        d.hourly[(f"kind:{ev.kind}", hour)] += n
        d.total("kind", ev.kind, n, ts)
        d.total("ua", ev.user_agent, n, ts)
        d.total("tool", ev.tool, n, ts)
        d.total("password", ev.password, n, ts)
        d.total("username", ev.username, n, ts)
        d.total("sensor", ev.sensor, n, ts)
        if ev.kind in _CALL_KINDS:
            d.total("number", ev.target_e164, n, ts)
            d.total("dest_country", ev.target_country, n, ts)
        if ev.src_ip:
            _fold_source(d, ev, owners)
        if ev.target_e164 and ev.kind in _CALL_KINDS:
            num = number_subject(ev.target_e164)
            d.facet(num, "ip", ev.src_ip, n, ts)
            d.facet(num, "dial", ev.target, n, ts)
            d.facet(num, "ua", ev.user_agent, n, ts)
            d.facet(num, "day", _day(ts.date()), n, ts)
            d.facet(num, "kind", ev.kind, n, ts)
    return d


def _fold_source(d: Deltas, ev: Event, owners: OwnershipLookup) -> None:
    ip, n, ts = ev.src_ip or "", ev.count, ev.ts
    owner = owners.lookup(ip)
    network = owner.network if owner else fallback_network(ip)
    d.total("ip", ip, n, ts)
    d.total("network", network, n, ts)
    if owner is not None:
        d.total("src_country", owner.country, n, ts)
    s = ip_subject(ip)
    for facet, value in (
        ("kind", ev.kind),
        ("ua", ev.user_agent),
        ("tool", ev.tool),
        ("method", ev.method),
        ("username", ev.username),
        ("password", ev.password),
        ("sensor", ev.sensor or ev.source),
        ("transport", ev.transport),
        ("day", _day(ts.date())),
    ):
        d.facet(s, facet, value, n, ts)
    if ev.kind in _CALL_KINDS:
        d.facet(s, "number", ev.target_e164, n, ts)
        d.facet(s, "dial", ev.target, n, ts)
        d.facet(s, "country", ev.target_country, n, ts)
    if ev.kind == "auth_success" and ev.username:
        d.facet(s, "cracked", ev.username, n, ts)
        if ev.password is not None:
            d.facet(s, "credential", f"{ev.username}:{ev.password}", n, ts)
        if (ev.method or "").upper() == "REGISTER":
            d.facet(s, "registered", ev.username, n, ts)
    if ev.kind == "call_answered":
        d.facet(s, "answered", ev.target_e164 or ev.target, n, ts)
    if ev.kind == "recording":
        d.facet(s, "recording", ev.id, n, ts)
    if ev.username:
        acct = account_subject(ev.username)
        if ev.kind == "auth_success":
            d.facet(acct, "success_ip", ip, n, ts)
        elif ev.kind in ("auth_failure", "unknown_user"):
            d.facet(acct, "fail_ip", ip, n, ts)
        if ev.kind in _USE_KINDS:
            d.facet(acct, "use_ip", ip, n, ts)


def refresh(
    store: Store,
    *,
    ownership: OwnershipLookup | None = None,
    batch: int = REFRESH_BATCH,
    max_events: int = DEFAULT_MAX_EVENTS,
    bulk_min: int | None = BULK_MIN_BACKLOG,
    bulk_chunk: int | None = None,
) -> int:
    """Fold events recorded since the cursor into the aggregates; returns how many were folded.

    While at least `bulk_min` events wait (and the budget allows), they are folded set-based in
    chunks of `bulk_chunk` (default per database, see `aggregates_bulk.chunk_for`); `bulk_min=None`
    keeps every event on the per-event path.
    """
    from sipwarden.intel import aggregates_bulk  # it reads this module's rules: import it once both exist

    owners = ownership or NullOwnership()
    done = 0
    after = q.cursor(store)
    chunk = bulk_chunk or aggregates_bulk.chunk_for(store)
    while bulk_min is not None and max_events - done >= max(bulk_min, 1):
        span = aggregates_bulk.range_end(store, after, chunk=min(chunk, max_events - done), minimum=max(bulk_min, 1))
        if span is None:
            break
        upto, rows = span
        aggregates_bulk.fold_range(store, after, upto, owners)
        after = upto
        done += rows
    while done < max_events:
        found = store.events(after_id=after, limit=min(batch, max_events - done))
        if not found:
            break
        deltas = fold(found, owners)
        after = found[-1].id
        q.apply_deltas(store, hourly=deltas.hourly, totals=deltas.totals, facets=deltas.facets, cursor=after)
        done += len(found)
    if done:
        log.debug("aggregates: folded %s events, cursor at %s", done, after)
    return done
