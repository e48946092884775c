"""Reading logs: a sequence of lines or a whole file through the parser core, format auto-detected."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Final

from sipwarden.sensors.logs.parser import SNIFF_LINES, LineParser, ParseResult, detect_format
from sipwarden.sensors.logs.prefix import TimeContext

#: The sensor name and zone of a parse without settings: the defaults of `[general] sensor` and
#: `[logs] timezone` (a test keeps them equal), so `sipwarden parse` without --config loads no settings.
DEFAULT_SENSOR: Final = ""
DEFAULT_TZ: Final[tzinfo] = UTC

#: Bytes read at a time by `parse_file`; big blocks keep the prefilter in C, 8 MiB bounds memory.
READ_BLOCK: Final = 8 * 1024 * 1024


def make_parser(
    fmt: str,
    sample: Iterable[str],
    *,
    sensor: str = DEFAULT_SENSOR,
    year_hint: int | None = None,
    tz: tzinfo = DEFAULT_TZ,
    reference: datetime | None = None,
    report_missed: bool = False,
) -> LineParser:
    """A parser for `fmt`; with "auto", the format is detected from `sample` (all families if unsure)."""
    chosen: str | None = fmt
    if fmt == "auto":
        chosen = detect_format(sample)
    return LineParser(
        chosen,
        sensor=sensor,
        time=TimeContext(tz=tz, year_hint=year_hint, reference=reference),
        report_missed=report_missed,
    )


def parse_lines(
    lines: Iterable[str],
    fmt: str = "auto",
    *,
    sensor: str = DEFAULT_SENSOR,
    year_hint: int | None = None,
    tz: tzinfo = DEFAULT_TZ,
    reference: datetime | None = None,
    report_missed: bool = False,
) -> Iterator[ParseResult]:
    """Parse log lines; yields a result for each recognised line (and each missed one if asked).

    Lines numbered from 1. `reference` is the newest time a line can have (file mtime): it fixes
    the year of year-less dates when `year_hint` is None and the time of date-less lines.
    """
    it = iter(lines)
    head = list(itertools.islice(it, SNIFF_LINES))
    parser = make_parser(
        fmt, head, sensor=sensor, year_hint=year_hint, tz=tz, reference=reference, report_missed=report_missed
    )
    for n, line in enumerate(itertools.chain(head, it), 1):
        result = parser.parse_line(line, n)
        if result is not None:
            yield result


def iter_blocks(path: Path, block: int = READ_BLOCK) -> Iterator[str]:
    """The text of `path` in blocks of whole lines (undecodable bytes escaped, never dropped)."""
    for data in iter_byte_blocks(path, block):
        yield data.decode("utf-8", "backslashreplace")


def iter_byte_blocks(path: Path, block: int = READ_BLOCK) -> Iterator[bytes]:
    """The bytes of `path` in blocks of whole lines (the last one may lack its newline)."""
    for data, end in line_blocks(path, block):
        yield data if end == len(data) else data[:end]


def line_blocks(path: Path, block: int = READ_BLOCK) -> Iterator[tuple[bytes, int]]:
    """`(data, end)`: the bytes of `path` in blocks, of which `data[:end]` are whole lines.

    The bytes after `end` (a line cut by the block's edge) are read again as the start of the next
    block: the file is re-read from there, so no block is ever joined or cut in memory (on a large
    log, those copies cost as much as the reads). The last block may end without a newline.
    """
    with path.open("rb", buffering=0) as f:
        pending = b""  # a line longer than one block, read so far
        while True:
            data = f.read(block)
            if not data:
                if pending:
                    yield pending, len(pending)
                return
            if pending:
                data, pending = pending + data, b""
            end = data.rfind(b"\n") + 1
            if end == 0:
                pending = data
                continue
            if end < len(data):
                f.seek(end - len(data), os.SEEK_CUR)
            yield data, end


def parse_file(
    path: Path,
    fmt: str = "auto",
    *,
    parser: LineParser | None = None,
    sensor: str = DEFAULT_SENSOR,
    year_hint: int | None = None,
    tz: tzinfo = DEFAULT_TZ,
    report_missed: bool = False,
) -> Iterator[ParseResult]:
    """Parse a whole log file fast; the file's mtime completes year-less and date-less lines.

    Pass your own `parser` (see `make_parser`) to read its `stats` afterwards.
    """
    path = Path(path)
    reference = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    line_no = 1
    for data, end in line_blocks(path, READ_BLOCK):  # looked up per call: tests shrink the blocks
        if parser is None:
            parser = make_parser(
                fmt,
                data[: min(end, 65536)].decode("utf-8", "backslashreplace").splitlines()[:SNIFF_LINES]
                if fmt == "auto"
                else (),
                sensor=sensor,
                year_hint=year_hint,
                tz=tz,
                reference=reference,
                report_missed=report_missed,
            )
        before = parser.stats.lines
        yield from parser.scan_bytes(data, line_no, end)
        line_no += parser.stats.lines - before  # every block but the last ends with a newline
