"""parse_file and parse_lines: block boundaries, line numbers, CRLF, undecodable bytes, missed lines."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sipwarden.sensors.logs import parse_file, parse_lines, reading

FAIL = "[{d}] NOTICE[1] chan_sip.c: Registration from '<sip:{n}@x>' failed for '192.0.2.{n}' - Wrong password"
NOISE = "[2024-01-01 00:00:00] VERBOSE[1] pbx.c:     -- Executing [s@default:1] Answer"


def test_parse_file_across_blocks_keeps_line_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = []
    for i in range(1, 301):
        lines.append(FAIL.format(d="2024-01-01 00:00:00", n=i % 250 + 1) if i % 7 == 0 else NOISE)
    path = tmp_path / "full"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(reading, "READ_BLOCK", 1000)  # many blocks, lines cut at block edges
    got = [(r.line_no, r.raw) for r in parse_file(path)]
    want = [(i, line) for i, line in enumerate(lines, 1) if i % 7 == 0]
    assert got == want


def test_iter_blocks_keeps_every_byte(tmp_path: Path) -> None:
    data = ("é" * 37 + "\n") * 100 + "tail without newline"
    path = tmp_path / "x"
    path.write_text(data, encoding="utf-8")
    assert "".join(reading.iter_blocks(path, block=64)) == data


def test_crlf_undecodable_bytes_and_missing_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "full"
    line = FAIL.format(d="2024-01-01 00:00:00", n=5)
    path.write_bytes(b"\xff\xfe\r\n" + line.encode() + b"\r\n" + line.encode())
    results = list(parse_file(path, "asterisk"))
    assert [r.line_no for r in results] == [2, 3]
    assert results[0].raw == line + "\r" and results[1].raw == line
    assert all(r.event is not None and r.event.src_ip == "192.0.2.5" for r in results)


def test_dateless_lines_take_the_file_mtime(tmp_path: Path) -> None:
    path = tmp_path / "journal.txt"
    path.write_text(
        "NOTICE[566]: chan_sip.c:1 handle_request_register: " + FAIL.split("chan_sip.c: ")[1].format(n=9) + "\n"
    )
    mtime = datetime(2022, 3, 4, 5, 6, 7, tzinfo=UTC)
    os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    (result,) = parse_file(path)
    assert result.event is not None and result.event.ts == mtime


def test_year_less_lines_use_the_mtime_year(tmp_path: Path) -> None:
    path = tmp_path / "full"
    path.write_text(FAIL.format(d="Mar  1 10:00:00", n=3) + "\n")
    mtime = datetime(2019, 6, 1, tzinfo=UTC)
    os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    (result,) = parse_file(path)
    assert result.event is not None and result.event.ts == datetime(2019, 3, 1, 10, tzinfo=UTC)


def test_parse_lines_reports_missed_lines_only_when_asked() -> None:
    lines = [
        NOISE,
        "[2024-01-01 00:00:00] NOTICE[1] chan_foo.c: Something failed for 192.0.2.1",
        FAIL.format(d="2024-01-01 00:00:00", n=4),
    ]
    quiet = list(parse_lines(lines))
    assert [(r.line_no, r.pattern_id) for r in quiet] == [(3, "ast.chansip.register_failed")]
    loud = list(parse_lines(lines, report_missed=True))
    assert [(r.line_no, r.pattern_id) for r in loud] == [(2, None), (3, "ast.chansip.register_failed")]
    assert loud[0].event is None


def test_sensor_name_is_stamped() -> None:
    (result,) = parse_lines([FAIL.format(d="2024-01-01 00:00:00", n=4)], "asterisk", sensor="pbx-1")
    assert result.event is not None and result.event.sensor == "pbx-1" and result.event.source == "asterisk"
