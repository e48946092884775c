"""`sipwarden parse`: run the PBX log parsers over files and report what they recognise.

Like `fail2ban-regex`: lines read, matches per pattern, and the lines that look like refusals but
no pattern explains (`--missed`). With `--json`, one Event per recognised line as NDJSON.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Final

import typer

from sipwarden.cli.common import ConfigOption, DbOption, err_console, load
from sipwarden.sensors.logs import FORMATS, make_parser, parse_file
from sipwarden.sensors.logs.parser import SNIFF_LINES, LineParser
from sipwarden.sensors.logs.reading import DEFAULT_SENSOR, DEFAULT_TZ

#: Missed lines shown per file unless --missed-max says otherwise (a noisy log must not flood the terminal).
MISSED_SHOWN: Final = 20
#: Longest missed line shown; the rest is cut.
MAX_SHOWN_CHARS: Final = 300
# Log lines carry attacker text: control characters (ESC, CSI) are shown escaped, never sent to the terminal.
_CONTROLS: Final = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}


def _printable(text: str) -> str:
    text = text.translate(_CONTROLS)
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 1] + "…"


def _sniff(path: Path) -> list[str]:
    with path.open("rb") as f:
        return f.read(64 * 1024).decode("utf-8", "replace").splitlines()[:SNIFF_LINES]


def parse(
    files: Annotated[list[Path], typer.Argument(help="Log files to parse.", show_default=False)],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help=f"auto or one of: {', '.join(FORMATS)}.", show_default=True)
    ] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print one Event per recognised line (NDJSON).")] = False,
    missed: Annotated[
        bool, typer.Option("--missed", help="List lines that look like refusals but match no pattern.")
    ] = False,
    missed_max: Annotated[
        int, typer.Option("--missed-max", help="Missed lines listed per file.", min=0)
    ] = MISSED_SHOWN,
    year: Annotated[
        int | None, typer.Option("--year", help="Year of dates written without one (default: the file's mtime).")
    ] = None,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Parse PBX log files: a summary per pattern (like fail2ban-regex), or events as NDJSON."""
    if config is not None:
        settings = load(config, db)
        sensor, tz = settings.general.sensor, settings.logs.zone()
    else:
        # No file, no settings to read: the parser's defaults are the settings' defaults
        # (tests/logs/test_parse_cli.py), without paying for pydantic at start-up.
        sensor, tz = DEFAULT_SENSOR, DEFAULT_TZ
    if fmt != "auto" and fmt not in FORMATS:
        err_console.print(f"[red]unknown format {fmt!r}[/]; use auto or one of {', '.join(FORMATS)}", highlight=False)
        raise typer.Exit(2)
    out = sys.stdout
    status = 0
    for path in files:
        if not path.is_file():
            err_console.print(f"[red]{path}: not a readable file[/]", highlight=False)
            status = 2
            continue
        parser: LineParser = make_parser(
            fmt,
            _sniff(path) if fmt == "auto" else (),
            sensor=sensor,
            year_hint=year,
            tz=tz,
            report_missed=missed,
        )
        shown_missed: list[tuple[int, str]] = []
        kinds: Counter[str] = Counter()
        started = time.perf_counter()
        for result in parse_file(path, parser=parser):
            # `kind` is known without building the Event: the summary builds none.
            if result.kind is not None:
                kinds[result.kind] += 1
                if as_json and result.event is not None:
                    out.write(json.dumps(result.event.to_dict(), ensure_ascii=False) + "\n")
            elif result.pattern_id is None and len(shown_missed) < missed_max:
                shown_missed.append((result.line_no, result.raw))
        elapsed = time.perf_counter() - started
        stats = parser.stats

        def report(text: str) -> None:
            typer.echo(text, err=as_json)  # with --json, stdout carries only NDJSON

        report(f"{path}: format {parser.fmt or 'unknown (all patterns tried)'}")
        rate = stats.lines / elapsed if elapsed > 0 else 0.0
        report(
            f"  lines: {stats.lines}  matched: {sum(stats.matched.values())}  events: {stats.events}"
            f"  malformed: {stats.malformed}  missed: {stats.missed if missed else '-'}"
            f"  ({elapsed:.2f} s, {rate:,.0f} lines/s)"
        )
        for pattern_id, count in sorted(stats.matched.items(), key=lambda kv: (-kv[1], kv[0])):
            report(f"  {count:>10}  {pattern_id}")
        if kinds:
            report("  kinds: " + ", ".join(f"{k}={n}" for k, n in sorted(kinds.items())))
        if missed:
            for line_no, raw in shown_missed:
                report(f"  missed L{line_no}: {_printable(raw)}")
            if stats.missed > len(shown_missed):
                report(f"  ... {stats.missed - len(shown_missed)} more missed lines")
    if status:
        raise typer.Exit(status)


def register(app: typer.Typer) -> None:
    """Attach the `parse` command."""
    app.command("parse")(parse)
