"""The fast path of `cdr scan` over CSV files: rows straight into `FraudGuard.feed_fields`.

A million-record Master.csv is mostly ordinary rows, so the usual shape of each field is checked
cheaply (times `YYYY-MM-DD HH:MM:SS` read through a per-minute cache, small whole seconds through a
table) and the CallRecord is only built when an alert shows the call, by the same `row_parser` that
`read_cdr_file` uses. A row whose fields have any other shape takes that full parser at once, so
both paths accept, reject and read every row the same way.

With a deferring guard (`FraudGuard(defer=True)`), the guard keeps only the fields and the line of
a quiet call, and the builder reads such a row again from the file (`rowlines.RowsByLine`) if an
alert ever shows the call.
"""

from __future__ import annotations

import contextlib
import csv
import re
import zlib
from collections.abc import Generator, Iterable, Iterator, Sequence
from datetime import tzinfo
from itertools import chain
from pathlib import Path
from typing import Final, Protocol

from sipwarden.fraud.alerts import FraudAlert
from sipwarden.fraud.history import US_PER_SECOND, RecordBuilder, micros
from sipwarden.fraud.records import CallRecord
from sipwarden.sensors.cdr.readers import (
    MAX_DURATION_SECONDS,
    CdrFormatError,
    account_of,
    check_columns,
    parse_time,
    row_parser,
)
from sipwarden.sensors.cdr.rowlines import RowsByLine

#: Minutes whose start time is remembered (a day of records spans 1,440; more is cleared and refilled).
MAX_MINUTES: Final = 100_000
#: Accounts whose worker is remembered (a PBX has far fewer; a hostile file is only slower).
MAX_OWNERS: Final = 100_000
#: `CsvRecords` reads the rest of a text with csv.reader once it has handed it more lines than
#: this one by one, and they are most lines so far.
_OTHER_LINES: Final = 64
#: Durations read from a table: a call under 10,000 s (2.8 h) is the common case by far.
_SMALL_SECONDS: Final = {"": 0, **{str(n): n for n in range(10_000)}}
_SECONDS: Final = {f":{n:02d}": n * US_PER_SECOND for n in range(60)}
# The minute part of the usual CDR time; anything else goes through parse_time.
_MINUTE: Final = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d", re.ASCII)
assert all(0 <= n <= MAX_DURATION_SECONDS for n in _SMALL_SECONDS.values())


class BadRow:
    """A row that could not be read (the scan reports it as a BadRecord)."""

    __slots__ = ("line", "problem")

    def __init__(self, line: int, problem: str) -> None:
        self.line = line
        self.problem = problem


class MinuteTimes:
    """Start of each `YYYY-MM-DD HH:MM` minute in µs since the epoch, in one time zone.

    A minute is only cached when its :00 and :59 seconds are 59 s apart after conversion, so a
    zone transition inside it (never in practice, but possible in old LMT offsets) is read exactly.
    """

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self.minutes: dict[str, int | None] = {}

    def start(self, minute: str) -> int | None:
        """µs of `minute` + ':00', or None when such times need parse_time."""
        if minute in self.minutes:
            return self.minutes[minute]
        value = None
        if _MINUTE.fullmatch(minute):
            try:
                first, last = parse_time(minute + ":00", self.zone), parse_time(minute + ":59", self.zone)
            except CdrFormatError:
                first = last = None
            if first is not None and last is not None and micros(last) - micros(first) == 59 * US_PER_SECOND:
                value = micros(first)
        if len(self.minutes) >= MAX_MINUTES:
            self.minutes.clear()
        self.minutes[minute] = value
        return value


class CsvRecords:
    """The records of CSV text as `csv.reader` reads them, each with the line it ends on.

    CDR writers quote every field, so most lines are `"a","b",...` with quotes inside no field but
    the caller-ID column `clid` (where they are doubled): such a line is split at `","`, for a little
    less than the reader costs, after checking that the reader would read it the same way. Any other line,
    and a record that goes on over the next lines, is read by `csv.reader`, and so is the rest of a
    text where most lines were (it is not written that way). `lines_read` counts the lines read.
    """

    def __init__(self, lines: Iterable[str], clid: int = -1) -> None:
        self.lines = lines
        self.clid = clid
        self.lines_read = 0

    def __iter__(self) -> Iterator[tuple[int, list[str] | csv.Error]]:
        lines, clid = iter(self.lines), self.clid
        line = others = 0  # lines so far; lines read by csv.reader
        longest = csv.field_size_limit()
        for text in lines:
            line += 1
            if text[0] == '"' and len(text) <= longest:
                body = text.rstrip("\r\n")
                if body[-1] == '"':  # (a lone '"' leaves inside = -1)
                    row = body[1:-1].split('","')
                    inside = body.count('"') - 2 * len(row)  # quotes that are not around fields
                    if not inside:
                        yield line, row
                        continue
                    if 0 <= clid < len(row):
                        field = row[clid]
                        plain = field.replace('""', '"')
                        # csv pairs quotes from the left, as replace() does: all of them are paired (none
                        # left over to end the field) when half of them remain.
                        if 2 * plain.count('"') == inside == field.count('"'):
                            row[clid] = plain
                            yield line, row
                            continue
            reader = csv.reader(chain((text,), lines))
            others += 1
            if others > _OTHER_LINES and 2 * others > line:
                first = line - 1
                while True:
                    try:
                        for row in reader:
                            yield first + reader.line_num, row
                        self.lines_read = first + reader.line_num
                        return
                    except csv.Error as exc:
                        yield first + reader.line_num, exc
            try:
                row = next(reader)
            except csv.Error as exc:
                line += reader.line_num - 1
                yield line, exc
                continue
            line += reader.line_num - 1
            yield line, row
        self.lines_read = line


def shard_of(account: str, shards: int) -> int:
    """Which of `shards` workers examines `account` (stable across processes, unlike hash())."""
    return zlib.crc32(account.encode("utf-8", "surrogatepass")) % shards


class RowSink(Protocol):
    """What `scan_csv` feeds: a FraudGuard, or a collector of calls (`split`)."""

    @property
    def defer(self) -> bool: ...

    def feed(self, record: CallRecord) -> Sequence[FraudAlert]: ...

    def feed_fields(
        self, account: str, dst: str, start: int, stop: int, billsec: int, build: RecordBuilder, row: Sequence[str],
        line: int,
    ) -> Sequence[FraudAlert]: ...  # fmt: skip


def scan_csv(
    path: Path, columns: Sequence[str], zone: tzinfo, guard: RowSink, shard: tuple[int, int] = (0, 1), *,
    lines: Iterable[str] | None = None, firsts: dict[int, int] | None = None,
) -> Generator[tuple[int, FraudAlert | BadRow], None, int]:  # fmt: skip
    """Feed every row of a CSV CDR file to `guard`; yield (row number, alert or bad row) in order.

    With `shard = (k, n)` only rows of accounts that `shard_of` gives to k are examined (and rows
    without any account, such as broken CSV, go to worker 0): n processes together see every row once.

    `lines` reads these lines of `path` instead of the whole file (numbered from 1). `firsts`
    receives (last line -> first line) of every record written over several lines (a deferring
    guard gets its own map). Returns the number of the last line read.
    """
    names = check_columns(columns)
    index = {name: i for i, name in enumerate(names) if name != "-"}
    i_start, i_dst = index["start"], index["dst"]
    needed = max(i_start, i_dst) + 1
    used = [index.get(name, -1) for name in ("end", "duration", "billsec", "accountcode", "channel", "src")]
    i_end, i_dur, i_bill, i_acct, i_chan, i_src = used
    # Rows this wide have every column the fast path reads (mappings without one of them always
    # take the full parser).
    fast_width = max(index.values()) + 1 if min(used) >= 0 else 1 << 30
    parse = row_parser(names, zone)
    name = str(path)
    me, shards = shard
    again = RowsByLine(path) if guard.defer else None
    if firsts is None and again is not None:
        firsts = {}

    def build(row: Sequence[str], line: int) -> CallRecord:
        if not row:  # a call the guard deferred: read its row again
            assert again is not None, "only a deferring guard passes no row"
            row = again.row(firsts.get(line, line) if firsts else line, line)
        return parse(row, f"{name}:{line}")

    minutes = MinuteTimes(zone)
    minute_of, small, seconds = minutes.minutes.get, _SMALL_SECONDS.get, _SECONDS.get
    feed, feed_fields = guard.feed, guard.feed_fields
    owners: dict[str, int] = {}  # account -> its worker
    position = previous = 0  # records so far; line where the previous one ended
    with contextlib.ExitStack() as stack:
        if lines is None:
            lines = stack.enter_context(path.open(encoding="utf-8", errors="replace", newline=""))
        records = CsvRecords(lines, index.get("clid", -1))
        for line, row in records:
            if line > previous + 1 and firsts is not None:
                firsts[line] = previous + 1
            previous = line
            if isinstance(row, csv.Error):
                position += 1
                if me == 0:
                    yield position, BadRow(line, f"not CSV: {row}")
                continue
            n = len(row)
            if not n:
                continue
            position += 1
            if n < needed:
                if me == 0:
                    yield position, BadRow(line, f"{n} columns, expected at least {needed}")
                continue
            if n >= fast_width:
                account = account_of(row[i_acct], row[i_chan], row[i_src])
            else:
                account = account_of(*(row[i] if 0 <= i < n else "" for i in (i_acct, i_chan, i_src)))
            if shards > 1:
                owner = owners.get(account)
                if owner is None:
                    if len(owners) >= MAX_OWNERS:
                        owners.clear()
                    owner = owners[account] = shard_of(account, shards)
                if owner != me:
                    continue
            alerts = None
            if n >= fast_width:
                # "YYYY-MM-DD HH:MM" + ":SS": the minute from the cache, the seconds from a
                # table keyed with their colon, so nothing else can pass for this shape.
                text = row[i_start]
                sec = seconds(text[16:])
                base = minute_of(text[:16]) if sec is not None else None
                if base is None and sec is not None:
                    base = minutes.start(text[:16])
                dst = row[i_dst].strip()
                duration, billsec = small(row[i_dur]), small(row[i_bill])
                if base is not None and sec is not None and dst and duration is not None and billsec is not None:
                    start = base + sec
                    text = row[i_end]
                    stop: int | None = None
                    if not text:
                        stop = start + duration * US_PER_SECOND
                    else:
                        end_sec = seconds(text[16:])
                        if end_sec is not None:
                            end_base = minute_of(text[:16])
                            if end_base is None:
                                end_base = minutes.start(text[:16])
                            if end_base is not None:
                                stop = end_base + end_sec
                    if stop is not None:
                        alerts = feed_fields(account, dst, start, stop, billsec, build, row, line)
            if alerts is None:  # an unusual field: the full parser decides
                try:
                    record = parse(row, f"{name}:{line}")
                except CdrFormatError as exc:
                    yield position, BadRow(line, str(exc))
                    continue
                alerts = feed(record)
            for alert in alerts:
                yield position, alert
        return records.lines_read
