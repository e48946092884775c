"""`sipwarden bans list|add|remove`: the bans in the store, and in the firewall with them."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated

import typer

from sipwarden.cli.common import BackendOption, ConfigOption, DbOption, err_console, load
from sipwarden.cli.events_cmd import printable
from sipwarden.config import Settings
from sipwarden.detect.durations import parse_duration
from sipwarden.enforce import BanBackend, EnforceError, build_backend, make_ban
from sipwarden.events import Decision, utcnow
from sipwarden.store import Store, default_url

bans_app = typer.Typer(help="List, add and remove bans (store and firewall).", no_args_is_help=True)


def _open(settings: Settings) -> Store:
    try:
        return Store.open(default_url(settings))
    except Exception as exc:
        err_console.print(f"[red]cannot open the store[/]: {exc}", highlight=False)
        raise typer.Exit(1) from None


def _backend(settings: Settings, name: str | None) -> BanBackend:
    try:
        return build_backend(settings.enforce, name=name)
    except ValueError as exc:
        err_console.print(f"[red]{exc}[/]", highlight=False)
        raise typer.Exit(2) from None


@bans_app.command("list")
def list_bans(
    as_json: Annotated[bool, typer.Option("--json", help="One decision per line (NDJSON).")] = False,
    firewall: Annotated[bool, typer.Option("--firewall", help="List what the firewall drops instead.")] = False,
    backend: BackendOption = None,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Active decisions in the store (or, with --firewall, the firewall's own list)."""
    settings = load(config, db)
    if firewall:
        try:
            bans = _backend(settings, backend).list()
        except EnforceError as exc:
            err_console.print(f"[red]{exc}[/]", highlight=False)
            raise typer.Exit(1) from None
        for ban in bans:
            until = ban.until.isoformat() if ban.until else None
            typer.echo(json.dumps({"value": ban.value, "until": until}) if as_json else f"{ban.value}\t{until or '-'}")
        return
    store = _open(settings)
    try:
        decisions = store.active_decisions(utcnow())
    finally:
        store.close()
    if as_json:
        for d in decisions:
            typer.echo(json.dumps(d.to_dict(), ensure_ascii=False))
        return
    # Plain columns (not a table that a narrow terminal would cut): values must stay whole.
    for d in decisions:
        until = d.until.strftime("%Y-%m-%d %H:%M:%S") if d.until else "-"
        typer.echo(
            f"{d.value:<39} {d.scope:<7} {d.action:<6} {d.scenario:<22} until {until:<19} "
            f"{d.origin:<8} {len(d.event_ids):>3} events  {printable(d.reason)}"
        )
    if not decisions:
        typer.echo("no active decisions", err=True)


@bans_app.command("add")
def add(
    target: Annotated[str, typer.Argument(help="IP address or CIDR range.", show_default=False)],
    duration: Annotated[str, typer.Option("--for", help="Ban length (90s, 10m, 1h, 7d) or 'forever'.")] = "1h",
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the ban).")] = "added by hand",
    backend: BackendOption = None,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Ban an address or range now: stored as a manual decision and applied to the firewall."""
    settings = load(config, db)
    try:
        ban = make_ban(target)
        seconds = None if duration == "forever" else parse_duration(duration)
    except ValueError as exc:
        err_console.print(f"[red]{exc}[/]", highlight=False)
        raise typer.Exit(2) from None
    now = utcnow()
    decision = Decision(
        ts=now,
        scope="range" if ban.is_network else "ip",
        value=ban.value,
        action="ban",
        scenario="manual",
        reason=reason,
        until=now + timedelta(seconds=seconds) if seconds else None,
        origin="manual",
    )
    fw = _backend(settings, backend)
    store = _open(settings)
    try:
        store.add_decisions([decision])
    finally:
        store.close()
    try:
        fw.setup()
        fw.ban(ban.target, decision.until)
    except EnforceError as exc:
        err_console.print(f"[red]stored, but the firewall refused it[/]: {exc}", highlight=False)
        raise typer.Exit(1) from None
    typer.echo(f"banned {decision.value} until {decision.until.isoformat() if decision.until else 'removed'}")


@bans_app.command("remove")
def remove(
    target: Annotated[str, typer.Argument(help="IP address or CIDR range.", show_default=False)],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the lifted ban).")] = "removed by hand",
    backend: BackendOption = None,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Lift every active ban of an address or range (store and firewall)."""
    settings = load(config, db)
    try:
        ban = make_ban(target)
    except ValueError as exc:
        err_console.print(f"[red]{exc}[/]", highlight=False)
        raise typer.Exit(2) from None
    store = _open(settings)
    try:
        n = store.remove_decision(ban.value, reason=reason, now=utcnow())
    finally:
        store.close()
    try:
        fw = _backend(settings, backend)
        fw.setup()
        fw.unban(ban.target)
    except EnforceError as exc:
        err_console.print(f"[red]lifted in the store, but the firewall refused[/]: {exc}", highlight=False)
        raise typer.Exit(1) from None
    typer.echo(f"removed {n} decision(s) for {ban.value}")


def register(app: typer.Typer) -> None:
    """Attach the `bans` command group."""
    app.add_typer(bans_app, name="bans")
