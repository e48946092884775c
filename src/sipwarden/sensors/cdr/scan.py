"""Read whole CDR files into CallRecords, or through the fraud rules (`sipwarden cdr scan`, replays).

`scan_cdr_files` is the fast way to examine files: CSV rows go straight to the guard (`fastcsv`).
With `workers > 1`, CSV files are read by byte ranges and examined by account shards (`split`);
JSON files, and CSV files where a cut would fall inside a record, are split by account only: every
worker reads every record and examines those of its accounts. The rules keep state per account
only, so every worker gives exactly the alerts a single guard would give for its accounts, and
the results are merged back into file order.
"""

from __future__ import annotations

import csv
import heapq
import logging
import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Final

from sipwarden.fraud.alerts import FraudAlert
from sipwarden.fraud.guard import FraudGuard
from sipwarden.fraud.records import CallRecord
from sipwarden.fraud.settings import FraudSettings
from sipwarden.sensors.cdr.fastcsv import BadRow, scan_csv, shard_of
from sipwarden.sensors.cdr.readers import (
    ASTERISK_COLUMNS,
    FREESWITCH_COLUMNS,
    MAX_RECORD_CHARS,
    CdrFormatError,
    detect_format,
    iter_json_docs,
    parse_json_cdr,
    row_parser,
)
from sipwarden.sensors.cdr.split import split_scan

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BadRecord:
    """A record that could not be read: where, and why."""

    origin: str
    problem: str


def columns_for(fmt: str, custom_columns: Sequence[str]) -> Sequence[str]:
    """The column mapping of a CSV format."""
    if fmt == "asterisk-csv":
        return ASTERISK_COLUMNS
    if fmt == "freeswitch-csv":
        return FREESWITCH_COLUMNS
    if fmt == "asterisk-custom":
        return custom_columns
    raise ValueError(f"{fmt} is not a CSV format")


def sniff(path: Path) -> str:
    """Detect the format of a CDR file from its first record."""
    with path.open(encoding="utf-8", errors="replace") as fh:
        return detect_format(fh.read(MAX_RECORD_CHARS))


def read_cdr_file(
    path: Path, fmt: str, zone: tzinfo, custom_columns: Sequence[str] = ()
) -> Iterator[CallRecord | BadRecord]:
    """Every record of a CDR file, in file order; unreadable ones as BadRecord (never raised)."""
    if fmt == "auto":
        fmt = sniff(path)
    name = str(path)
    if fmt == "freeswitch-json":
        text = path.read_text(encoding="utf-8", errors="replace")
        for line, doc in iter_json_docs(text):
            origin = f"{name}:{line}"
            if isinstance(doc, CdrFormatError):
                yield BadRecord(origin, str(doc))
                continue
            try:
                yield parse_json_cdr(doc, zone, origin)
            except CdrFormatError as exc:
                yield BadRecord(origin, str(exc))
        return
    parse = row_parser(columns_for(fmt, custom_columns), zone)
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.reader(fh)
        lineno = 0
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                lineno = reader.line_num
                yield BadRecord(f"{name}:{lineno}", f"not CSV: {exc}")
                continue
            lineno = reader.line_num
            if not row:
                continue
            try:
                yield parse(row, f"{name}:{lineno}")
            except CdrFormatError as exc:
                yield BadRecord(f"{name}:{lineno}", str(exc))


#: Most worker processes one scan starts (the work splits by account; more than the cores only costs).
MAX_WORKERS: Final = 16


@dataclass(slots=True)
class ScanTotals:
    """What a scan went through."""

    records: int = 0  # call records examined (readable ones)
    external_calls: int = 0  # of which leave the PBX
    bad: int = 0  # unreadable records
    alerts: int = 0


# (file number, record number in the file, alert or unreadable record)
_Item = tuple[int, int, FraudAlert | BadRecord]


def _scan_one(
    number: int, path: Path, fmt: str, zone: tzinfo, guard: FraudGuard, custom_columns: Sequence[str],
    shard: tuple[int, int],
) -> Iterator[_Item]:  # fmt: skip
    if fmt == "auto":
        fmt = sniff(path)
    name = str(path)
    if fmt != "freeswitch-json":
        for position, item in scan_csv(path, columns_for(fmt, custom_columns), zone, guard, shard):
            if isinstance(item, BadRow):
                yield number, position, BadRecord(f"{name}:{item.line}", item.problem)
            else:
                yield number, position, item
        return
    me, shards = shard
    for position, record in enumerate(read_cdr_file(path, fmt, zone), 1):
        if isinstance(record, BadRecord):
            if me == 0:
                yield number, position, record
        elif shards == 1 or shard_of(record.account, shards) == me:
            for alert in guard.feed(record):
                yield number, position, alert


def _scan_shard(
    paths: Sequence[Path], fmt: str, zone: tzinfo, settings: FraudSettings, custom_columns: Sequence[str],
    shard: tuple[int, int],
) -> tuple[list[_Item], int, int]:  # fmt: skip
    """One worker: its accounts of every file, in order (runs in a child process)."""
    guard = FraudGuard(settings, defer=True)
    items = [
        item for n, path in enumerate(paths) for item in _scan_one(n, path, fmt, zone, guard, custom_columns, shard)
    ]
    return items, guard.records_seen, guard.external_calls


def scan_cdr_files(
    paths: Sequence[Path],
    fmt: str,
    zone: tzinfo,
    settings: FraudSettings,
    custom_columns: Sequence[str] = (),
    *,
    workers: int = 1,
    totals: ScanTotals | None = None,
) -> Iterator[FraudAlert | BadRecord]:
    """Run the fraud rules over CDR files in order: every alert and unreadable record, in file order.

    One FraudGuard sees all files, as if they were one stream. `workers > 1` splits the reading and
    the accounts between that many processes; the output is the same, it only arrives when the
    workers are done.
    OSError and CdrFormatError (a file that cannot be read at all) are raised.
    """
    totals = totals if totals is not None else ScanTotals()
    workers = max(1, min(workers, MAX_WORKERS))
    if workers == 1:
        guard = FraudGuard(settings, defer=True)
        try:
            for n, path in enumerate(paths):
                for _, _, item in _scan_one(n, path, fmt, zone, guard, custom_columns, (0, 1)):
                    _count(totals, item)
                    yield item
        finally:
            totals.records, totals.external_calls = guard.records_seen, guard.external_calls
        return
    # fork: the children start with the parent's imported modules (libphonenumber's metadata) at once.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        formats = [sniff(path) if fmt == "auto" else fmt for path in paths]
        if "freeswitch-json" not in formats:
            columns = [columns_for(f, custom_columns) for f in formats]
            split = split_scan(pool, workers, paths, columns, zone, settings)
            if split is not None:
                items, totals.records, totals.external_calls = split
                for number, line, found in items:
                    item = BadRecord(f"{paths[number]}:{line}", found.problem) if isinstance(found, BadRow) else found
                    _count(totals, item)
                    yield item
                return
            log.info("a cut fell inside a record: the files are scanned by account instead")
        jobs = [
            pool.submit(_scan_shard, list(paths), fmt, zone, settings, tuple(custom_columns), (k, workers))
            for k in range(workers)
        ]
        results = [job.result() for job in jobs]
    totals.records = sum(r[1] for r in results)
    totals.external_calls = sum(r[2] for r in results)
    # Each worker's items are in file order and a record belongs to one worker: merge by position.
    for _, _, item in heapq.merge(*(r[0] for r in results), key=lambda i: (i[0], i[1])):
        _count(totals, item)
        yield item


def _count(totals: ScanTotals, item: FraudAlert | BadRecord) -> None:
    if isinstance(item, BadRecord):
        totals.bad += 1
    else:
        totals.alerts += 1
