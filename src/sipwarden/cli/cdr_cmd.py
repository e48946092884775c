"""`sipwarden cdr scan`: run the toll-fraud rules over call-detail-record files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Final
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from sipwarden.cli.common import ConfigOption, DbOption, err_console, load
from sipwarden.sensors.cdr.readers import CdrFormatError
from sipwarden.sensors.cdr.scan import MAX_WORKERS, BadRecord, ScanTotals, scan_cdr_files, sniff

cdr_app = typer.Typer(help="Toll-fraud checks on call-detail records.", no_args_is_help=True)

#: Unreadable records named one by one on stderr; the rest are only counted.
MAX_REPORTED_BAD: Final = 20


@cdr_app.command("scan")
def scan(
    files: Annotated[list[Path], typer.Argument(help="CDR files (Master.csv, FreeSWITCH CSV or JSON CDRs).")],
    fmt: Annotated[
        str,
        typer.Option("--format", help="auto, asterisk-csv, asterisk-custom, freeswitch-csv or freeswitch-json."),
    ] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print alerts as NDJSON.")] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=MAX_WORKERS,
            help="Processes sharing the reading and the accounts (same alerts, printed when all are done).",
        ),
    ] = 1,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Feed CDR files, in order, through the fraud rules; exit 1 when any alert fired."""
    settings = load(config, db)
    if fmt not in ("auto", "asterisk-csv", "asterisk-custom", "freeswitch-csv", "freeswitch-json"):
        err_console.print(f"unknown format {fmt!r}")
        raise typer.Exit(2)
    zone = ZoneInfo(settings.cdr.timezone)
    fmt = settings.cdr.format if fmt == "auto" else fmt
    for path in files:  # name the file that cannot be read before any work starts
        try:
            if fmt == "auto":
                sniff(path)
            elif not path.is_file():
                raise OSError(f"no such file: {path}")
        except (OSError, CdrFormatError, ValueError) as exc:
            err_console.print(f"{path}: {exc}", highlight=False)
            raise typer.Exit(2) from None
    totals = ScanTotals()
    out = Console(highlight=False, soft_wrap=True)
    bad = alerts = 0
    items = scan_cdr_files(
        files,
        fmt,
        zone,
        settings.fraud,
        settings.cdr.custom_columns,
        workers=workers,
        totals=totals,
    )
    try:
        for item in items:
            if isinstance(item, BadRecord):
                bad += 1
                if bad <= MAX_REPORTED_BAD:
                    err_console.print(f"{item.origin}: skipped: {item.problem}", highlight=False)
                continue
            alerts += 1
            if as_json:
                print(json.dumps(item.to_dict(), sort_keys=True), flush=False)
            else:
                dests = ", ".join(f"{d['number']} ({d['country'] or '?'})" for d in item.destinations()[:5])
                out.print(
                    f"[bold red]{item.severity}[/] {item.ts:%Y-%m-%d %H:%M:%S}Z account "
                    f"[bold]{item.account}[/] {item.reason}: {item.message}; {len(item.calls)} calls, "
                    f"~{item.estimated_cost:.2f} {item.currency}; {dests}"
                )
    except (OSError, CdrFormatError, ValueError) as exc:
        err_console.print(f"{exc}", highlight=False)
        raise typer.Exit(2) from None
    err_console.print(
        f"{totals.records} records ({totals.external_calls} external calls), {bad} unreadable, {alerts} alerts",
        highlight=False,
    )
    raise typer.Exit(1 if alerts else 0)


def register(app: typer.Typer) -> None:
    """Attach the `cdr` command group."""
    app.add_typer(cdr_app, name="cdr")
