"""`sipwarden replay LOG...`: run detection offline over PBX logs and print what it would decide.

The same engine and `[detect]` settings as the live daemon; several files are merged in time order,
and time comes from the log lines, so a replay gives the decisions the daemon would have taken.
"""

from __future__ import annotations

import heapq
import json
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Annotated

import typer

from sipwarden.cli.common import ConfigOption, DbOption, err_console, load
from sipwarden.cli.events_cmd import printable
from sipwarden.detect import Engine
from sipwarden.events import Decision, Event
from sipwarden.sensors.logs import FORMATS, make_parser, parse_file
from sipwarden.sensors.logs.parser import SNIFF_LINES


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def decision_line(d: Decision) -> dict[str, object]:
    """The NDJSON record of one decision."""
    return {
        "ts": _iso(d.ts),
        "scope": d.scope,
        "value": d.value,
        "action": d.action,
        "scenario": d.scenario,
        "until": _iso(d.until) if d.until else None,
        "reason": d.reason,
        "evidence": len(d.event_ids),
        "event_ids": list(d.event_ids),
    }


def _events(path: Path, fmt: str, sensor: str, year: int | None, tz: tzinfo) -> Iterator[Event]:
    with path.open("rb") as f:
        head = f.read(64 * 1024).decode("utf-8", "replace").splitlines()[:SNIFF_LINES]
    parser = make_parser(fmt, head if fmt == "auto" else (), sensor=sensor, year_hint=year, tz=tz)
    for result in parse_file(path, parser=parser):
        if result.event is not None:
            yield result.event


def replay_events(engine: Engine, events: Iterator[Event]) -> Iterator[Decision]:
    """Feed `events` (in time order) to `engine`, advancing its clock with them; yield decisions."""
    for event in events:
        engine.tick(event.ts)  # ends bans on the log's clock, so repeat offenders are banned again
        yield from engine.feed(event)


def replay(
    files: Annotated[list[Path], typer.Argument(help="PBX log files (merged in time order).", show_default=False)],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help=f"auto or one of: {', '.join(FORMATS)}.", show_default=True)
    ] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print one decision per line (NDJSON).")] = False,
    year: Annotated[
        int | None, typer.Option("--year", help="Year of dates written without one (default: the file's mtime).")
    ] = None,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Replay logs through detection; print the decisions (bans, notices) it would take."""
    settings = load(config, db)
    if fmt != "auto" and fmt not in FORMATS:
        err_console.print(f"[red]unknown format {fmt!r}[/]; use auto or one of {', '.join(FORMATS)}", highlight=False)
        raise typer.Exit(2)
    for path in files:
        if not path.is_file():
            err_console.print(f"[red]{path}: not a readable file[/]", highlight=False)
            raise typer.Exit(2)
    engine = Engine(settings.detect)
    tz = settings.logs.zone()
    streams = [_events(p, fmt, settings.general.sensor, year, tz) for p in files]
    merged = heapq.merge(*streams, key=lambda e: e.ts)
    scenarios: Counter[str] = Counter()
    out = sys.stdout
    for d in replay_events(engine, merged):
        scenarios[f"{d.action} {d.scenario}"] += 1
        if as_json:
            out.write(json.dumps(decision_line(d), ensure_ascii=False) + "\n")
        else:
            until = _iso(d.until) if d.until else "-"
            out.write(
                f"{_iso(d.ts)}  {d.action:<6} {d.scope:<7} {d.value:<39} {d.scenario:<22} until {until}  {printable(d.reason)}\n"
            )
    summary = ", ".join(f"{k}={n}" for k, n in sorted(scenarios.items())) or "no decisions"
    typer.echo(f"replayed {len(files)} file(s): {summary}", err=True)


def register(app: typer.Typer) -> None:
    """Attach the `replay` command."""
    app.command("replay")(replay)
