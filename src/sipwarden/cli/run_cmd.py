"""`sipwarden run`: the main job — honeypot, log watching, detection, bans, store and web page."""

from __future__ import annotations

import asyncio
import logging

import typer
from rich.console import Console

from sipwarden.app import Running, run_main
from sipwarden.cli.agent_cmd import HubOption, KeyOption, with_hub
from sipwarden.cli.common import BackendOption, ConfigOption, DbOption, err_console, load, run_until_signal
from sipwarden.enforce import EnforceError
from sipwarden.sensors.honeypot.tls import TlsSetupError


def run(
    backend: BackendOption = None,
    config: ConfigOption = None,
    db: DbOption = None,
    hub: HubOption = None,
    key: KeyOption = None,
) -> None:
    """Run sipwarden's main job until Ctrl-C or SIGTERM; print where it listens."""
    settings = with_hub(load(config, db), hub, key)
    logging.getLogger().setLevel(settings.general.log_level)
    out = Console()

    def ready(running: Running) -> None:
        if running.honeypot is not None:
            for item in running.honeypot.listening:
                out.print(f"honeypot listening on {item}", highlight=False)
        out.print(f"store: {running.store_url}", highlight=False)
        out.print(f"firewall backend: {running.guard.backend.name}", highlight=False)
        if running.agent is not None:
            out.print(f"hub agent: {running.agent.base}", highlight=False, markup=False)
        if running.web_url:
            out.print(f"web page: {running.web_url}", highlight=False)
            out.print(f"dashboard: {running.web_url}ui/", highlight=False)
        out.print("sipwarden is running; Ctrl-C stops it", highlight=False)

    async def main(stop: asyncio.Event) -> None:
        await run_main(settings, stop=stop, backend=backend, ready=ready)

    try:
        run_until_signal(main)
    except (ValueError, TlsSetupError) as exc:
        err_console.print(f"[bold red]error[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except EnforceError as exc:
        err_console.print(f"[bold red]firewall error[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    except OSError as exc:
        err_console.print(f"[bold red]cannot listen[/] {exc}", highlight=False)
        raise typer.Exit(1) from None


def register(app: typer.Typer) -> None:
    """Attach the `run` command."""
    app.command("run")(run)
