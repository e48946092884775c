"""`cdr scan` over several processes: read by byte ranges, then examine by account.

Reading a CSV row costs about as much as running the rules on it, so splitting only the accounts
between workers (each reading every row to find its own) leaves the reading undivided. Here the
work is split twice, in two rounds on the same worker processes:

1. **Read.** Every file is cut into byte ranges at line ends, one per worker. Each range is read
   by `scan_csv` into a `Calls` collector per account shard: the checked fields of each call in
   integer columns, plus the CallRecords of rows the fast path could not read. Line numbers count
   from the range's start; each range's count of lines puts them in place afterwards.
2. **Examine.** The calls of shard k, range after range, go into a deferring FraudGuard of their
   own, in file order (two shards per worker, for balance). Each account's calls reach one guard
   in the order of the file, so the alerts are exactly those of a single guard; they are merged
   back into file order by line.

A cut can only be trusted if a record ends there, and only the reading of the range before it
knows: it reads one blank line past its end, which only a record still open at the cut would
take in. A cut inside a record (a quoted line break just there) makes `split_scan` give up, and
the caller scans by account shards instead. Descriptors are opened before the workers start, so
a file renamed in the meantime is still the one read.
"""

from __future__ import annotations

import heapq
import os
import pickle
import tempfile
from array import array
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from itertools import chain
from pathlib import Path
from typing import Final

from sipwarden.fraud.alerts import FraudAlert
from sipwarden.fraud.destination import MIN_EXTERNAL_DIGITS
from sipwarden.fraud.guard import FraudGuard
from sipwarden.fraud.history import RecordBuilder
from sipwarden.fraud.records import CallRecord
from sipwarden.fraud.settings import FraudSettings
from sipwarden.sensors.cdr.fastcsv import MAX_OWNERS, BadRow, scan_csv, shard_of
from sipwarden.sensors.cdr.readers import row_parser
from sipwarden.sensors.cdr.rowlines import INDEX_BLOCK, RowsByLine, text_from

#: Account shards examined per worker process.
SHARDS_PER_WORKER: Final = 2
#: The line read past a range's end: a record that ended at the cut makes it a blank row.
_PAST_END: Final = ("\n",)

# (file number, line, alert or unreadable row): merged into file order by the first two.
Item = tuple[int, int, FraudAlert | BadRow]


def cut_points(fd: int, size: int, parts: int) -> list[int]:
    """Where `parts` ranges of about equal size begin: 0, then just past a `\\n` (at most `parts`)."""
    begins = [0]
    for k in range(1, parts):
        at = max(size * k // parts, begins[-1])
        while at < size:
            block = os.pread(fd, INDEX_BLOCK, at)
            found = block.find(b"\n")
            if found >= 0:
                at += found + 1
                break
            at += len(block)
        if begins[-1] < at < size:
            begins.append(at)
    return begins


@dataclass(slots=True)
class Calls:
    """The calls of one account shard in one range, as columns; `records` go before the call at their index."""

    accounts: list[str] = field(default_factory=list)
    dialled: list[str] = field(default_factory=list)
    starts: array[int] = field(default_factory=lambda: array("q"))
    stops: array[int] = field(default_factory=lambda: array("q"))
    billsecs: array[int] = field(default_factory=lambda: array("q"))
    lines: array[int] = field(default_factory=lambda: array("q"))
    records: list[tuple[int, CallRecord]] = field(default_factory=list)


class Collector:
    """What the reading round feeds `scan_csv` instead of a guard: calls sorted into shards.

    Calls to short dialled strings that `guard` finds internal are only counted (a guard does
    nothing else with them); the rest are kept for the examining round.
    """

    defer = False

    def __init__(self, shards: int, guard: FraudGuard) -> None:
        self.shards = shards
        self.internal = 0  # calls only counted
        self._is_internal = guard.internal
        self.calls = [Calls() for _ in range(shards)]
        self._appends = [
            (c.accounts.append, c.dialled.append, c.starts.append, c.stops.append, c.billsecs.append, c.lines.append)
            for c in self.calls
        ]
        # account -> (its shard, one string for all its calls)
        self._owners: dict[str, tuple[int, str]] = {}

    def _owner(self, account: str) -> tuple[int, str]:
        if len(self._owners) >= MAX_OWNERS:
            self._owners.clear()
        owner = self._owners[account] = (shard_of(account, self.shards), account)
        return owner

    def feed_fields(
        self, account: str, dst: str, start: int, stop: int, billsec: int, build: RecordBuilder, row: Sequence[str],
        line: int,
    ) -> tuple[()]:  # fmt: skip
        """Keep the call's fields for the examining round."""
        if len(dst) < MIN_EXTERNAL_DIGITS and self._is_internal(dst):  # longer strings are rarely internal
            self.internal += 1
            return ()
        shard, account = self._owners.get(account) or self._owner(account)
        add_account, add_dialled, add_start, add_stop, add_billsec, add_line = self._appends[shard]
        add_account(account)
        add_dialled(dst)
        add_start(start)
        add_stop(stop)
        add_billsec(billsec)
        add_line(line)
        return ()

    def feed(self, record: CallRecord) -> tuple[()]:
        """Keep a call the fast path could not read, in its place among the others."""
        calls = self.calls[(self._owners.get(record.account) or self._owner(record.account))[0]]
        calls.records.append((len(calls.starts), record))
        return ()


@dataclass(frozen=True, slots=True)
class Source:
    """One file of the scan: its name, an open descriptor and its CSV columns."""

    name: str
    fd: int
    columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Range:
    """Bytes `begin`..`end` of file number `number` (`last`: to the end of the file)."""

    number: int
    begin: int
    end: int
    last: bool


@dataclass(slots=True)
class ReadRange:
    """What the reading round found in one range; line numbers count from the range's start."""

    spooled: list[str]  # files holding the calls of each shard (pickled Calls)
    bad: list[BadRow]
    firsts: dict[int, int]  # last line -> first line of records over several lines
    lines: int  # lines in the range
    internal: int  # calls that stay inside the PBX, only counted
    whole: bool  # a record ended at the range's end (always true for the last range of a file)


def read_range(
    source: Source, part: Range, zone: tzinfo, settings: FraudSettings, shards: int, spool: str
) -> ReadRange:
    """The reading round for one range (runs in a worker); the calls go to files in `spool`."""
    text = text_from(source.fd, part.begin, None if part.last else part.end)
    collector = Collector(shards, FraudGuard(settings))
    firsts: dict[int, int] = {}
    bad: list[BadRow] = []
    scan = scan_csv(
        Path(source.name), source.columns, zone, collector, lines=text if part.last else chain(text, _PAST_END),
        firsts=firsts,
    )  # fmt: skip
    while True:
        try:
            _, item = next(scan)
        except StopIteration as done:
            lines: int = done.value if part.last else done.value - 1  # not the blank line past the end
            break
        assert isinstance(item, BadRow), "a collector raises no alert"
        bad.append(item)
    # A record still open at the cut took the blank line in, so it ended on that line and began
    # before it: it is in `firsts`. A record that ended at the cut leaves the blank line a row alone.
    whole = part.last or lines + 1 not in firsts
    # Through files rather than back through the parent: each shard's worker reads its own.
    spooled = []
    for calls in collector.calls if whole else ():
        with tempfile.NamedTemporaryFile("wb", dir=spool, delete=False) as fh:
            pickle.dump(calls, fh, pickle.HIGHEST_PROTOCOL)
        spooled.append(fh.name)
    return ReadRange(spooled, bad, firsts, lines, collector.internal, whole)


@dataclass(frozen=True, slots=True)
class Part:
    """One shard's calls of one range, for the examining round."""

    number: int  # file
    begin: int  # byte where the range starts
    before: int  # lines of the file before the range
    spooled: str  # the file of the shard's calls
    firsts: dict[int, int]


def examine_shard(
    sources: Sequence[Source], zone: tzinfo, settings: FraudSettings, parts: Sequence[Part]
) -> tuple[list[Item], int, int]:
    """The examining round for one shard: its calls of every range, in file order (runs in a worker)."""
    guard = FraudGuard(settings, defer=True)
    feed, feed_fields = guard.feed, guard.feed_fields
    items: list[Item] = []
    for part in parts:
        number, before = part.number, part.before
        with open(part.spooled, "rb") as fh:
            calls: Calls = pickle.load(fh)  # noqa: S301 (written by this scan, in its own 0700 directory)
        source = sources[number]
        build = _builder(source, zone, part)
        columns = (calls.accounts, calls.dialled, calls.starts, calls.stops, calls.billsecs, calls.lines)
        done = 0
        for index, record in [*calls.records, (len(calls.starts), None)]:
            for account, dst, start, stop, billsec, line in zip(*(c[done:index] for c in columns), strict=True):
                alerts = feed_fields(account, dst, start, stop, billsec, build, (), line + before)
                if alerts:
                    items.extend((number, line + before, alert) for alert in alerts)
            done = index
            if record is not None:
                line = _line_of(record) + before
                record = replace(record, origin=f"{source.name}:{line}")
                items.extend((number, line, alert) for alert in feed(record))
    return items, guard.records_seen, guard.external_calls


def _line_of(record: CallRecord) -> int:
    """The line of a record `scan_csv` read with its full parser (its origin is `name:line`)."""
    return int(record.origin.rpartition(":")[2])


def _builder(source: Source, zone: tzinfo, part: Part) -> RecordBuilder:
    """The CallRecord of a call of `part` (by its line in the file), read again from the range."""
    parse = row_parser(source.columns, zone)
    again = RowsByLine(Path(source.name), source.fd, part.begin, part.before)
    firsts, before = part.firsts, part.before

    def build(row: Sequence[str], line: int) -> CallRecord:
        if not row:
            first = line - before
            row = again.row(firsts.get(first, first) + before, line)
        return parse(row, f"{source.name}:{line}")

    return build


def split_scan(
    pool: Executor, workers: int, paths: Sequence[Path], columns: Sequence[Sequence[str]], zone: tzinfo,
    settings: FraudSettings,
) -> tuple[list[Item], int, int] | None:  # fmt: skip
    """Scan CSV files in `workers` processes of `pool`: items in file order, records, external calls.

    None when a cut fell inside a record (the caller then scans by account shards).
    """
    # More shards than workers: a worker done with a small shard takes the next, so one busy shard
    # does not keep the other workers waiting.
    shards = workers * SHARDS_PER_WORKER
    fds = [os.open(path, os.O_RDONLY) for path in paths]
    spool = tempfile.TemporaryDirectory(prefix="sipwarden-scan-")
    try:
        sources = [Source(str(path), fd, tuple(cols)) for path, fd, cols in zip(paths, fds, columns, strict=True)]
        parts: list[Range] = []
        for number, source in enumerate(sources):
            size = os.fstat(source.fd).st_size
            begins = cut_points(source.fd, size, workers)
            ends = [*begins[1:], size]
            parts += [Range(number, b, e, e == size) for b, e in zip(begins, ends, strict=True)]
        reads = [
            job.result()
            for job in [
                pool.submit(read_range, sources[p.number], p, zone, settings, shards, spool.name) for p in parts
            ]
        ]
        if not all(r.whole for r in reads):
            return None
        befores, lines = [], {number: 0 for number in range(len(sources))}
        for part, read in zip(parts, reads, strict=True):
            befores.append(lines[part.number])
            lines[part.number] += read.lines
        jobs = [
            pool.submit(
                examine_shard, sources, zone, settings,
                [Part(p.number, p.begin, n, r.spooled[k], r.firsts) for p, n, r in zip(parts, befores, reads, strict=True)],
            )
            for k in range(shards)
        ]  # fmt: skip
        results = [job.result() for job in jobs]
    finally:
        spool.cleanup()
        for fd in fds:
            os.close(fd)
    bad = [[(p.number, b.line + n, b) for b in r.bad] for p, n, r in zip(parts, befores, reads, strict=True)]
    items = list(heapq.merge(*bad, *(r[0] for r in results), key=lambda i: (i[0], i[1])))
    return items, sum(r[1] for r in results) + sum(r.internal for r in reads), sum(r[2] for r in results)
