"""Change fan-out: wake event streams when the list changes.

Within one process a submission wakes its own streams directly. Between processes, PostgreSQL
`LISTEN sipwarden_hub` delivers the NOTIFY every change sends at commit; with SQLite the streams
poll the change log by cursor every `stream_poll_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

import psycopg

from sipwarden.hub.repo import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

#: Back-off between attempts to re-establish LISTEN after the database connection is lost.
LISTEN_RETRY_FIRST: Final = 0.5
LISTEN_RETRY_MAX: Final = 10.0


class ChangeSignal:
    """A broadcast wake-up: every waiter returns when `notify()` is called or its timeout passes."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.notifications = 0

    def notify(self) -> None:
        """Wake every current waiter."""
        self.notifications += 1
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, timeout: float) -> bool:
        """True when woken, False on timeout."""
        event = self._event
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True


def libpq_url(sqlalchemy_url: str) -> str:
    """`postgresql+psycopg://...` as a libpq URL psycopg connects with."""
    return "postgresql://" + sqlalchemy_url.split("://", 1)[1]


async def listen_forever(url: str, signal: ChangeSignal, ready: asyncio.Event | None = None) -> None:
    """LISTEN on the hub channel and wake `signal` on each notification; reconnects until cancelled."""
    delay = LISTEN_RETRY_FIRST
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                delay = LISTEN_RETRY_FIRST
                if ready is not None:
                    ready.set()
                # Wake once after (re)connecting: changes made while we were away are read by cursor.
                signal.notify()
                async for _ in conn.notifies():
                    signal.notify()
        except asyncio.CancelledError:
            raise
        except (psycopg.Error, OSError) as exc:
            log.warning("hub change listener lost its connection (%s); retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, LISTEN_RETRY_MAX)


async def stop(task: asyncio.Task[None] | None) -> None:
    """Cancel a listener task and wait for it."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
