"""`sipwarden hub`: serve the shared blocklist; `sipwarden hub keys create|list|revoke` manage its keys."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from sipwarden.cli.common import ConfigOption, DbOption, err_console, load
from sipwarden.cli.hub_abuse_cmd import abuse_app
from sipwarden.config import Settings
from sipwarden.events import utcnow
from sipwarden.hub.api import create_hub_app
from sipwarden.hub.asgi import ENV_CONFIG, ENV_DB
from sipwarden.hub.repo import ROLES, HubRepo
from sipwarden.store import Store, default_url

log = logging.getLogger(__name__)
out = Console(highlight=False)

hub_app = typer.Typer(help="The shared blocklist hub: serve it, manage its keys.", no_args_is_help=False)
keys_app = typer.Typer(help="API keys of the hub.", no_args_is_help=True)
hub_app.add_typer(keys_app, name="keys")
hub_app.add_typer(abuse_app, name="abuse")


def split_listen(listen: str) -> tuple[str, int]:
    """`HOST:PORT` or `[IPv6]:PORT` -> (host, port); BadParameter otherwise."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise typer.BadParameter(f"expected HOST:PORT, got {listen!r}", param_hint="--listen")
    return host.strip("[]"), int(port)


def _open(settings: Settings) -> Store:
    try:
        return Store.open(default_url(settings))
    except (SQLAlchemyError, OSError, ValueError) as exc:
        err_console.print(f"[bold red]cannot open the store[/]: {exc}", highlight=False)
        raise typer.Exit(1) from None


@hub_app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    config: ConfigOption = None,
    db: DbOption = None,
    listen: Annotated[str | None, typer.Option(help="HOST:PORT to serve on; overrides [hub] listen.")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="uvicorn worker processes.")] = 1,
) -> None:
    """Serve the hub (feeds, submission, stream, compatible APIs) until interrupted."""
    if ctx.invoked_subcommand is not None:
        return
    settings = load(config, db)
    host, port = split_listen(listen or settings.hub.listen)
    if workers == 1:
        store = _open(settings)
        try:
            uvicorn.run(create_hub_app(store, settings.hub, full=settings), host=host, port=port, log_level="warning")
        finally:
            store.close()
        return
    # Several processes: each builds its own app (and its own database pool) from the environment.
    _open(settings).close()  # migrate once, and fail here rather than in every worker
    if config is not None:
        os.environ[ENV_CONFIG] = str(config)
    os.environ[ENV_DB] = default_url(settings)
    uvicorn.run(
        "sipwarden.hub.asgi:create_from_env", factory=True, host=host, port=port, workers=workers, log_level="warning"
    )


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who holds the key (a sensor's name, a person).")],
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")] = "reader",
    trusted: Annotated[
        bool, typer.Option("--trusted", help="A trusted sensor: its honeypot evidence lists at once.")
    ] = False,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Create a key and print it (the key alone on the last line; it is not shown again)."""
    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}", param_hint="--role")
    settings = load(config, db)
    store = _open(settings)
    try:
        key, record = HubRepo(store, settings.hub).create_key(name, role, trusted=trusted, now=utcnow())
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--name") from None
    finally:
        store.close()
    out.print(f"created {record.role} key {record.name!r} (id {record.id}{', trusted' if trusted else ''})")
    print(key)


@keys_app.command("list")
def keys_list(config: ConfigOption = None, db: DbOption = None) -> None:
    """List keys (never the keys themselves)."""
    settings = load(config, db)
    store = _open(settings)
    try:
        keys = HubRepo(store, settings.hub).keys()
    finally:
        store.close()
    for k in keys:
        state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
        trusted = "trusted" if k.trusted else "-"
        out.print(f"{k.id}  {k.role:<7} {trusted:<8} {state:<24} {k.name}", markup=False)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="The key's id or name.")],
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Revoke a key (takes effect within seconds on every hub process)."""
    settings = load(config, db)
    store = _open(settings)
    try:
        count = HubRepo(store, settings.hub).revoke_key(key, utcnow())
    finally:
        store.close()
    if not count:
        err_console.print(f"no active key with id or name {key!r}", highlight=False, markup=False)
        raise typer.Exit(1)
    out.print(f"revoked {count} key(s)")


def register(app: typer.Typer) -> None:
    """Add `sipwarden hub` to the command."""
    app.add_typer(hub_app, name="hub")
