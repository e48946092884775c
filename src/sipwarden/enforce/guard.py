"""The Guard: events in, bans out. Detection + firewall + store + notifications for one event stream.

`sipwarden watch` and the composition root of `sipwarden run` (which also feeds honeypot events) both
build one Guard and call `handle(event)` for every event, `tick()` now and then. Blocking work
(firewall commands, database writes) runs in threads so the event loop keeps reading. A failing
firewall, database or notification channel is logged and never stops the stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Final

from sipwarden.detect import Engine
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


def firewall_bans(decisions: Iterable[Decision]) -> list[Ban]:
    """The decisions a firewall carries: `ban` of an `ip` or a `range`."""
    return [make_ban(d.value, d.until) for d in decisions if d.action == "ban" and d.scope in ("ip", "range")]


class Guard:
    """One detection engine and one ban backend, with an optional store and notifier."""

    def __init__(
        self, engine: Engine, backend: BanBackend, *, store: Store | None = None, notifier: Notifier | None = None
    ) -> None:
        self.engine = engine
        self.backend = backend
        self.store = store
        self.notifier = notifier
        self.decisions = 0
        self._recent: dict[str, Event] = {}

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
        return cls(engine, backend, store=store, notifier=notifier)

    async def start(self, now: datetime | None = None) -> int:
        """Prepare the firewall and make it match the store's active bans; return how many are active."""
        now = now or utcnow()
        await asyncio.to_thread(self.backend.setup)
        active: list[Decision] = []
        if self.store is not None:
            active = await asyncio.to_thread(self.store.active_decisions, now)
        self.engine.restore(active)
        count = await asyncio.to_thread(self.backend.reconcile, firewall_bans(active))
        log.info("firewall reconciled with the store: %d active bans (%s backend)", count, self.backend.name)
        return count

    async def handle(self, event: Event) -> list[Decision]:
        """Feed one event to detection and carry out what it decides."""
        self._remember(event)
        decisions = self.engine.feed(event)
        if decisions:
            await self.apply(decisions)
        return decisions

    async def apply(self, decisions: Sequence[Decision]) -> None:
        """Ban, store and notify `decisions` (from detection, a person or a hub)."""
        self.decisions += len(decisions)
        bans = firewall_bans(decisions)
        if bans:
            try:
                await asyncio.to_thread(self.backend.ban_many, bans)
            except Exception:
                log.exception("the %s backend failed to apply %d bans", self.backend.name, len(bans))
        for d in decisions:
            log.info("%s %s %s (%s): %s", d.action, d.scope, d.value, d.scenario, d.reason)
        if self.store is not None:
            try:
                await asyncio.to_thread(self.store.add_decisions, decisions)
            except Exception:
                log.exception("cannot store %d decisions", len(decisions))
        if self.notifier is not None:
            for d in decisions:
                await self.notifier.send(d, [self._recent[i] for i in d.event_ids if i in self._recent])

    async def tick(self, now: datetime | None = None) -> list[Decision]:
        """Advance detection time; lift ended bans on backends without kernel timeouts."""
        ended = self.engine.tick(now or utcnow())
        for ban in firewall_bans(ended):
            try:
                await asyncio.to_thread(self.backend.unban, ban.target)
            except Exception:
                log.exception("cannot lift the ban of %s", ban.value)
        return ended

    def _remember(self, event: Event) -> None:
        if len(self._recent) >= MAX_RECENT_EVENTS:
            # Drop the oldest half at once (cheaper than one at a time from the front of a dict).
            keep = list(self._recent.items())[MAX_RECENT_EVENTS // 2 :]
            self._recent = dict(keep)
        self._recent[event.id] = event
