"""`sipwarden report ip|number|summary`: dossiers and summaries on the terminal (Rich) or as JSON."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Final

import typer
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from sipwarden.cli.common import ConfigOption, DbOption, err_console, load
from sipwarden.cli.events_cmd import events_table, printable
from sipwarden.config import Settings
from sipwarden.events import utcnow
from sipwarden.intel import aggregates
from sipwarden.intel.campaigns import load_campaigns
from sipwarden.intel.dossier import Dossier, NumberReport, build_dossier, build_number_report
from sipwarden.intel.owner_cache import StoreOwnership
from sipwarden.store import Store, default_url
from sipwarden.store import intel_queries as q
from sipwarden.store.filters import parse_since

report_app = typer.Typer(help="Dossiers of addresses and numbers, and attack summaries.", no_args_is_help=True)

#: Rows per list in the terminal report (`--json` has the full lists).
TERMINAL_ROWS: Final = 10
#: Timeline rows in the terminal report.
TIMELINE_ROWS: Final = 20


def open_store(settings: Settings) -> Store:
    """Open the configured store, or exit 1 saying why."""
    url = default_url(settings)
    try:
        return Store.open(url)
    except Exception as exc:
        err_console.print(f"[bold red]cannot open the store[/] {printable(url)}: {printable(exc)}", highlight=False)
        raise typer.Exit(1) from None


def _console() -> Console:
    out = Console(highlight=False)
    return out if out.is_terminal else Console(highlight=False, width=160)


def _ts(ts: datetime | None) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _list_table(title: str, rows: list[tuple[str, ...]], headers: tuple[str, ...]) -> Table:
    table = Table(title=title, title_justify="left", box=None, header_style="bold", pad_edge=False)
    for h in headers:
        table.add_column(h, overflow="fold")
    for row in rows[:TERMINAL_ROWS]:
        table.add_row(*(Text(printable(c)) for c in row))
    if not rows:
        table.add_row(*(Text("-") for _ in headers))
    return table


def _facet(d: Dossier, facet: str, title: str) -> Table:
    return _list_table(title, [(r.key, str(r.count), _ts(r.last)) for r in d.values(facet)], ("value", "n", "last"))


def render_dossier(d: Dossier) -> Group:
    """The terminal form of a dossier (every value is plain Text: attacker text never becomes markup)."""
    who = Table.grid(padding=(0, 2))
    owner = d.owner
    for label, value in (
        ("address", d.ip),
        ("network", d.network or "-"),
        ("owner", f"{owner.name} (AS{owner.asn})" if owner and owner.asn else (owner.name if owner else "unknown")),
        ("country", (owner.country if owner else None) or "unknown"),
        ("abuse contact", (owner.abuse_email if owner else None) or "unknown"),
        ("sensors", ", ".join(r.key for r in d.values("sensor")) or "-"),
        ("seen", f"{_ts(d.first_seen)} .. {_ts(d.last_seen)} UTC, {d.events} events"),
        ("cadence", d.cadence.describe()),
        ("came back", "yes, " + ", ".join(f"{v.first_day}..{v.last_day}" for v in d.visits) if d.returning else "no"),
    ):
        who.add_row(Text(label, style="bold"), Text(printable(value)))
    numbers = _list_table(
        "numbers dialled",
        [(n.e164, n.country or "?", n.number_type or "-", n.risk, str(n.count)) for n in d.numbers],
        ("number", "country", "type", "risk", "n"),
    )
    links = _list_table(
        "cracked account links",
        [(lk.account, lk.cracked_by, _ts(lk.cracked_at), lk.used_by, _ts(lk.used_at)) for lk in d.crack_links],
        ("account", "cracked by", "at", "used by", "at"),
    )
    campaigns = _list_table(
        "campaigns",
        [(c.id, str(c.score), " ".join(c.addresses), " ".join(c.numbers), c.cadence.pace) for c in d.campaigns],
        ("id", "score", "addresses", "numbers", "cadence"),
    )
    parts: list[Any] = [
        Panel(who, title="who"),
        _facet(d, "ua", "user agents"),
        _facet(d, "tool", "tools"),
        _facet(d, "method", "methods"),
        _facet(d, "username", "accounts tried"),
        _facet(d, "password", "passwords tried"),
        numbers,
        _facet(d, "dial", "dial strings"),
        _facet(d, "credential", "accounts cracked (user:password)"),
        _facet(d, "registered", "registrations"),
        _facet(d, "answered", "calls answered"),
        _list_table("recordings", [(ev.id, str(ev.detail.get("path", ""))) for ev in d.recordings], ("event", "file")),
        links,
        campaigns,
        _list_table("linked addresses", [(a,) for a in d.linked], ("address",)),
    ]
    if d.timeline:
        parts += [Text("timeline (newest last)", style="bold"), events_table(d.timeline[-TIMELINE_ROWS:])]
    return Group(*parts)


def render_number(r: NumberReport) -> Group:
    """The terminal form of a number report."""
    head = Table.grid(padding=(0, 2))
    for label, value in (
        ("number", r.info.e164),
        ("country", r.info.country or "unknown"),
        ("type", r.info.number_type or ("unknown (not in the numbering plan)" if not r.info.valid else "-")),
        ("IRSF risk", r.info.risk),
        ("calls", str(r.info.count)),
        ("cadence", r.cadence.describe()),
    ):
        head.add_row(Text(label, style="bold"), Text(printable(value)))
    variants = _list_table(
        "dial variants (first use)",
        [(v.raw, v.prefix or "(none)", str(v.count), _ts(v.first)) for v in r.variants],
        ("dialled", "prefix", "n", "first"),
    )
    sources = _list_table("sources", [(s.key, str(s.count), _ts(s.last)) for s in r.sources], ("address", "n", "last"))
    uas = _list_table("user agents", [(s.key, str(s.count)) for s in r.user_agents], ("user agent", "n"))
    return Group(Panel(head, title="number"), variants, sources, uas)


def _prepared(config: Any, db: Any) -> Store:
    settings = load(config, db)
    store = open_store(settings)
    aggregates.refresh(store)
    return store


@report_app.command("ip")
def report_ip(
    ip: Annotated[str, typer.Argument(help="The address to report on.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the dossier as JSON.")] = False,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Everything known about one address: who, what, where, how, when, and with whom."""
    settings = load(config, db)
    store = open_store(settings)
    try:
        # The owner comes from the cache the hub's abuse desk fills (no network I/O here).
        ownership = StoreOwnership(store)
        aggregates.refresh(store, ownership=ownership)
        dossier = build_dossier(store, ip, ownership=ownership)
    finally:
        store.close()
    if as_json:
        print(json.dumps(dossier.to_dict(), indent=1, default=str))
        return
    if dossier.events == 0:
        err_console.print(f"nothing known about {printable(ip)}", highlight=False)
        raise typer.Exit(1)
    _console().print(render_dossier(dossier))


@report_app.command("number")
def report_number(
    number: Annotated[str, typer.Argument(help="A number as E.164 (+2314599711) or as dialled (0092314599711).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Everything known about one dialled number: variants, sources, cadence, risk."""
    store = _prepared(config, db)
    try:
        report = build_number_report(store, number)
    finally:
        store.close()
    if report is None:
        err_console.print(f"nothing known about {printable(number)}", highlight=False)
        raise typer.Exit(1)
    if as_json:
        print(json.dumps(report.to_dict(), indent=1, default=str))
        return
    _console().print(render_number(report))


def summary_data(store: Store, since: datetime) -> dict[str, Any]:
    """The numbers behind `report summary` and the dashboard overview."""
    hours = q.hourly(store, "all", since)
    tops = {
        dim: [
            {"value": r.key, "count": r.count, "last": r.last.isoformat()}
            for r in q.totals_since(store, dim, since, limit=TERMINAL_ROWS)
        ]
        for dim in ("ip", "network", "dest_country", "number", "ua", "tool", "password", "username", "kind")
    }
    return {"since": since.isoformat(), "events": sum(n for _, n in hours), "hours": len(hours), "top": tops}


@report_app.command("summary")
def report_summary(
    since: Annotated[str, typer.Option("--since", help="Span (30m, 24h, 7d, 2w) or an ISO time.")] = "7d",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Attacks since a time: totals, top sources, networks, countries, numbers, user agents, tools, passwords."""
    try:
        since_ts = parse_since(since, utcnow())
    except ValueError as exc:
        err_console.print(f"[bold red]error[/] {printable(exc)}", highlight=False)
        raise typer.Exit(2) from None
    store = _prepared(config, db)
    try:
        data = summary_data(store, since_ts)
        campaigns = [c for c in load_campaigns(store) if c.last >= since_ts]
    finally:
        store.close()
    data["campaigns"] = [
        {"id": c.id, "score": c.score, "addresses": list(c.addresses), "numbers": list(c.numbers)} for c in campaigns
    ]
    if as_json:
        print(json.dumps(data, indent=1))
        return
    out = _console()
    out.print(Text(f"{data['events']} events since {_ts(since_ts)} UTC", style="bold"))
    titles = {
        "ip": "top sources",
        "network": "networks",
        "dest_country": "countries dialled",
        "number": "numbers dialled",
        "ua": "user agents",
        "tool": "tools",
        "password": "passwords tried",
        "username": "accounts tried",
        "kind": "kinds",
    }
    for dim, title in titles.items():
        out.print(_list_table(title, [(r["value"], str(r["count"])) for r in data["top"][dim]], ("value", "n")))
    out.print(
        _list_table(
            "campaigns",
            [(c["id"], str(c["score"]), " ".join(c["addresses"]), " ".join(c["numbers"])) for c in data["campaigns"]],
            ("id", "score", "addresses", "numbers"),
        )
    )


def register(app: typer.Typer) -> None:
    """Attach the `report` command group."""
    app.add_typer(report_app, name="report")
