"""Composition root: builds the pipeline of `sipwarden run` from the settings.

```
honeypot ─┐
log tail ─┼─> EventWriter (store) + Guard (detect -> enforce -> store decisions -> notify)
cdr tail ─┘   (the CDR monitor's own fraud decisions go straight to the Guard)
web page  <── store
```

Everything runs in one asyncio loop; blocking work (SQLite, firewall commands) goes to threads inside
the parts themselves. A failure in one optional part (the web page, a log file) is logged and the
others keep running; a failure to bind the honeypot's sockets or open the store stops the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final

import uvicorn

from sipwarden.agent import Agent
from sipwarden.config import Settings
from sipwarden.enforce import BanBackend, EnforceError, build_backend
from sipwarden.enforce.dryrun import DryRunBackend
from sipwarden.enforce.guard import Guard
from sipwarden.events import Decision, Event
from sipwarden.hub.ui import ui_router
from sipwarden.hub.web import create_web_app
from sipwarden.intel.owner_cache import StoreOwnership
from sipwarden.sensors.cdr.monitor import monitor_from_settings
from sipwarden.sensors.honeypot.runner import build_sinks, honeypot_from_settings
from sipwarden.sensors.honeypot.server import Honeypot
from sipwarden.store import EventWriter, Store, default_url

log = logging.getLogger(__name__)

#: Events waiting for detection. Detection is fast (microseconds per event); the bound only matters
#: when the firewall stalls, and then the store still records every event (see GuardFeed.dropped).
DETECTION_QUEUE: Final = 100_000
#: How often ended bans are lifted and idle detection state is forgotten (seconds).
TICK_INTERVAL_S: Final = 1.0


class GuardFeed:
    """An event sink (the honeypot's `put`) that hands events to the Guard without blocking the SIP loop."""

    def __init__(self, guard: Guard, *, size: int = DETECTION_QUEUE) -> None:
        self.guard = guard
        self.queue: asyncio.Queue[Event] = asyncio.Queue(size)
        self.dropped = 0

    def put(self, event: Event) -> None:
        """Queue one event for detection; count it when the queue is full (the store still has it)."""
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped in (1, 1000) or self.dropped % 100_000 == 0:
                log.warning("detection is behind: %d events not inspected (all are stored)", self.dropped)

    async def run(self) -> None:
        """Feed queued events to the Guard until cancelled."""
        while True:
            event = await self.queue.get()
            try:
                await self.guard.handle(event)
            except Exception:  # one bad event never stops detection
                log.exception("event %s could not be handled", event.id)


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handlers: `sipwarden run` owns SIGINT/SIGTERM for every part."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def split_host_port(listen: str) -> tuple[str, int]:
    """`HOST:PORT` or `[V6]:PORT` -> (host, port); ValueError names the bad text."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"expected HOST:PORT, got {listen!r}")
    return host.strip("[]"), int(port)


def open_backend(settings: Settings, name: str | None) -> BanBackend:
    """The configured firewall backend; dry-run (loudly) when it cannot be used on this machine."""
    backend = build_backend(settings.enforce, name=name)
    if backend.name == "dry-run":
        return backend
    try:
        backend.setup()
    except (EnforceError, OSError) as exc:
        log.error(
            "the %s firewall backend is not usable here (%s): bans are recorded but NOT enforced. "
            "Run as root with nftables installed, or set [enforce] backend.",
            backend.name,
            exc,
        )
        return DryRunBackend()
    return backend


@dataclass
class Running:
    """What `run_main` started, for the caller to report and for tests to inspect."""

    honeypot: Honeypot | None
    web_url: str | None
    store_url: str
    guard: Guard
    agent: Agent | None = None
    tasks: list[asyncio.Task[object]] = field(default_factory=list)


async def run_main(
    settings: Settings,
    *,
    stop: asyncio.Event,
    backend: str | None = None,
    ready: Callable[[Running], None] | None = None,
) -> None:
    """Run sipwarden's main job until `stop` is set."""
    store_url = default_url(settings)
    store = await asyncio.to_thread(Store.open, store_url)
    writer = EventWriter.from_settings(store, settings.store)
    fw = await asyncio.to_thread(open_backend, settings, backend)
    guard = Guard.from_settings(settings, fw, store)
    await guard.start()
    feed = GuardFeed(guard)
    running = Running(honeypot=None, web_url=None, store_url=store_url, guard=guard)
    if settings.agent.hub_url:  # share evidence with a hub and enforce its decisions
        running.agent = Agent.for_guard(settings.agent, settings.general.data_dir, guard, store)
        writer.on_commit = running.agent.queue_events  # stored events are queued for the hub, durably
    sink = build_sinks(settings, [writer, feed])
    server: _QuietServer | None = None
    try:
        running.tasks.append(asyncio.create_task(feed.run(), name="detection"))
        running.tasks.append(asyncio.create_task(_ticker(guard, stop), name="detection-timer"))
        if running.agent is not None:
            running.tasks.append(asyncio.create_task(running.agent.run(stop), name="agent"))
        if settings.honeypot.enabled:
            running.honeypot = honeypot_from_settings(settings, sink)
            await running.honeypot.start()
        if settings.logs.enabled and settings.logs.paths:
            from sipwarden.cli.watch_cmd import run_watch  # the log pipeline shares this Guard

            running.tasks.append(
                asyncio.create_task(
                    run_watch(
                        settings, settings.logs.paths, fw, store, fmt=settings.logs.format, stop=stop, guard=guard
                    ),
                    name="logs",
                )
            )
        monitor = monitor_from_settings(settings)
        if monitor is not None:

            async def emit(item: Event | Decision) -> None:
                if isinstance(item, Decision):
                    await guard.apply([item])  # bans of the fraudulent calls' source addresses
                else:
                    sink.put(item)

            running.tasks.append(asyncio.create_task(monitor.run(emit, stop), name="cdr"))
        if settings.web.enabled:
            host, port = split_host_port(settings.web.listen)
            web_app = create_web_app(store)
            # The investigation dashboard; owners come from the cache `sipwarden hub abuse refresh` fills.
            web_app.include_router(ui_router(store, settings, ownership=StoreOwnership(store)), prefix="/ui")
            config = uvicorn.Config(web_app, host=host, port=port, log_level="warning", lifespan="off")
            server = _QuietServer(config)
            running.tasks.append(asyncio.create_task(server.serve(), name="web"))
            while not server.started:
                task = running.tasks[-1]
                if task.done():  # could not bind: say so, keep the rest running
                    log.error("the web page could not start on %s", settings.web.listen)
                    break
                await asyncio.sleep(0.01)
            else:
                shown = f"[{host}]" if ":" in host else host
                running.web_url = f"http://{shown}:{port}/"
        if ready is not None:
            ready(running)
        await stop.wait()
    finally:
        if server is not None:
            server.should_exit = True
        if running.honeypot is not None:
            await running.honeypot.stop()
        for task in running.tasks:
            if task.get_name() != "web":
                task.cancel()
        await asyncio.gather(*running.tasks, return_exceptions=True)
        await sink.aclose()  # closes the EventWriter too, after its last batch
        if running.agent is not None:
            await asyncio.to_thread(running.agent.queue.close)
        await asyncio.to_thread(store.close)


async def _ticker(guard: Guard, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await guard.tick()
        except Exception:
            log.exception("detection timer failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), TICK_INTERVAL_S)
