"""The Guard: events in, bans out. Detection + firewall + store + notifications for one event stream.

`sipwarden watch` and the composition root of `sipwarden run` (which also feeds honeypot events) both
build one Guard and call `handle(event)` for every event, `tick()` now and then. Blocking work
(firewall commands, database writes) runs in threads so the event loop keeps reading. A failing
firewall, database or notification channel is logged and never stops the stream.

The store is the shared truth: at start the firewall is made to match its active bans (one lean
query, one firewall transaction), and every `reconcile_seconds` the Guard asks it which decisions were
written or lifted since (by `sipwarden bans`, the dashboard, another process) and applies the
difference (see `sync`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from sipwarden.detect import Engine
from sipwarden.detect.engine import ActiveDecision, ends_before
from sipwarden.enforce.backend import Ban, BanBackend, make_ban
from sipwarden.enforce.notify import Notifier
from sipwarden.enforce.own import own_addresses
from sipwarden.events import Decision, Event, utcnow

if TYPE_CHECKING:
    from sipwarden.config import Settings
    from sipwarden.store import Store

log = logging.getLogger(__name__)

#: Recent events kept to quote as evidence in notifications (the rest are in the store).
MAX_RECENT_EVENTS: Final = 10_000
#: How far back each poll of the store looks before the previous poll: a change is stamped when its
#: transaction starts and becomes visible when it commits, so it may appear "in the past". Longer
#: than any write transaction (100,000 decisions take seconds, not half a minute).
SYNC_OVERLAP: Final = timedelta(seconds=30)
#: Default of `[enforce] reconcile_seconds`.
DEFAULT_SYNC_SECONDS: Final = 5.0
FIREWALL_SCOPES: Final = frozenset({"ip", "range"})


def firewall_bans(decisions: Iterable[ActiveDecision]) -> list[Ban]:
    """The decisions a firewall carries (`ban` of an `ip` or a `range`), one per target: the longest."""
    longest: dict[str, ActiveDecision] = {}
    for d in decisions:
        if d.action == "ban" and d.scope in FIREWALL_SCOPES:
            known = longest.get(d.value)
            if known is None or ends_before(known, d):
                longest[d.value] = d
    bans: list[Ban] = []
    for d in longest.values():
        try:
            bans.append(make_ban(d.value, d.until))
        except ValueError:  # a row no firewall can carry must not cost the others
            log.warning("decision %s has no usable target %r: not enforced", d.id, d.value)
    return bans


class Guard:
    """One detection engine and one ban backend, with an optional store and notifier."""

    def __init__(
        self,
        engine: Engine,
        backend: BanBackend,
        *,
        store: Store | None = None,
        notifier: Notifier | None = None,
        sync_seconds: float = DEFAULT_SYNC_SECONDS,
    ) -> None:
        self.engine = engine
        self.backend = backend
        self.store = store
        self.notifier = notifier
        self.decisions = 0
        self.sync_interval = timedelta(seconds=sync_seconds) if sync_seconds > 0 else None
        self.synced: datetime | None = None  # the store's clock at the last poll (the next starts there)
        self._recent: dict[str, Event] = {}
        self._started: int | None = None
        self._last_sync: datetime | None = None
        self._syncing = False

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        backend: BanBackend,
        store: Store | None = None,
        *,
        own: Sequence[str] | None = None,
    ) -> Guard:
        """A Guard configured from `[detect]`, `[enforce]` and `[notify]`."""
        if own is None:
            own = own_addresses() if settings.enforce.protect_own_addresses else ()
        engine = Engine(settings.detect, own_addresses=own)
        notifier = Notifier(settings.notify, sensor=settings.general.sensor) if settings.notify.urls else None
        return cls(engine, backend, store=store, notifier=notifier, sync_seconds=settings.enforce.reconcile_seconds)

    async def start(self, now: datetime | None = None) -> int:
        """Prepare the firewall and make it match the store's active bans; return how many are active.

        A second call (the log pipeline of `sipwarden run` shares the Guard) does not reconcile again.
        """
        if self._started is not None:
            return self._started
        now = now or utcnow()
        # The firewall's tables are made while the store is read, and the engine learns what is
        # active while the firewall loads it: on two cores a restart costs little more than its
        # longest step.
        active, _ = await asyncio.gather(
            asyncio.to_thread(self._read_active, now), asyncio.to_thread(self.backend.setup)
        )
        load = asyncio.ensure_future(asyncio.to_thread(self.backend.reconcile, firewall_bans(active)))
        self.engine.restore(active)
        count = await load
        log.info("firewall reconciled with the store: %d active bans (%s backend)", count, self.backend.name)
        self._started = count
        self._last_sync = now
        return count

    def _read_active(self, now: datetime) -> Sequence[ActiveDecision]:
        if self.store is None:
            return []
        self.synced = self.store.decision_clock()  # before the read: nothing falls between
        return self.store.active_refs(now)

    async def sync(self, now: datetime | None = None) -> tuple[int, int]:
        """Apply decisions written or lifted in the store by others since the last sync.

        One indexed query reads the decisions changed since the previous poll (less SYNC_OVERLAP,
        for late commits), by the store's clock. An active one the engine does not hold (or holds with an
        earlier end) is restored and banned; a lifted one the engine holds is released, and unbanned
        unless the store still has another active decision for it. Returns (banned, unbanned).
        """
        if self.store is None or self._syncing:
            return 0, 0
        now = now or utcnow()
        self._syncing = True
        try:
            since = self.synced - SYNC_OVERLAP if self.synced is not None else None
            clock = await asyncio.to_thread(self.store.decision_clock)  # before the read, as at start
            changes = await asyncio.to_thread(self.store.decision_changes, since)
            wanted: dict[tuple[str, str, str], ActiveDecision] = {}
            lifted: set[tuple[str, str, str]] = set()
            for change in changes:
                key = (change.scope, change.value, change.action)
                have = self.engine.active(*key)
                if change.removed:
                    if have is not None and have.id == change.id:
                        # Only a decision the store itself marks removed is lifted: one the engine
                        # just made and has not stored yet is absent from the store, not removed.
                        lifted.add(key)
                    continue
                if key in lifted:
                    have = None
                if (
                    (change.until is None or change.until > now)
                    and (have is None or ends_before(have, change))
                    and (key not in wanted or ends_before(wanted[key], change))
                ):
                    wanted[key] = change
            if lifted:  # what else is still active for the lifted targets
                values = sorted({value for _, value, _ in lifted})
                for ref in await asyncio.to_thread(self.store.active_refs_for, values, now):
                    key = (ref.scope, ref.value, ref.action)
                    if key in lifted and (key not in wanted or ends_before(wanted[key], ref)):
                        wanted[key] = ref
            self.synced = clock
            for key in lifted:
                self.engine.release(*key)
            return await self._apply_sync(list(wanted.values()), [k for k in lifted if k not in wanted])
        finally:
            self._syncing = False
            self._last_sync = now

    async def _apply_sync(self, restore: list[ActiveDecision], lift: list[tuple[str, str, str]]) -> tuple[int, int]:
        self.engine.restore(restore)
        bans = firewall_bans(restore)
        if bans:
            try:
                await asyncio.to_thread(self.backend.ban_many, bans)
            except Exception:
                log.exception("the %s backend failed to apply %d bans from the store", self.backend.name, len(bans))
            for ban in bans:
                log.info("ban %s until %s: decided elsewhere, picked up from the store", ban.value, ban.until)
        unbanned = 0
        for scope, value, action in lift:
            if action == "ban" and scope in FIREWALL_SCOPES:
                try:
                    await asyncio.to_thread(self.backend.unban, value)
                    unbanned += 1
                    log.info("unban %s: lifted in the store", value)
                except Exception:
                    log.exception("cannot lift the ban of %s", value)
        return len(bans), unbanned

    async def handle(self, event: Event) -> list[Decision]:
        """Feed one event to detection and carry out what it decides."""
        self._remember(event)
        decisions = self.engine.feed(event)
        if decisions:
            await self.apply(decisions)
        return decisions

    async def apply(self, decisions: Sequence[Decision], *, raise_errors: bool = False, notify: bool = True) -> None:
        """Ban, store and notify `decisions` (from detection, a person or a hub).

        A firewall error is logged and the rest goes on: right for detection, which decides again
        on the next event. With `raise_errors` (a hub decision arrives once; the agent retries it),
        the decisions are still stored, so a restart's reconciliation carries them out, but the
        firewall's error (or the store's) is raised and nothing is notified. `notify=False` keeps
        them off the `[notify]` channels (the hub's decisions: often thousands at once).
        """
        bans = firewall_bans(decisions)
        failure: Exception | None = None
        if bans:
            try:
                await asyncio.to_thread(self.backend.ban_many, bans)
            except Exception as exc:
                if not raise_errors:
                    log.exception("the %s backend failed to apply %d bans", self.backend.name, len(bans))
                failure = exc
        for d in decisions:
            log.info("%s %s %s (%s, %s): %s", d.action, d.scope, d.value, d.scenario, d.origin, d.reason)
        if self.store is not None:
            try:
                await asyncio.to_thread(self.store.add_decisions, decisions)
            except Exception:
                if raise_errors:
                    raise
                log.exception("cannot store %d decisions", len(decisions))
        if failure is not None and raise_errors:
            raise failure
        self.decisions += len(decisions)
        if self.notifier is not None and notify:
            for d in decisions:
                await self.notifier.send(d, [self._recent[i] for i in d.event_ids if i in self._recent])

    async def tick(self, now: datetime | None = None) -> list[ActiveDecision]:
        """Advance detection time; lift ended bans on backends without kernel timeouts; every
        `reconcile_seconds`, pick up bans added or lifted in the store by others (`sync`)."""
        now = now or utcnow()
        ended = self.engine.tick(now)
        for ban in firewall_bans(ended):
            try:
                await asyncio.to_thread(self.backend.unban, ban.target)
            except Exception:
                log.exception("cannot lift the ban of %s", ban.value)
        interval = self.sync_interval
        due = interval is not None and (self._last_sync is None or now - self._last_sync >= interval)
        if due and self._started is not None:
            try:
                await self.sync(now)
            except Exception:  # a store that is gone for a moment must not stop detection
                log.exception("cannot read decision changes from the store")
                self._last_sync = now
        return ended

    def _remember(self, event: Event) -> None:
        if len(self._recent) >= MAX_RECENT_EVENTS:
            # Drop the oldest half at once (cheaper than one at a time from the front of a dict).
            keep = list(self._recent.items())[MAX_RECENT_EVENTS // 2 :]
            self._recent = dict(keep)
        self._recent[event.id] = event
