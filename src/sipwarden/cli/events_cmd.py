"""`sipwarden events`: list stored events as a table, or as NDJSON for other tools."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Final

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

from sipwarden.cli.common import ConfigOption, DbOption, err_console, load
from sipwarden.events import Event, utcnow
from sipwarden.store import Store, default_url
from sipwarden.store.filters import check_kind, parse_since
from sipwarden.store.store import MAX_QUERY_LIMIT

#: Table width when the output is not a terminal (a pipe or a file).
PIPE_WIDTH: Final = 200
#: Longest cell in the table; the full value is in `--json`.
MAX_CELL: Final = 60
# Every C0 and C1 control and DEL: event text comes from attackers, and a raw ESC or CSI in a
# User-Agent would drive the operator's terminal.
_CONTROLS: Final = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}


def printable(value: object) -> str:
    """`value` as text safe for a terminal: control characters shown as \\xNN, long text cut."""
    text = "" if value is None else str(value).translate(_CONTROLS)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _address(ip: str | None, port: int | None) -> str:
    if not ip:
        return ""
    if port is None:
        return ip
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def events_table(events: list[Event]) -> Table:
    """A rich Table of `events`; every cell is plain Text, so event text never becomes markup."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    # Kind and count never wrap; on a narrow terminal the rest wrap down to a readable minimum
    # (the time breaks between date and hour), so 80 columns still show every column.
    table.add_column("time (UTC)", overflow="fold", min_width=10)
    table.add_column("kind", no_wrap=True)
    for name, width in (("source", 6), ("from", 10), ("user", 5), ("target", 6), ("tool / user-agent", 10)):
        table.add_column(name, overflow="fold", min_width=width)
    table.add_column("n", justify="right", no_wrap=True)
    for ev in events:
        target = ev.target or ""
        if ev.target_country:
            target = f"{target} ({ev.target_country})"
        table.add_row(
            *(
                Text(printable(cell))
                for cell in (
                    ev.ts.strftime("%Y-%m-%d %H:%M:%S"),
                    ev.kind,
                    ev.source if not ev.sensor else f"{ev.source}@{ev.sensor}",
                    _address(ev.src_ip, ev.src_port),
                    ev.username,
                    target,
                    ev.tool or ev.user_agent,
                    ev.count,
                )
            )
        )
    return table


def events(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option("--since", help="Only events after this: 30s, 15m, 1h, 7d, or an ISO time.")
    ] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="Only this kind (probe, auth_failure, ...).")] = None,
    ip: Annotated[str | None, typer.Option("--ip", help="Only events from this source address.")] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=MAX_QUERY_LIMIT, help="Show at most this many (the newest).")
    ] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print NDJSON, one event per line.")] = False,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """List stored events, oldest first (the newest LIMIT of those that match)."""
    if ctx.invoked_subcommand is not None:
        return
    settings = load(config, db)
    try:
        since_ts = parse_since(since, utcnow()) if since else None
        if kind is not None:
            check_kind(kind)
    except ValueError as exc:
        err_console.print(f"[bold red]error[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    url = default_url(settings)
    try:
        store = Store.open(url)
    except (SQLAlchemyError, OSError, ValueError) as exc:
        err_console.print(f"[bold red]cannot open the store[/] {url}: {exc}", highlight=False, markup=True)
        raise typer.Exit(1) from None
    try:
        found = store.events(since=since_ts, kind=kind, ip=ip, limit=limit, newest=True)
    finally:
        store.close()
    if as_json:
        # ensure_ascii: C1 controls and odd code points arrive as \u escapes, never raw bytes.
        for ev in found:
            print(json.dumps(ev.to_dict(), default=str))
        return
    out = Console(highlight=False)
    if not out.is_terminal:
        # Piped into less or a file: no terminal width to respect, so keep one event per line.
        out = Console(highlight=False, width=PIPE_WIDTH)
    if not found:
        err_console.print("no matching events", highlight=False)
        return
    out.print(events_table(found))


def import_events(
    path: Annotated[Path, typer.Argument(help="NDJSON file to load ('-' reads standard input).")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="sipwarden (events --json) or sentrypeer (json_log).")
    ] = "sipwarden",
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Load events from an NDJSON file; bad lines are reported by number and the good ones kept."""
    from sipwarden.intel.importers import IMPORT_FORMATS, import_lines

    if fmt not in IMPORT_FORMATS:
        err_console.print(
            f"[bold red]error[/] unknown format {printable(fmt)!r}; use {', '.join(IMPORT_FORMATS)}", highlight=False
        )
        raise typer.Exit(2)
    settings = load(config, db)
    try:
        handle = sys.stdin.buffer if str(path) == "-" else path.open("rb")
    except OSError as exc:
        err_console.print(f"[bold red]cannot read[/] {printable(path)}: {printable(exc.strerror)}", highlight=False)
        raise typer.Exit(1) from None
    url = default_url(settings)
    try:
        store = Store.open(url)
    except (SQLAlchemyError, OSError, ValueError) as exc:
        err_console.print(f"[bold red]cannot open the store[/] {printable(url)}: {printable(exc)}", highlight=False)
        raise typer.Exit(1) from None
    try:
        with handle:
            result = import_lines(store, handle, fmt)  # type: ignore[arg-type]
    finally:
        store.close()
    for lineno, why in result.errors:
        # Whole lines (not cut like table cells), controls still escaped: the reason quotes the file.
        err_console.print(f"{path}:{lineno}: {why}".translate(_CONTROLS), highlight=False, markup=False)
    err_console.print(f"imported {result.stored} events, {result.error_count} bad lines", highlight=False)
    if result.error_count:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Attach the `events` command (list) and its `import` subcommand."""
    group = typer.Typer(help="List stored events; `events import FILE` loads NDJSON.")
    group.callback(invoke_without_command=True)(events)
    group.command("import")(import_events)
    app.add_typer(group, name="events")
