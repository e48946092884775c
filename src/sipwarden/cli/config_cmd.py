"""`sipwarden config check`: validate a configuration file."""

from __future__ import annotations

import typer
from rich.console import Console

from sipwarden.cli.common import ConfigOption, DbOption, load

config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)


@config_app.command("check")
def check(config: ConfigOption = None, db: DbOption = None) -> None:
    """Validate the configuration file; name every bad key, exit 2 on errors."""
    settings = load(config, db)
    Console().print(f"[green]ok[/] {config or '(defaults)'}: {len(type(settings).model_fields)} sections valid")


def register(app: typer.Typer) -> None:
    """Attach the `config` command group."""
    app.add_typer(config_app, name="config")
