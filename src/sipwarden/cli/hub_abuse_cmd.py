"""`sipwarden hub abuse ...`: network owners, the per-network scoreboard, and abuse reports.

refresh     look up owners of listed addresses over RDAP (a batch job: cron or a timer)
scoreboard  attacking networks, reports sent, and whether each network acts on them
owner IP    what the cache knows about one address
draft       prepare X-ARF reports (nothing is sent)
reports     list reports; `show ID` prints one as it will be sent
approve     approve drafts; `discard`, `retry` for the others
send        send approved reports (only with [hub.abuse] smtp_enabled = true)
"""

from __future__ import annotations

import getpass
import json
from typing import Annotated

import httpx
import typer
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from sipwarden.cli.common import ConfigOption, DbOption, err_console, load
from sipwarden.config import Settings
from sipwarden.events import utcnow
from sipwarden.hub.abuse.api import network_dict, report_dict
from sipwarden.hub.abuse.desk import AbuseDesk
from sipwarden.hub.abuse.reports import STATUSES
from sipwarden.hub.abuse.scoreboard import VERDICTS
from sipwarden.intel.rdap import RdapError
from sipwarden.store import Store, default_url

out = Console(highlight=False, soft_wrap=True)  # one line per row, whatever the terminal width
abuse_app = typer.Typer(help="The abuse desk: network owners (RDAP), scoreboard, X-ARF reports.", no_args_is_help=True)


def _desk(settings: Settings) -> AbuseDesk:
    try:
        store = Store.open(default_url(settings))
    except (SQLAlchemyError, OSError, ValueError) as exc:
        err_console.print(f"[bold red]cannot open the store[/]: {exc}", highlight=False)
        raise typer.Exit(1) from None
    return AbuseDesk(store, settings.hub.abuse)


def _when(value: str | None) -> str:
    return value[:16].replace("T", " ") if value else "-"


@abuse_app.command("refresh")
def refresh(
    ip: Annotated[
        list[str] | None, typer.Argument(help="Addresses to look up (default: every listed address).")
    ] = None,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Look up network owners over RDAP for addresses the cache cannot answer yet."""
    desk = _desk(load(config, db))
    try:
        result = desk.refresh_ownership(utcnow(), ips=ip or None)
    except (RdapError, httpx.HTTPError) as exc:
        err_console.print(f"[bold red]RDAP refresh failed[/]: {exc}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        desk.store.close()
    out.print(
        f"looked up {len(result.looked_up)}: {len(result.found)} found, {len(result.missing)} unknown, "
        f"{len(result.errors)} failed; {result.cached} cached, {result.waiting} waiting to retry, "
        f"{result.deferred} left for the next run, {result.skipped} skipped"
    )
    for addr, error in sorted(result.errors.items()):
        out.print(f"  {addr}: {error}", markup=False)


@abuse_app.command("scoreboard")
def scoreboard(
    verdict: Annotated[
        str | None, typer.Option(help=f"Only networks with this verdict: {', '.join(VERDICTS)}.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most networks shown.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Attacking networks: addresses, events, reports sent, and whether attacks stopped after them."""
    if verdict is not None and verdict not in VERDICTS:
        raise typer.BadParameter(f"verdict must be one of {', '.join(VERDICTS)}", param_hint="--verdict")
    desk = _desk(load(config, db))
    try:
        lines = [n for n in desk.scoreboard(utcnow()) if verdict is None or n.verdict == verdict][:limit]
    finally:
        desk.store.close()
    for n in lines:
        d = network_dict(n)
        if as_json:
            print(json.dumps(d))
            continue
        who = " ".join(str(x) for x in (d["name"], f"AS{d['asn']}" if d["asn"] else None, d["country"]) if x) or "?"
        out.print(
            f"{d['verdict']:<10} {d['network']:<20} {d['addresses']:>5} addr {d['events']:>8} ev  "
            f"last {_when(d['last_seen'])}  reports {d['reports_sent']} (last {_when(d['last_report_at'])})  {who}",
            markup=False,
        )
    if not lines and not as_json:
        out.print("no attacking networks")


@abuse_app.command("owner")
def owner(
    ip: Annotated[str, typer.Argument(help="An address.")], config: ConfigOption = None, db: DbOption = None
) -> None:
    """What the ownership cache knows about one address (no network I/O)."""
    desk = _desk(load(config, db))
    try:
        hit = desk.ownership.cached(ip)
    finally:
        desk.store.close()
    if hit is None:
        err_console.print(f"no owner of {ip} in the cache (run `sipwarden hub abuse refresh {ip}`)", markup=False)
        raise typer.Exit(1)
    o = hit.owner
    out.print(
        f"{o.network}  {o.name}  {hit.org}  AS{o.asn or '?'}  {o.country or '?'}  abuse: {o.abuse_email or '-'}\n"
        f"from {hit.source}, fetched {hit.fetched_at:%Y-%m-%d %H:%M}, fresh until {hit.expires_at:%Y-%m-%d %H:%M}",
        markup=False,
    )


@abuse_app.command("draft")
def draft(config: ConfigOption = None, db: DbOption = None) -> None:
    """Draft reports for listed addresses whose abuse mailbox is known (nothing is sent)."""
    desk = _desk(load(config, db))
    try:
        result = desk.draft(utcnow())
    except ValueError as exc:
        err_console.print(f"[bold red]cannot draft[/]: {exc}", highlight=False)
        raise typer.Exit(2) from None
    finally:
        desk.store.close()
    out.print(
        f"drafted {len(result.drafted)}; {len(result.no_owner)} without a known owner (run refresh), "
        f"{len(result.no_mailbox)} without an abuse mailbox, {result.recent} reported lately, {result.deferred} deferred"
    )
    for report_id in result.drafted:
        print(report_id)


@abuse_app.command("reports")
def reports(
    status: Annotated[str | None, typer.Option(help=f"Only reports in this state: {', '.join(STATUSES)}.")] = None,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """List reports, newest first."""
    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"status must be one of {', '.join(STATUSES)}", param_hint="--status")
    desk = _desk(load(config, db))
    try:
        items = desk.repo.reports(status)
    finally:
        desk.store.close()
    for r in items:
        d = report_dict(r)
        extra = f"  error: {d['last_error']}" if d["last_error"] else ""
        out.print(
            f"{d['id']}  {d['status']:<9} {d['ip']:<20} {d['recipient']}  created {_when(d['created_at'])}  "
            f"sent {_when(d['sent_at'])}  attempts {d['attempts']}{extra}",
            markup=False,
        )


@abuse_app.command("show")
def show(
    report_id: Annotated[str, typer.Argument(help="The report's id.")], config: ConfigOption = None, db: DbOption = None
) -> None:
    """Print one report's message as it will be sent."""
    desk = _desk(load(config, db))
    try:
        found = desk.repo.get(report_id)
    finally:
        desk.store.close()
    if found is None:
        err_console.print(f"no report {report_id!r}", markup=False)
        raise typer.Exit(1)
    print(found.message)


@abuse_app.command("approve")
def approve(
    report_ids: Annotated[list[str] | None, typer.Argument(help="Report ids.")] = None,
    all_drafts: Annotated[bool, typer.Option("--all-drafts", help="Approve every draft.")] = False,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Approve drafts for sending (they are sent by `send` while smtp_enabled is true)."""
    desk = _desk(load(config, db))
    try:
        ids = list(report_ids or [])
        if all_drafts:
            ids += [r.id for r in desk.repo.reports("draft", limit=100_000)]
        done = desk.approve(ids, f"cli:{getpass.getuser()}", utcnow())
    finally:
        desk.store.close()
    out.print(f"approved {len(done)} report(s)")
    if len(done) < len(set(ids)):
        err_console.print(f"{len(set(ids)) - len(done)} id(s) were not drafts", markup=False)
        raise typer.Exit(1)


def _move(action: str, report_ids: list[str], config: ConfigOption, db: DbOption) -> None:
    desk = _desk(load(config, db))
    try:
        move = desk.repo.discard if action == "discard" else desk.repo.retry
        done = move(report_ids, utcnow())
    finally:
        desk.store.close()
    out.print(f"{action}: {len(done)} report(s)")
    if len(done) < len(set(report_ids)):
        raise typer.Exit(1)


@abuse_app.command("discard")
def discard(
    report_ids: Annotated[list[str], typer.Argument(help="Report ids.")],
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Discard reports that were not sent."""
    _move("discard", report_ids, config, db)


@abuse_app.command("retry")
def retry(
    report_ids: Annotated[list[str], typer.Argument(help="Report ids.")],
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Queue failed reports again (after fixing what made them fail)."""
    _move("retry", report_ids, config, db)


@abuse_app.command("send")
def send(config: ConfigOption = None, db: DbOption = None) -> None:
    """Send approved reports that are due; with smtp_enabled false, report how many wait."""
    desk = _desk(load(config, db))
    try:
        result = desk.send_due(utcnow())
    finally:
        desk.store.close()
    if not result.enabled:
        out.print(f"sending is disabled ([hub.abuse] smtp_enabled = false): {result.waiting} approved report(s) wait")
        return
    out.print(f"sent {len(result.sent)}, failed {len(result.failed)}")
    for report_id, error in sorted(result.failed.items()):
        out.print(f"  {report_id}: {error}", markup=False)
