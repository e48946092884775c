"""`cdr scan` with several workers: files read by byte ranges, then examined by account shards; and
the reading of CSV records that it and the single scan share (`fastcsv.CsvRecords`).

Whatever the cuts, the output must be the single guard's, item for item: alerts with their evidence
records, and unreadable records with their file and line.
"""

from __future__ import annotations

import csv
import io
import multiprocessing
import os
import random
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cdrgen import office_day, premium_burst, write_asterisk_csv
from hypothesis import given, settings
from hypothesis import strategies as st
from test_cdr_fastscan import regression_calls

from sipwarden.fraud.alerts import FraudAlert
from sipwarden.fraud.settings import FraudSettings
from sipwarden.sensors.cdr import fastcsv, split
from sipwarden.sensors.cdr.readers import ASTERISK_COLUMNS
from sipwarden.sensors.cdr.rowlines import RowsByLine
from sipwarden.sensors.cdr.scan import BadRecord, scan_cdr_files


def items(paths: list[Path], workers: int) -> list[FraudAlert | BadRecord]:
    return list(scan_cdr_files(paths, "asterisk-csv", UTC, FraudSettings(), workers=workers))


def awkward(text: bytes, seed: int) -> bytes:
    """CDR lines with CRLF or CR ends, blank lines and unreadable records over several lines between them."""
    rng = random.Random(seed)
    out = []
    for line in text.splitlines():
        out.append(line + rng.choice([b"\n", b"\n", b"\r\n", b"\r"]))
        roll = rng.random()
        if roll < 0.02:
            out.append(b"\n")
        elif roll < 0.04:
            out.append(b'"junk","over\nthree\r\nlines"\n')
        elif roll < 0.05:
            out.append(b'"bad \xff\xfe bytes",' + b'"x",' * 20 + b'"y"\n')
    return b"".join(out)


@pytest.mark.parametrize("size", [0, 1, 7, 100, 5000])
@pytest.mark.parametrize("parts", [1, 2, 3, 8])
def test_cuts_fall_just_past_line_ends(tmp_path: Path, size: int, parts: int) -> None:
    rng = random.Random(size * 10 + parts)
    data = bytes(rng.choice(b'ab,\n\r"') for _ in range(size))
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        begins = split.cut_points(fd, size, parts)
    finally:
        os.close(fd)
    assert begins[0] == 0 and len(begins) <= parts
    assert begins == sorted(set(begins)) and all(0 < b < size and data[b - 1 : b] == b"\n" for b in begins[1:])


def test_rows_are_read_from_an_anchor_inside_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes(b'"a","1"\r\n"b","2"\n"c","multi\r\nline"\r"d","4"')
    begin = path.read_bytes().index(b'"b"')
    fd = os.open(path, os.O_RDONLY)
    try:
        again = RowsByLine(path, fd, begin, first_line=1)
        assert again.row(5, 5) == ["d", "4"]
        assert again.row(3, 4) == ["c", "multi\r\nline"]
        assert again.row(2, 2) == ["b", "2"]
        with pytest.raises(ValueError, match="not in the file"):
            again.row(1, 1)  # before the anchor
    finally:
        os.close(fd)


@pytest.mark.parametrize("seed", range(4))
def test_awkward_files_give_the_single_guards_items_with_any_workers(tmp_path: Path, seed: int) -> None:
    clean = write_asterisk_csv(tmp_path / "clean.csv", regression_calls())
    path = tmp_path / "Master.csv"
    path.write_bytes(awkward(clean.read_bytes(), seed))
    expected = items([path], 1)
    assert (
        sum(isinstance(i, BadRecord) for i in expected) >= 5 and sum(isinstance(i, FraudAlert) for i in expected) == 9
    )
    for workers in (2, 3, 5):
        assert items([path], workers) == expected


def test_a_cut_inside_a_record_falls_back_to_account_shards(tmp_path: Path) -> None:
    day = office_day(datetime(2026, 11, 24), accounts=8)
    path = write_asterisk_csv(tmp_path / "Master.csv", day + premium_burst(datetime(2026, 11, 25, 3), "1003", 8))
    data = path.read_bytes()
    middle = data.index(b"\n", len(data) // 2) + 1
    # An unreadable record whose quoted field runs over the middle of the file, line after line.
    long_field = b'"held","' + b"\n".join(b"x" * 20 for _ in range(len(data) // 20)) + b'"\n'
    path.write_bytes(data[:middle] + long_field + data[middle:])
    expected = items([path], 1)
    assert sum(isinstance(i, FraudAlert) for i in expected) >= 3
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        assert split.split_scan(pool, 2, [path], [ASTERISK_COLUMNS], UTC, FraudSettings()) is None
    assert items([path], 2) == expected


def test_the_files_opened_at_the_start_are_read_to_the_end(tmp_path: Path) -> None:
    path = write_asterisk_csv(tmp_path / "Master.csv", regression_calls())
    expected = items([path], 1)
    fd = os.open(path, os.O_RDONLY)
    try:
        source = split.Source(str(path), fd, tuple(ASTERISK_COLUMNS))
        size = os.fstat(fd).st_size
        begins = split.cut_points(fd, size, 2)
        # Rotation: the file is renamed and another written in its place before any reading.
        os.rename(path, tmp_path / "Master.csv.1")
        write_asterisk_csv(path, office_day(datetime(2026, 11, 26), accounts=5, seed=9))
        with tempfile.TemporaryDirectory() as spool:
            ranges = [split.Range(0, b, e, e == size) for b, e in zip(begins, [*begins[1:], size], strict=True)]
            reads = [split.read_range(source, r, UTC, FraudSettings(), 2, spool) for r in ranges]
            befores = [0, reads[0].lines]
            found = [
                split.examine_shard(
                    [source], UTC, FraudSettings(),
                    [split.Part(0, r.begin, n, read.spooled[k], read.firsts) for r, n, read in zip(ranges, befores, reads, strict=True)],
                )[0]
                for k in range(2)
            ]  # fmt: skip
    finally:
        os.close(fd)
    alerts = [alert for _, _, alert in sorted(found[0] + found[1], key=lambda i: (i[0], i[1]))]
    assert alerts == expected and len(alerts) == 9


reader_of = csv.reader

# Pieces that CSV writers and broken files put in lines: quotes alone, doubled and around fields.
_PIECES = ['"', '""', ",", '","', "a", "1", " ", "\r", "\n", "\r\n", "\x00", "é"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=40), st.integers(-1, 4))
def test_csv_records_read_any_text_as_csv_reader_does(pieces: list[str], clid: int) -> None:
    text = "".join(pieces)
    expected: list[tuple[int, list[str] | str]] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    while True:
        try:
            for row in reader:
                expected.append((reader.line_num, row))
            break
        except csv.Error as exc:
            expected.append((reader.line_num, str(exc)))
    records = fastcsv.CsvRecords(io.StringIO(text, newline=""), clid)
    got = [(line, row if isinstance(row, list) else str(row)) for line, row in records]
    assert got == expected


@pytest.mark.parametrize(("clid", "by_reader"), [(-1, 5), (4, 3)])
def test_cdr_lines_are_split_without_csv_reader_only_when_it_would_agree(
    clid: int, by_reader: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [
        '"","1001","0044","from-internal","""Al"" <1001>","PJSIP/1001-1"\n',
        '"a","b"\r\n',
        '"","1001","0044","c","""Al"" ""x""","P"\n',  # doubled quotes in the caller ID only
        '"","1001","0044","c","Al"x","P"\n',  # a lone quote: csv reads it differently
        '"a"b","c"\n',
        '"a","b\n',  # goes on over the next line
        'c"\n',
    ]
    reader = csv.reader(lines)
    expected = [(reader.line_num, row) for row in reader]
    readers: list[Iterable[str]] = []

    def counted(text: Iterable[str]) -> Iterator[list[str]]:
        readers.append(text)
        return reader_of(text)

    monkeypatch.setattr(csv, "reader", counted)
    rows = list(fastcsv.CsvRecords(lines, clid))
    assert rows == expected and len(readers) == by_reader  # the other lines were split
    assert [line for line, _ in rows] == [1, 2, 3, 4, 5, 7]
    assert expected[2][1][4] == '"Al" "x"' and expected[5][1] == ["a", "b\nc"]
