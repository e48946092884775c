"""`sipwarden agent`: push local evidence to a hub and enforce the hub's decisions, on its own."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer
from rich.console import Console

from sipwarden.agent import Agent
from sipwarden.app import open_backend
from sipwarden.cli.common import BackendOption, ConfigOption, DbOption, err_console, load, run_until_signal
from sipwarden.config import Settings
from sipwarden.enforce import EnforceError
from sipwarden.enforce.guard import Guard
from sipwarden.store import Store, default_url

HubOption = Annotated[
    str | None, typer.Option("--hub", help="Hub base URL; overrides \\[agent] hub_url.", show_default=False)
]
KeyOption = Annotated[str | None, typer.Option("--key", help="Hub key; overrides \\[agent] key.", show_default=False)]


def with_hub(settings: Settings, hub: str | None, key: str | None) -> Settings:
    """`settings` with `--hub` / `--key` laid over `[agent]`."""
    changes = {k: v for k, v in (("hub_url", hub), ("key", key)) if v}
    if not changes:
        return settings
    return settings.model_copy(update={"agent": settings.agent.model_copy(update=changes)})


async def run_agent(settings: Settings, *, stop: asyncio.Event, backend: str | None = None) -> Agent:
    """Run push and pull against `[agent] hub_url` until `stop`, enforcing through a local Guard."""
    store = await asyncio.to_thread(Store.open, default_url(settings))
    try:
        fw = await asyncio.to_thread(open_backend, settings, backend)
        guard = Guard.from_settings(settings, fw, store)
        await guard.start()
        agent = Agent.for_guard(settings.agent, settings.general.data_dir, guard, store)
        try:
            await agent.run(stop)
        finally:
            await asyncio.to_thread(agent.queue.close)
        return agent
    finally:
        await asyncio.to_thread(store.close)


def agent(
    hub: HubOption = None,
    key: KeyOption = None,
    backend: BackendOption = None,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Push queued evidence to the hub and enforce its decisions until Ctrl-C or SIGTERM."""
    settings = with_hub(load(config, db), hub, key)
    logging.getLogger().setLevel(settings.general.log_level)
    if not settings.agent.hub_url:
        err_console.print("[bold red]error[/] no hub: give --hub URL or set \\[agent] hub_url", highlight=False)
        raise typer.Exit(2)
    Console().print(f"agent of {settings.agent.hub_url}; Ctrl-C stops it", highlight=False, markup=False)

    async def main(stop: asyncio.Event) -> None:
        await run_agent(settings, stop=stop, backend=backend)

    try:
        run_until_signal(main)
    except ValueError as exc:
        err_console.print(f"[bold red]error[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except EnforceError as exc:
        err_console.print(f"[bold red]firewall error[/] {exc}", highlight=False)
        raise typer.Exit(1) from None


def register(app: typer.Typer) -> None:
    """Attach the `agent` command."""
    app.command("agent")(agent)
