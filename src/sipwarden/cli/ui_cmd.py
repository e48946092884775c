"""`sipwarden ui hash-password|add-user`: logins of the dashboard under /ui/."""

from __future__ import annotations

from typing import Annotated

import typer

from sipwarden.cli.common import ConfigOption, DbOption, err_console, load
from sipwarden.cli.report_cmd import open_store
from sipwarden.hub.ui.auth import add_user, hash_password

ui_app = typer.Typer(
    help="Dashboard logins (the pages are served under /ui/ by `sipwarden hub` and `run`).", no_args_is_help=True
)


def _password(value: str | None) -> str:
    if value:
        return value
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@ui_app.command("hash-password")
def hash_password_cmd(
    password: Annotated[
        str | None, typer.Option("--password", help="The password (prompted for when left out).")
    ] = None,
) -> None:
    """Print an scrypt hash for `[ui] admin_password_hash`."""
    try:
        print(hash_password(_password(password)))
    except ValueError as exc:
        err_console.print(f"[bold red]error[/] {exc}", highlight=False)
        raise typer.Exit(2) from None


@ui_app.command("add-user")
def add_user_cmd(
    name: Annotated[str, typer.Argument(help="User name (1..64 printable characters).")],
    password: Annotated[
        str | None, typer.Option("--password", help="The password (prompted for when left out).")
    ] = None,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Create or replace a dashboard user in the store (shared by every hub replica on it)."""
    settings = load(config, db)
    secret = _password(password)
    store = open_store(settings)
    try:
        add_user(store, name, secret)
    except ValueError as exc:
        err_console.print(f"[bold red]error[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    finally:
        store.close()
    err_console.print(f"user {name} saved", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Attach the `ui` command group."""
    app.add_typer(ui_app, name="ui")
