"""The hub agent: push local Events to a hub, enforce the hub's decisions through the local Guard.

Push: events land in the durable PushQueue (fsync'd); a loop sends them in batches to
`POST /v1/events` and deletes them only after a 2xx. Pull: on each (re)connect the agent catches up
from the cursor it kept in the store's kv (the net changes since, or a whole snapshot when it has no
cursor or fell far behind; sync.py), then follows `GET /v1/stream` (server-sent events): `new`
decisions are applied with origin `hub:NAME` (never over the local allowlist or the machine's own
addresses), `deleted` ones lifted. A decision the firewall failed to apply is kept and retried until
it succeeds or expires, never skipped. Every loop retries with capped exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

import httpx

from sipwarden.agent.queue import PushQueue
from sipwarden.agent.settings import AgentSettings
from sipwarden.agent.sse import SseParser, SseProtocolError
from sipwarden.agent.sync import CatchUp, SyncError, delisting, fetch_catch_up
from sipwarden.events import Decision, Event, utcnow

if TYPE_CHECKING:
    from sipwarden.enforce.guard import Guard
    from sipwarden.store import Store

log = logging.getLogger(__name__)

#: The store kv key holding the last stream cursor applied.
CURSOR_KEY: Final = "agent.cursor"
#: Seconds without a byte on the stream before it is presumed dead (the hub sends a keep-alive every 15 s).
STREAM_READ_TIMEOUT_S: Final = 45.0
#: Seconds to connect to the hub or to send one batch.
REQUEST_TIMEOUT_S: Final = 30.0
#: Statuses that mean "try again later" rather than "this batch is bad" (auth problems are fixed by the
#: operator, and the events must survive until then).
RETRY_STATUSES: Final = frozenset({401, 403, 408, 409, 425, 429})
#: Longest hub message quoted in the operator log.
MAX_LOGGED_REPLY: Final = 500
#: Decisions handed to the Guard at once while applying a snapshot (one firewall transaction each).
SNAPSHOT_BATCH: Final = 1000
#: Decisions kept for a retry at most (one per address; a newer decision about it replaces it).
MAX_FAILED: Final = 1_000_000

Apply = Callable[[Sequence[Decision]], Awaitable[None]]
Unban = Callable[[str], Awaitable[None]]


def hub_origin(settings: AgentSettings) -> str:
    """`hub:NAME`, NAME being `[agent] name` or the hub URL's host."""
    return f"hub:{settings.name or urlsplit(settings.hub_url).hostname or 'hub'}"


def refused_items(response: httpx.Response, size: int) -> list[int]:
    """Indexes of the batch items a 422 names (`"loc": ["body", i, field]`); empty when it names none."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return []
    found: set[int] = set()
    if isinstance(detail, list):
        for err in detail:
            loc = err.get("loc") if isinstance(err, dict) else None
            if isinstance(loc, list) and len(loc) > 1 and isinstance(loc[1], int) and 0 <= loc[1] < size:
                found.add(loc[1])
    return sorted(found)


def next_backoff(current: float, settings: AgentSettings) -> float:
    """The wait after one more failure: doubled, between retry_min_seconds and retry_max_seconds."""
    return min(max(current * 2, settings.retry_min_seconds), settings.retry_max_seconds)


class Agent:
    """Push and pull for one hub. `apply` receives hub decisions; `is_protected` guards the allowlist."""

    def __init__(
        self,
        settings: AgentSettings,
        queue: PushQueue,
        *,
        apply: Apply | None = None,
        unban: Unban | None = None,
        is_protected: Callable[[str], bool] = lambda _v: False,
        store: Store | None = None,
    ) -> None:
        if not settings.hub_url:
            raise ValueError("[agent] hub_url is empty")
        self.settings = settings
        self.queue = queue
        self.apply = apply
        self.unban = unban
        self.is_protected = is_protected
        self.store = store
        self.origin = hub_origin(settings)
        self.base = settings.hub_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {settings.key}"} if settings.key else {}
        self.cursor: str | None = None
        self.pushed = 0
        self.applied = 0
        self.skipped = 0  # hub decisions refused locally (allowlist, own address, expired, malformed)
        self.failures = 0  # attempts the firewall refused (each is retried)
        self.snapshots = 0
        # Decisions the firewall failed to carry out, by address: (stream event, decision), retried.
        self.failed: dict[str, tuple[str, Decision]] = {}
        self.connected = asyncio.Event()
        self._wake = asyncio.Event()

    @classmethod
    def for_guard(cls, settings: AgentSettings, data_dir: Path, guard: Guard, store: Store | None) -> Agent:
        """An agent whose hub decisions go to `guard`'s firewall and store, checked against its allowlist.

        A hub decision is sent once, so it goes through `Guard.apply` with `raise_errors`: a
        firewall error comes back here, and the agent keeps the decision and retries it. The store
        has it already, so a restart's reconciliation (`Guard.start`) carries it out even if every
        retry failed. Hub decisions are not sent to `[notify]` channels (docs/agent.md).
        """
        from sipwarden.enforce.backend import make_ban

        def protected(value: str) -> bool:
            return guard.engine.is_protected(ipaddress.ip_network(value, strict=False))

        async def apply(decisions: Sequence[Decision]) -> None:
            await guard.apply(decisions, raise_errors=True, notify=False)

        async def unban(value: str) -> None:
            if store is not None:
                active = await asyncio.to_thread(store.active_decisions, utcnow())
                if any(d.value == value and not d.origin.startswith("hub:") for d in active):
                    log.info("the hub delisted %s, which a local decision still bans: kept", value)
                    return
                await asyncio.to_thread(store.remove_decision, value, reason="delisted by the hub", now=utcnow())
            guard.engine.release("ip", value)
            await asyncio.to_thread(guard.backend.unban, make_ban(value).target)

        queue_dir = Path(settings.queue_dir) if settings.queue_dir else data_dir / "agent"
        return cls(settings, PushQueue(queue_dir), apply=apply, unban=unban, is_protected=protected, store=store)

    # -- push ---------------------------------------------------------------------------------------

    def queue_events(self, events: list[Event]) -> None:
        """Durably queue local events for the hub (blocking: call from a thread, e.g. EventWriter.on_commit).

        Events that came from a hub are not sent back.
        """
        mine = [e for e in events if e.source != "hub"]
        if mine:
            self.queue.add(mine)

    def wake(self) -> None:
        """Ask the push loop to look at the queue now (call from the event loop's thread)."""
        self._wake.set()

    async def push_once(self, client: httpx.AsyncClient) -> int:
        """Send one batch; return how many events the hub accepted (0: queue empty).

        Raises httpx.HTTPError or `RetryLater` when the hub cannot take it now.
        """
        rows = await asyncio.to_thread(self.queue.peek, self.settings.batch_size)
        if not rows:
            return 0
        last = rows[-1][0]
        body = ("[" + ",".join(body for _seq, body in rows) + "]").encode()
        headers = {**self.headers, "Content-Type": "application/json"}
        response = await client.post(f"{self.base}/v1/events", content=body, headers=headers)
        if response.is_success:
            await asyncio.to_thread(self.queue.done, last)
            self.pushed += len(rows)
            return len(rows)
        reply = response.text[:MAX_LOGGED_REPLY]
        if response.status_code in RETRY_STATUSES or response.status_code >= 500:
            raise RetryLater(f"hub answered {response.status_code}: {reply}")
        bad = refused_items(response, len(rows))
        seqs = [rows[i][0] for i in bad] if bad else [seq for seq, _body in rows]
        log.error(
            "the hub refused %d of %d events (%d): %s; moved aside",
            len(seqs),
            len(rows),
            response.status_code,
            reply,
        )
        await asyncio.to_thread(self.queue.reject, seqs, f"{response.status_code}: {reply}")
        return 0

    async def run_push(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        """Send queued events until `stop`, backing off while the hub is unreachable."""
        delay = 0.0
        while not stop.is_set():
            try:
                sent = await self.push_once(client)
            except (httpx.HTTPError, RetryLater) as exc:
                delay = next_backoff(delay, self.settings)
                log.warning("cannot push to %s (%s); retry in %.1f s", self.base, exc, delay)
                await _sleep(stop, delay)
                continue
            delay = 0.0
            if sent:
                continue  # more may be queued
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                # The writer thread cannot set an asyncio.Event safely; a short poll also covers it.
                await asyncio.wait_for(_first(stop, self._wake), self.settings.retry_min_seconds)

    # -- pull ---------------------------------------------------------------------------------------

    async def load_cursor(self) -> str | None:
        """The stream cursor kept in the store (None: start from the beginning of the hub's log)."""
        if self.cursor is None and self.store is not None:
            self.cursor = await asyncio.to_thread(self.store.get_kv, CURSOR_KEY)
        return self.cursor

    async def handle(self, event: str, data: str, cursor: str | None, now: datetime) -> None:
        """Carry out one stream message and remember its cursor."""
        try:
            record = json.loads(data)
            decision = Decision.from_dict(record)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring a malformed hub message (%s): %.200s", exc, data)
            self.skipped += 1
        else:
            await self._carry_out(event, decision, now)
        if cursor is not None and cursor != self.cursor:
            self.cursor = cursor
            if self.store is not None:
                await asyncio.to_thread(self.store.set_kv, CURSOR_KEY, cursor)

    async def _carry_out(self, event: str, decision: Decision, now: datetime) -> None:
        if decision.scope not in ("ip", "range"):
            self.skipped += 1
            return
        if self.is_protected(decision.value):
            log.warning("the hub lists %s, which is allowlisted or our own: not enforced", decision.value)
            self.skipped += 1
            return
        if event not in ("new", "deleted") or (event == "new" and decision.until is not None and decision.until <= now):
            self.skipped += 1
            return
        local = decision if event == "deleted" else self._local(decision)
        self.failed.pop(decision.value, None)  # a newer decision about the address replaces a pending one
        if await self._attempt(event, local) and event == "new":
            self.applied += 1

    def _local(self, decision: Decision) -> Decision:
        return dataclasses.replace(decision, origin=self.origin)

    async def _attempt(self, event: str, decision: Decision) -> bool:
        """Carry out one decision; on failure keep it for `retry_failed` and return False."""
        try:
            if event == "deleted":
                if self.unban is not None:
                    await self.unban(decision.value)
            elif self.apply is not None:
                await self.apply([decision])
        except Exception as exc:  # the firewall or the store failed: retried, never skipped
            self.failures += 1
            if len(self.failed) < MAX_FAILED or decision.value in self.failed:
                self.failed[decision.value] = (event, decision)
            log.warning("cannot carry out the hub's %s of %s (%s); will retry", event, decision.value, exc)
            return False
        return True

    async def retry_failed(self, now: datetime) -> int:
        """Try every kept decision again (those that expired meanwhile are dropped); how many still fail."""
        for value, (event, decision) in list(self.failed.items()):
            if self.failed.get(value) != (event, decision):
                continue  # replaced meanwhile by a newer decision
            del self.failed[value]
            if event == "new" and decision.until is not None and decision.until <= now:
                continue
            if await self._attempt(event, decision):
                self.applied += 1 if event == "new" else 0
                log.info("carried out the hub's %s of %s on retry", event, value)
        return len(self.failed)

    async def run_retries(self, stop: asyncio.Event) -> None:
        """Retry failed decisions until `stop`, backing off while the firewall keeps failing."""
        delay = 0.0
        while not stop.is_set():
            delay = next_backoff(delay, self.settings) if self.failed else 0.0
            await _sleep(stop, delay or self.settings.retry_min_seconds)
            if self.failed and not stop.is_set():
                await self.retry_failed(utcnow())

    async def catch_up(self, client: httpx.AsyncClient) -> str | None:
        """Apply what changed at the hub since the kept cursor (or a snapshot); return the new cursor."""
        cursor = await self.load_cursor()
        update = await fetch_catch_up(client, self.base, self.headers, cursor)
        now = utcnow()
        if update.snapshot:
            await self._apply_snapshot(update, now)
        else:
            for value in update.removed:
                await self._carry_out("deleted", delisting(value, now), now)
            for decision in update.added:
                await self._carry_out("new", decision, now)
        if update.cursor != self.cursor:
            self.cursor = update.cursor
            if self.store is not None:
                await asyncio.to_thread(self.store.set_kv, CURSOR_KEY, update.cursor)
        return self.cursor

    async def _apply_snapshot(self, update: CatchUp, now: datetime) -> None:
        """Enforce the whole list in batches, then lift hub bans it no longer holds."""
        self.snapshots += 1
        listed = {d.value for d in update.added}
        wanted: list[Decision] = []
        for decision in update.added:
            if self.is_protected(decision.value) or (decision.until is not None and decision.until <= now):
                self.skipped += 1
                continue
            self.failed.pop(decision.value, None)
            wanted.append(self._local(decision))
        for start in range(0, len(wanted), SNAPSHOT_BATCH):
            batch = wanted[start : start + SNAPSHOT_BATCH]
            try:
                if self.apply is not None:
                    await self.apply(batch)
                self.applied += len(batch)
            except Exception as exc:  # retried one by one
                log.warning("cannot apply %d hub decisions of a snapshot (%s); will retry", len(batch), exc)
                self.failures += 1
                for decision in batch:
                    self.failed[decision.value] = ("new", decision)
        stale: set[str] = set()
        if self.store is not None:
            active = await asyncio.to_thread(self.store.active_decisions, now)
            stale = {d.value for d in active if d.origin == self.origin and d.value not in listed}
        for value in sorted(stale):
            await self._carry_out("deleted", delisting(value, now), now)
        log.info(
            "hub snapshot at cursor %s: %d listed, %d enforced, %d lifted",
            update.cursor,
            len(listed),
            len(wanted),
            len(stale),
        )

    async def pull_once(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        """Catch up from the stored cursor, then follow the stream until it ends, fails or `stop` is set."""
        cursor = await self.catch_up(client)
        headers = {**self.headers, "Accept": "text/event-stream", "Last-Event-ID": cursor or "0"}
        timeout = httpx.Timeout(REQUEST_TIMEOUT_S, read=STREAM_READ_TIMEOUT_S)
        parser = SseParser(last_id=cursor)
        async with client.stream("GET", f"{self.base}/v1/stream", headers=headers, timeout=timeout) as response:
            if not response.is_success:
                reply = (await response.aread()).decode("utf-8", "replace")[:MAX_LOGGED_REPLY]
                raise RetryLater(f"stream answered {response.status_code}: {reply}")
            self.connected.set()
            async for line in response.aiter_lines():
                if stop.is_set():
                    return
                msg = parser.feed_line(line)
                if msg is not None:
                    try:
                        await self.handle(msg.event, msg.data, msg.id, utcnow())
                    except Exception:  # one bad decision never stops the stream
                        log.exception("cannot carry out hub decision %.200s", msg.data)

    async def run_pull(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        """Follow the hub's stream until `stop`, reconnecting with backoff."""
        delay = 0.0
        while not stop.is_set():
            try:
                await _until_stop(stop, self.pull_once(client, stop))
                delay = 0.0  # a clean end (the hub closes streams hourly): reconnect at once
            except (httpx.HTTPError, RetryLater, SseProtocolError, SyncError) as exc:
                self.connected.clear()
                delay = next_backoff(delay, self.settings)
                log.warning("hub stream %s lost (%s); reconnect in %.1f s", self.base, exc, delay)
                await _sleep(stop, delay)

    async def run(self, stop: asyncio.Event) -> None:
        """Push and pull (as configured) until `stop` is set."""
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as client:
            jobs = []
            if self.settings.push:
                jobs.append(self.run_push(client, stop))
            if self.settings.pull:
                jobs.append(self.run_pull(client, stop))
                jobs.append(self.run_retries(stop))
            await asyncio.gather(*jobs)


class RetryLater(Exception):
    """The hub cannot take the request now (5xx, rate limit, auth); the same request is retried later."""


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _first(*events: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


async def _until_stop(stop: asyncio.Event, work: Awaitable[None]) -> None:
    """Run `work`, cancelling it when `stop` is set (a quiet stream would otherwise hold shutdown)."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.done() and not task.cancelled():
        task.result()
