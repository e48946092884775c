"""Start the honeypot from the whole configuration: the entry point `sipwarden run` and
`sipwarden honeypot` share.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Sequence
from pathlib import Path

from sipwarden.config import Settings
from sipwarden.sensors.honeypot.server import Honeypot
from sipwarden.sensors.honeypot.sinks import EventSink, FanoutSink, NdjsonSink, WebhookSink


def sensor_name(settings: Settings) -> str:
    """`[general] sensor`, or the host name."""
    return settings.general.sensor or socket.gethostname()


def build_sinks(
    settings: Settings, base: Sequence[EventSink], *, json_log: str | None = None, webhook: str | None = None
) -> FanoutSink:
    """`base` sinks (e.g. the store's EventWriter) plus the NDJSON file and webhook from settings or overrides.

    Needs a running event loop when a webhook is configured.
    """
    sinks = list(base)
    path = json_log if json_log is not None else settings.honeypot.json_log
    if path:
        sinks.append(NdjsonSink(Path(path)))
    url = webhook if webhook is not None else settings.honeypot.webhook
    if url:
        sinks.append(WebhookSink(url))
    return FanoutSink(sinks)


def honeypot_from_settings(
    settings: Settings, sink: EventSink, *, listen: Sequence[str] | None = None, persona: str | None = None
) -> Honeypot:
    """A Honeypot configured from `settings` (not started)."""
    return Honeypot(
        settings.honeypot,
        sink,
        sensor=sensor_name(settings),
        data_dir=Path(settings.general.data_dir),
        listen=listen,
        persona=persona,
    )


async def run_honeypot(
    settings: Settings,
    sink: EventSink,
    *,
    stop: asyncio.Event,
    ready: Callable[[Honeypot], None] | None = None,
    listen: Sequence[str] | None = None,
    persona: str | None = None,
) -> Honeypot:
    """Run the honeypot until `stop` is set; `ready(honeypot)` is called once every socket listens."""
    honeypot = honeypot_from_settings(settings, sink, listen=listen, persona=persona)
    await honeypot.start()
    try:
        if ready is not None:
            ready(honeypot)
        await stop.wait()
    finally:
        await honeypot.stop()
    return honeypot
