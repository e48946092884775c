"""Where honeypot events go: one small `EventSink` Protocol and the outputs that implement it.

`FanoutSink` hands each event to every sink and, like a plugin dispatcher, logs a broken sink's
error instead of letting it stop the SIP loop. `WebhookSink` posts from its own task through a
bounded queue, so a slow web server can never block or grow the honeypot.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Final, Protocol, runtime_checkable

import httpx

from sipwarden.events import Event

log = logging.getLogger(__name__)

#: Events waiting for the webhook; beyond this they are dropped (and counted), never buffered.
WEBHOOK_QUEUE: Final = 1000
#: One webhook POST may take this long; a hung endpoint then costs one slot, not the queue.
WEBHOOK_TIMEOUT_SECONDS: Final = 5.0


@runtime_checkable
class EventSink(Protocol):
    """Anything that takes events: the store's EventWriter, a file, a webhook."""

    def put(self, event: Event) -> None:
        """Accept one event; must not block."""


class ListSink:
    """Keeps events in memory (for tests and for `sipwarden honeypot` summaries)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def put(self, event: Event) -> None:
        """Append `event`."""
        self.events.append(event)


class FanoutSink:
    """Puts every event into each of `sinks`; a failing sink is logged and skipped."""

    def __init__(self, sinks: Iterable[EventSink]) -> None:
        self.sinks = list(sinks)

    def put(self, event: Event) -> None:
        """Hand `event` to every sink."""
        for sink in self.sinks:
            try:
                sink.put(event)
            except Exception:
                log.exception("event sink %s failed", type(sink).__name__)

    async def aclose(self) -> None:
        """Close the sinks that can be closed (webhook first drains, then files and the store)."""
        for sink in self.sinks:
            try:
                aclose = getattr(sink, "aclose", None)
                if aclose is not None:
                    await aclose()
                    continue
                close = getattr(sink, "close", None)
                if close is not None:
                    await asyncio.to_thread(close)
            except Exception:
                log.exception("closing event sink %s failed", type(sink).__name__)


class NdjsonSink:
    """Appends each event as one JSON line (the `sipwarden events --json` format)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: IO[str] | None = path.open("a", encoding="utf-8")

    def put(self, event: Event) -> None:
        """Write `event` as a line; flushed so `tail -f` sees it."""
        if self._file is None:
            return
        self._file.write(json.dumps(event.to_dict(), ensure_ascii=False, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()
            self._file = None


class WebhookSink:
    """POSTs each event as JSON to `url` from a background task; drops when the queue is full."""

    def __init__(self, url: str, *, client: httpx.AsyncClient | None = None, queue_size: int = WEBHOOK_QUEUE) -> None:
        self.url = url
        self.dropped = 0
        self.failed = 0
        self.sent = 0
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=queue_size)
        self._client = client or httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_SECONDS)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="honeypot-webhook")

    def put(self, event: Event) -> None:
        """Queue `event` for posting; drop it (and count) if the queue is full."""
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped in (1, 100) or self.dropped % 10_000 == 0:
                log.warning("webhook %s is behind; %d events dropped", self.url, self.dropped)

    async def _run(self) -> None:
        while True:
            event = await self._queue.get()
            if event is None:
                return
            try:
                response = await self._client.post(self.url, json=event.to_dict())
                response.raise_for_status()
                self.sent += 1
            except httpx.HTTPError as exc:
                self.failed += 1
                log.warning("webhook %s failed: %s", self.url, exc)

    async def aclose(self) -> None:
        """Send what is queued (within a bounded time), then stop."""
        try:
            await asyncio.wait_for(self._queue.put(None), WEBHOOK_TIMEOUT_SECONDS * 2)
            await asyncio.wait_for(asyncio.shield(self._task), WEBHOOK_TIMEOUT_SECONDS * 2)
        except TimeoutError:
            log.warning("webhook %s: %d events not sent at shutdown", self.url, self._queue.qsize())
            self._task.cancel()
        await self._client.aclose()
