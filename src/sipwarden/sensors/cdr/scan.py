"""Read whole CDR files into CallRecords (for `sipwarden cdr scan` and replays)."""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path

from sipwarden.fraud.records import CallRecord
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
