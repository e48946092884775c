"""`sipwarden honeypot`: run the SIP honeypot on its own, writing events to the store."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console

from sipwarden.cli.common import ConfigOption, DbOption, err_console, load
from sipwarden.config import Settings
from sipwarden.sensors.honeypot.personas import PERSONAS
from sipwarden.sensors.honeypot.runner import build_sinks, run_honeypot
from sipwarden.sensors.honeypot.server import Honeypot, parse_listen
from sipwarden.sensors.honeypot.tls import TlsSetupError
from sipwarden.sip.errors import LocalProtocolError
from sipwarden.store import EventWriter, Store, default_url


def honeypot(
    listen: Annotated[
        list[str] | None,
        typer.Option(
            "--listen", "-l", help="TRANSPORT:HOST:PORT (udp, tcp, tls); repeat it. Default: \\[honeypot] listen."
        ),
    ] = None,
    json_log: Annotated[
        str | None, typer.Option("--json-log", help="Also append every event as NDJSON to this file.")
    ] = None,
    webhook: Annotated[str | None, typer.Option("--webhook", help="Also POST every event as JSON to this URL.")] = None,
    persona: Annotated[
        str | None, typer.Option("--persona", help=f"System to imitate: {', '.join(sorted(PERSONAS))}.")
    ] = None,
    tls_cert: Annotated[str | None, typer.Option("--tls-cert", help="PEM certificate for tls listeners.")] = None,
    tls_key: Annotated[str | None, typer.Option("--tls-key", help="PEM private key for tls listeners.")] = None,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Run the SIP honeypot: answer scanners, let brute-forcers crack bait accounts, record their calls."""
    settings = load(config, db)
    updates = {k: v for k, v in (("tls_cert", tls_cert), ("tls_key", tls_key)) if v is not None}
    if updates:
        honeypot_settings = settings.honeypot.model_copy(update=updates)
        settings = settings.model_copy(update={"honeypot": honeypot_settings})
    specs = listen or settings.honeypot.listen
    try:
        for spec in specs:
            parse_listen(spec)
    except ValueError as exc:
        err_console.print(f"[bold red]error[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    if persona is not None and persona not in PERSONAS:
        err_console.print(f"[bold red]error[/] unknown persona {persona!r}; known: {', '.join(sorted(PERSONAS))}")
        raise typer.Exit(2)
    try:
        with asyncio.Runner(loop_factory=fast_loop_factory()) as runner:
            runner.run(_serve(settings, specs, json_log=json_log, webhook=webhook, persona=persona))
    except (TlsSetupError, LocalProtocolError, ValueError) as exc:
        err_console.print(f"[bold red]error[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except OSError as exc:
        err_console.print(f"[bold red]cannot listen[/] {exc}", highlight=False)
        raise typer.Exit(1) from None


async def _serve(
    settings: Settings, specs: list[str], *, json_log: str | None, webhook: str | None, persona: str | None
) -> None:
    store = await asyncio.to_thread(Store.open, default_url(settings))
    writer = EventWriter(store)
    sink = build_sinks(settings, [writer], json_log=json_log, webhook=webhook)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    def ready(hp: Honeypot) -> None:
        out = Console()
        for item in hp.listening:
            out.print(f"honeypot listening on {item}", highlight=False)
        out.print(f"persona {hp.core.persona.name}; events to {default_url(settings)}", highlight=False)

    try:
        await run_honeypot(settings, sink, stop=stop, ready=ready, listen=specs, persona=persona)
    finally:
        await sink.aclose()
        await asyncio.to_thread(store.close)


def fast_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when it is installed: its UDP path is several times faster than asyncio's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def register(app: typer.Typer) -> None:
    """Attach the `honeypot` command."""
    app.command("honeypot")(honeypot)
