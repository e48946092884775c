"""`sipwarden export`: attacking addresses, dialled numbers and user agents as CSV, JSON, STIX 2.1 or MISP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sipwarden.cli.common import ConfigOption, DbOption, err_console, load
from sipwarden.cli.events_cmd import printable
from sipwarden.cli.report_cmd import open_store
from sipwarden.events import utcnow
from sipwarden.intel import aggregates
from sipwarden.intel.export import DEFAULT_EXPORT_LIMIT, EXPORTERS, export
from sipwarden.store.filters import parse_since


def export_cmd(
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv, json, stix (2.1) or misp (event JSON).")] = "json",
    since: Annotated[
        str | None, typer.Option("--since", help="Only indicators seen since: 7d, 24h, or an ISO time.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=1_000_000, help="Most indicators of each type.")
    ] = DEFAULT_EXPORT_LIMIT,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of standard output.")
    ] = None,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Export what sipwarden learned, for other tools (SIEM, MISP, TAXII servers, spreadsheets)."""
    if fmt not in EXPORTERS:
        err_console.print(
            f"[bold red]error[/] unknown format {printable(fmt)!r}; use {', '.join(EXPORTERS)}", highlight=False
        )
        raise typer.Exit(2)
    now = utcnow()
    try:
        since_ts = parse_since(since, now) if since else None
    except ValueError as exc:
        err_console.print(f"[bold red]error[/] {printable(exc)}", highlight=False)
        raise typer.Exit(2) from None
    store = open_store(load(config, db))
    try:
        aggregates.refresh(store)
        text = export(store, fmt, now, since=since_ts, limit=limit)  # type: ignore[arg-type]
    finally:
        store.close()
    if output is None:
        print(text, end="" if text.endswith("\n") else "\n")
        return
    try:
        output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    except OSError as exc:
        err_console.print(f"[bold red]cannot write[/] {printable(output)}: {printable(exc.strerror)}", highlight=False)
        raise typer.Exit(1) from None


def register(app: typer.Typer) -> None:
    """Attach the `export` command."""
    app.command("export")(export_cmd)
