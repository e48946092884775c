"""Options every command takes, and the one way commands load their settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import asyncio

    from rich.console import Console

    from sipwarden.config import Settings


class _StderrConsole:
    """rich's Console on stderr, made on first use: importing rich costs every command ~40 ms of start-up."""

    def __init__(self) -> None:
        self._console: Console | None = None

    def print(self, *objects: Any, **options: Any) -> None:
        """`rich.console.Console.print` to stderr."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True)
        self._console.print(*objects, **options)


err_console = _StderrConsole()

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="TOML configuration file (see docs/sipwarden.sample.toml).", show_default=False
    ),
]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", help="Store URL (sqlite:///FILE or postgresql://...); overrides \\[store] url.", show_default=False
    ),
]
BackendOption = Annotated[
    str | None,
    typer.Option(
        "--backend", help="nft, ipset, iptables or dry-run; default: \\[enforce] backend.", show_default=False
    ),
]


def load(config: Path | None, db: str | None) -> Settings:
    """Load settings for a command; on a bad file print the problem and exit with status 2."""
    # Imported here: pydantic and the settings models are a third of a short command's start-up,
    # and `sipwarden parse` without --config needs none of them.
    from sipwarden.config import ConfigError, load_settings

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        err_console.print(f"[bold red]configuration error[/]\n{exc}", highlight=False)
        raise typer.Exit(2) from None
    if db:
        settings = settings.model_copy(update={"store": settings.store.model_copy(update={"url": db})})
    return settings


def run_until_signal(job: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `job(stop)` in a new event loop; SIGINT and SIGTERM set `stop` so every part shuts down cleanly."""
    import asyncio
    import contextlib
    import signal

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await job(stop)

    asyncio.run(main())
