"""Block scanning (`parse_file` -> `LineParser.scan_bytes`) gives what line-by-line parsing gives.

`scan_bytes` searches ASCII blocks as bytes and decodes only the lines that hold a trigger; other
blocks go through `scan_text`. Whatever the bytes (UTF-8, undecodable bytes, CR, lines cut at block
edges, no final newline), every result and every counter must equal `parse_line` on each line.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipwarden.sensors.logs import PATTERNS, LineParser, needles, reading
from sipwarden.sensors.logs.prefix import TimeContext

SAMPLES = [s.line.encode() for p in PATTERNS for s in p.samples]
NOISE = [
    b"[2024-03-01 10:00:00] VERBOSE[1] pbx.c:     -- Executing [s@default:1] Answer",
    b"[2024-03-01 10:00:00] DEBUG[7] res_rtp_asterisk.c: Setting RTP source address to 10.0.0.1:4000",
    "[2024-03-01 10:00:00] VERBOSE[2] app_dial.c:     -- Called PJSIP/Müller".encode(),
    b"",
]
# Bytes that decode to text a trigger or a refusal word could match only after escaping
# (\xad + "enied" -> "\\xadenied"), or that are not UTF-8 at all.
ODD = [b"\xad", b"\xff", b"\xc3", b"\r", "é".encode(), b" failed ", b"denied", b"\x1b[31m"]

# A fixed reference: date-less lines (journald short output) take it as their time.
REFERENCE = TimeContext(reference=datetime(2024, 6, 1, tzinfo=UTC), year_hint=2024)


def _line() -> st.SearchStrategy[bytes]:
    base = st.sampled_from(SAMPLES + NOISE)
    return st.builds(
        lambda b, odd, cut: b[:cut] + odd + b[cut:], base, st.sampled_from([b"", *ODD]), st.integers(0, 200)
    )


def _view(result: Any) -> tuple[Any, ...]:
    event = result.event
    data = None
    if event is not None:
        data = event.to_dict()
        data.pop("id")
    return (result.line_no, result.raw, result.pattern_id, result.kind, data)


def _by_lines(data: bytes, fmt: str | None, missed: bool) -> tuple[list[tuple[Any, ...]], Any]:
    parser = LineParser(fmt, time=REFERENCE, report_missed=missed)
    text = data.decode("utf-8", "backslashreplace")
    out = []
    # Lines end at "\n" only (str.splitlines would also cut at "\r" and other breaks).
    lines = text.removesuffix("\n").split("\n") if text else []
    for n, line in enumerate(lines, 1):
        result = parser.parse_line(line, n)
        if result is not None:
            out.append(_view(result))
    return out, parser.stats


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(_line(), max_size=40),
    final_newline=st.booleans(),
    block=st.integers(16, 600),
    fmt=st.sampled_from(["asterisk", "freeswitch", "kamailio", None]),
    missed=st.booleans(),
    engine=st.booleans(),
)
def test_block_scanning_equals_line_by_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lines: list[bytes],
    final_newline: bool,
    block: int,
    fmt: str | None,
    missed: bool,
    engine: bool,
) -> None:
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    path = tmp_path / "log"
    path.write_bytes(data)
    monkeypatch.setattr(reading, "READ_BLOCK", block)
    # Hyperscan (where installed) for every block, or bytes.find for every block.
    monkeypatch.setattr(needles, "ENGINE_MIN_BYTES", 0 if engine else 1 << 62)
    parser = LineParser(fmt, time=REFERENCE, report_missed=missed)
    got = [_view(r) for r in reading.parse_file(path, parser=parser)]
    want, stats = _by_lines(data, fmt, missed)
    assert got == want
    assert (parser.stats.lines, parser.stats.matched, parser.stats.events) == (
        stats.lines,
        stats.matched,
        stats.events,
    )
    assert (parser.stats.malformed, parser.stats.missed) == (stats.malformed, stats.missed)


def test_ascii_and_other_blocks_agree() -> None:
    # The same lines as one ASCII block (bytes search) and with one non-ASCII line (text search).
    lines = [*SAMPLES, *NOISE[:2]]
    ascii_block = b"\n".join(lines) + b"\n"
    other_block = ascii_block + "é\n".encode()
    assert ascii_block.isascii() and not other_block.isascii()
    a, b = LineParser(None, time=REFERENCE), LineParser(None, time=REFERENCE)
    got_a = [_view(r) for r in a.scan_bytes(ascii_block)]
    got_b = [_view(r) for r in b.scan_bytes(other_block)]
    assert got_a == got_b and len(got_a) == len(SAMPLES)
    assert (a.stats.lines, b.stats.lines) == (len(lines), len(lines) + 1)


def test_an_escaped_byte_can_complete_a_refusal_word() -> None:
    # "\xad" + "enied" decodes to "\\xadenied", which holds "denied": the block must be searched
    # as text, as line-by-line parsing sees it.
    data = b"[2024-03-01 10:00:00] NOTICE[1] x.c: \xadenied\n"
    parser = LineParser("asterisk", report_missed=True)
    results = list(parser.scan_bytes(data))
    assert [r.raw for r in results] == ["[2024-03-01 10:00:00] NOTICE[1] x.c: \\xadenied"]
    assert parser.stats.missed == 1
