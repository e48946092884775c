"""The fast path of `cdr scan` over CSV files: rows straight into `FraudGuard.feed_fields`.

A million-record Master.csv is mostly ordinary rows, so the usual shape of each field is checked
cheaply (times `YYYY-MM-DD HH:MM:SS` read through a per-minute cache, small whole seconds through a
table) and the CallRecord is only built when an alert shows the call, by the same `row_parser` that
`read_cdr_file` uses. A row whose fields have any other shape takes that full parser at once, so
both paths accept, reject and read every row the same way.
"""

from __future__ import annotations

import csv
import re
import zlib
from collections.abc import Iterator, Sequence
from datetime import tzinfo
from pathlib import Path
from typing import Final

from sipwarden.fraud.alerts import FraudAlert
from sipwarden.fraud.guard import FraudGuard
from sipwarden.fraud.history import US_PER_SECOND, micros
from sipwarden.fraud.records import CallRecord
from sipwarden.sensors.cdr.readers import (
    MAX_DURATION_SECONDS,
    CdrFormatError,
    account_of,
    check_columns,
    parse_time,
    row_parser,
)

#: Minutes whose start time is remembered (a day of records spans 1,440; more is cleared and refilled).
MAX_MINUTES: Final = 100_000
#: Accounts whose worker is remembered (a PBX has far fewer; a hostile file is only slower).
MAX_OWNERS: Final = 100_000
#: Durations read from a table: a call under 10,000 s (2.8 h) is the common case by far.
_SMALL_SECONDS: Final = {"": 0, **{str(n): n for n in range(10_000)}}
_SECONDS: Final = {f":{n:02d}": n * US_PER_SECOND for n in range(60)}
#: Joins the fields of a row while the guard remembers the call: one string is cheaper to keep and
#: free than a list of 18 (an hour of calls stays in memory). A row with this character inside a
#: field is read by the full parser instead, so splitting always gives the row back.
FIELD_SEPARATOR: Final = "\x00"
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


def shard_of(account: str, shards: int) -> int:
    """Which of `shards` workers examines `account` (stable across processes, unlike hash())."""
    return zlib.crc32(account.encode("utf-8", "surrogatepass")) % shards


class CsvLayout:
    """Where a column mapping puts the fields the fast path reads."""

    def __init__(self, columns: Sequence[str], zone: tzinfo) -> None:
        self.names = names = check_columns(columns)
        index = {name: i for i, name in enumerate(names) if name != "-"}
        self.i_start, self.i_dst = index["start"], index["dst"]
        self.needed = max(self.i_start, self.i_dst) + 1
        used = [index.get(name, -1) for name in ("end", "duration", "billsec", "accountcode", "channel", "src")]
        self.i_end, self.i_dur, self.i_bill, self.i_acct, self.i_chan, self.i_src = used
        # Rows this wide have every column the fast path reads (mappings without one of them always
        # take the full parser).
        self.fast_width = max(index.values()) + 1 if min(used) >= 0 else 1 << 30
        self.parse = row_parser(names, zone)

    def account(self, row: Sequence[str]) -> str:
        """The account of a row at least `needed` columns wide."""
        n = len(row)
        if n >= self.fast_width:
            return account_of(row[self.i_acct], row[self.i_chan], row[self.i_src])
        return account_of(*(row[i] if 0 <= i < n else "" for i in (self.i_acct, self.i_chan, self.i_src)))


def read_rows(path: Path, layout: CsvLayout) -> Iterator[tuple[int, int, list[str] | BadRow]]:
    """(record number, line, row or BadRow) of every record of a CSV file, in file order.

    Rows narrower than the mapping needs and text that is not CSV are BadRows; empty lines are
    not records.
    """
    needed = layout.needed
    position = 0
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.reader(fh)
        while True:
            try:
                for row in reader:
                    n = len(row)
                    if not n:
                        continue
                    position += 1
                    if n < needed:
                        yield (
                            position,
                            reader.line_num,
                            BadRow(reader.line_num, f"{n} columns, expected at least {needed}"),
                        )
                    else:
                        yield position, reader.line_num, row
                return
            except csv.Error as exc:
                position += 1
                yield position, reader.line_num, BadRow(reader.line_num, f"not CSV: {exc}")


class RowExaminer:
    """Feed the rows of one CSV file to a guard: the usual shapes of fields checked cheaply here,
    anything else read by the full parser."""

    def __init__(self, name: str, layout: CsvLayout, guard: FraudGuard, minutes: MinuteTimes) -> None:
        self.name = name
        self.layout = layout
        self.guard = guard
        self.minutes = minutes
        parse = layout.parse

        def build(kept: str, line: int) -> CallRecord:
            return parse(kept.split(FIELD_SEPARATOR), f"{name}:{line}")

        self.build = build

    def examine(self, row: list[str], account: str, line: int) -> list[FraudAlert] | BadRow:
        """The alerts of one row (at least `needed` columns wide), or why it cannot be read."""
        layout = self.layout
        if len(row) >= layout.fast_width:
            kept = FIELD_SEPARATOR.join(row)
            if kept.count(FIELD_SEPARATOR) == len(row) - 1:  # else a field holds the separator itself
                alerts = self._fast(row, account, line, kept)
                if alerts is not None:
                    return alerts
        try:
            record = layout.parse(row, f"{self.name}:{line}")
        except CdrFormatError as exc:
            return BadRow(line, str(exc))
        return self.guard.feed(record)

    def _fast(self, row: list[str], account: str, line: int, kept: str) -> list[FraudAlert] | None:
        """The alerts of a row whose fields have the usual shapes; None for any other row."""
        layout, minutes = self.layout, self.minutes
        # "YYYY-MM-DD HH:MM" + ":SS": the minute from the cache, the seconds from a table keyed with
        # their colon, so nothing else can pass for this shape.
        text = row[layout.i_start]
        sec = _SECONDS.get(text[16:])
        if sec is None:
            return None
        base = minutes.minutes.get(text[:16])
        if base is None:
            base = minutes.start(text[:16])
            if base is None:
                return None
        dst = row[layout.i_dst].strip()
        duration, billsec = _SMALL_SECONDS.get(row[layout.i_dur]), _SMALL_SECONDS.get(row[layout.i_bill])
        if not dst or duration is None or billsec is None:
            return None
        start = base + sec
        text = row[layout.i_end]
        if not text:
            stop = start + duration * US_PER_SECOND
        else:
            end_sec = _SECONDS.get(text[16:])
            if end_sec is None:
                return None
            end_base = minutes.minutes.get(text[:16])
            if end_base is None:
                end_base = minutes.start(text[:16])
                if end_base is None:
                    return None
            stop = end_base + end_sec
        return self.guard.feed_fields(account, dst, start, stop, billsec, self.build, kept, line)


def scan_csv(
    path: Path, columns: Sequence[str], zone: tzinfo, guard: FraudGuard, shard: tuple[int, int] = (0, 1)
) -> Iterator[tuple[int, FraudAlert | BadRow]]:
    """Feed every row of a CSV CDR file to `guard`; yield (row number, alert or bad row) in order.

    With `shard = (k, n)` only rows of accounts that `shard_of` gives to k are examined (and rows
    without any account, such as broken CSV, go to worker 0): n processes together see every row once.
    """
    layout = CsvLayout(columns, zone)
    examine = RowExaminer(str(path), layout, guard, MinuteTimes(zone)).examine
    account_of_row = layout.account
    me, shards = shard
    owners: dict[str, int] = {}  # account -> its worker
    for position, line, row in read_rows(path, layout):
        if isinstance(row, BadRow):
            if me == 0:
                yield position, row
            continue
        account = account_of_row(row)
        if shards > 1:
            owner = owners.get(account)
            if owner is None:
                if len(owners) >= MAX_OWNERS:
                    owners.clear()
                owner = owners[account] = shard_of(account, shards)
            if owner != me:
                continue
        result = examine(row, account, line)
        if not result:
            continue  # no alert: by far the usual case
        if isinstance(result, BadRow):
            yield position, result
        else:
            for alert in result:
                yield position, alert
