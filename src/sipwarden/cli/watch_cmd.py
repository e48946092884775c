"""`sipwarden watch LOG...`: follow PBX logs, detect attacks, ban them, store and notify.

`run_watch` is the reusable part: the composition root of `sipwarden run` can call it, or build a
`Guard` itself and feed it honeypot events as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Final

import typer

from sipwarden.cli.common import BackendOption, ConfigOption, DbOption, err_console, load
from sipwarden.config import Settings
from sipwarden.enforce import BanBackend, EnforceError, build_backend
from sipwarden.enforce.guard import Guard
from sipwarden.sensors.logs import FORMATS, LogFollower
from sipwarden.store import EventWriter, Store, default_url

log = logging.getLogger(__name__)

#: How often ended bans are lifted and idle detection state is forgotten (seconds).
TICK_INTERVAL_S: Final = 1.0


async def run_watch(
    settings: Settings,
    paths: Sequence[str],
    backend: BanBackend,
    store: Store | None,
    *,
    fmt: str = "auto",
    from_start: bool | None = None,
    stop: asyncio.Event | None = None,
    guard: Guard | None = None,
) -> Guard:
    """Follow `paths` until `stop` is set (or cancelled): every event is stored and fed to the Guard."""
    guard = guard or Guard.from_settings(settings, backend, store)
    await guard.start()
    writer = EventWriter(store) if store is not None else None
    state = Path(settings.logs.state_file or Path(settings.general.data_dir) / "logs-state.json")
    state.parent.mkdir(parents=True, exist_ok=True)
    follower = LogFollower(
        list(paths),
        state_path=state,
        fmt=fmt,
        poll_interval=settings.logs.poll_interval,
        sensor=settings.general.sensor,
        tz=settings.logs.zone(),
        from_start=settings.logs.from_start if from_start is None else from_start,
    )
    stop = stop or asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            await guard.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), TICK_INTERVAL_S)

    async def consume() -> None:
        async for event in follower.events():
            if writer is not None:
                writer.put(event)
            try:
                await guard.handle(event)
            except Exception:  # hostile input never ends the loop
                log.exception("event %s could not be handled", event.id)
            if stop.is_set():
                break

    tick_task = asyncio.create_task(ticker())
    consume_task = asyncio.create_task(consume())
    stop_task = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({consume_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.set()
        for task in (consume_task, tick_task, stop_task):
            task.cancel()
        for task in (consume_task, tick_task, stop_task):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if writer is not None:
            await asyncio.to_thread(writer.close)
    if consume_task.done() and not consume_task.cancelled() and consume_task.exception() is not None:
        raise consume_task.exception()  # type: ignore[misc]
    return guard


def watch(
    logs: Annotated[list[str], typer.Argument(help="Log files (globs allowed) or journal:UNIT.", show_default=False)],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help=f"auto or one of: {', '.join(FORMATS)}.", show_default=True)
    ] = "auto",
    backend: BackendOption = None,
    from_start: Annotated[
        bool | None,
        typer.Option(
            "--from-start/--from-end", help="Without a saved position, read files from the start.", show_default=False
        ),
    ] = None,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Follow PBX logs and ban attackers in the firewall (until Ctrl-C or SIGTERM)."""
    settings = load(config, db)
    logging.getLogger().setLevel(settings.general.log_level)
    if fmt != "auto" and fmt not in FORMATS:
        err_console.print(f"[red]unknown format {fmt!r}[/]; use auto or one of {', '.join(FORMATS)}", highlight=False)
        raise typer.Exit(2)
    try:
        fw = build_backend(settings.enforce, name=backend)
    except ValueError as exc:
        err_console.print(f"[red]{exc}[/]", highlight=False)
        raise typer.Exit(2) from None
    try:
        store = Store.open(default_url(settings))
    except Exception as exc:
        err_console.print(f"[red]cannot open the store[/]: {exc}", highlight=False)
        raise typer.Exit(1) from None

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        log.info("watching %s with the %s backend", ", ".join(logs), fw.name)
        await run_watch(settings, logs, fw, store, fmt=fmt, from_start=from_start, stop=stop)

    try:
        asyncio.run(main())
    except EnforceError as exc:
        err_console.print(f"[red]firewall error[/]: {exc}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        store.close()


def register(app: typer.Typer) -> None:
    """Attach the `watch` command."""
    app.command("watch")(watch)
