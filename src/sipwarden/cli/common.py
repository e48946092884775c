"""Options every command takes, and the one way commands load their settings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sipwarden.config import ConfigError, Settings, load_settings

err_console = Console(stderr=True)

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
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        err_console.print(f"[bold red]configuration error[/]\n{exc}", highlight=False)
        raise typer.Exit(2) from None
    if db:
        settings = settings.model_copy(update={"store": settings.store.model_copy(update={"url": db})})
    return settings
