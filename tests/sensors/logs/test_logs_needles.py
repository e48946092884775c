"""The trigger search: Hyperscan's one pass finds exactly the lines that `bytes.find` finds."""

from __future__ import annotations

import sys
from importlib.util import find_spec
from pathlib import Path

import pytest
from bench.bench_parse import generate
from hypothesis import given, settings
from hypothesis import strategies as st

from sipwarden.sensors.logs import LineParser, needles, reading
from sipwarden.sensors.logs.needles import NeedleSearch, find_lines, hyperscan_search

needs_hyperscan = pytest.mark.skipif(find_spec("hyperscan") is None, reason="Hyperscan is installed on x86-64 only")

NEEDLES = (b" failed ", b"rejected because", b"SecurityEvent=", b"ail", b"xx")
# Bytes that build lines full of near misses, overlapping and repeated needles.
PIECES = [*NEEDLES, b" fail", b"ed ", b"rejected", b" because", b"\n", b"a", b" ", b"\xff", b"Security", b"x"]


@needs_hyperscan
@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.sampled_from(PIECES), max_size=60), chosen=st.sets(st.sampled_from(NEEDLES), min_size=1))
def test_hyperscan_finds_the_lines_bytes_find_finds(parts: list[bytes], chosen: set[bytes]) -> None:
    data = b"".join(parts)
    wanted = tuple(sorted(chosen))
    search = hyperscan_search(wanted)
    assert search is not None
    assert search(data) == find_lines(data, wanted)


@needs_hyperscan
def test_a_large_log_parses_the_same_with_either_search(tmp_path: Path) -> None:
    log = tmp_path / "full"
    generate(log, 30_000)  # 3.4 MB: blocks above ENGINE_MIN_BYTES
    assert log.stat().st_size > 2 * needles.ENGINE_MIN_BYTES

    def parsed(engine: bool) -> tuple[list[tuple[int, str, str | None]], int]:
        parser = LineParser("asterisk", report_missed=True)
        parser._search = NeedleSearch(parser._search.needles, engine=engine)
        results = [(r.line_no, r.raw, r.pattern_id) for r in reading.parse_file(log, parser=parser)]
        return results, parser.stats.lines

    with_engine, without = parsed(True), parsed(False)
    assert with_engine == without
    assert with_engine[1] == 30_000 and len(with_engine[0]) > 500


def test_without_hyperscan_the_search_goes_needle_by_needle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hyperscan", None)  # import hyperscan -> ImportError
    hyperscan_search.cache_clear()
    try:
        assert hyperscan_search(NEEDLES) is None
        data = b"x\n" + b"noise line\n" * 200_000 + b"it failed here\n"
        assert len(data) > needles.ENGINE_MIN_BYTES
        assert NeedleSearch((b" failed ",)).lines(data) == [(len(data) - 15, len(data) - 1)]
    finally:
        hyperscan_search.cache_clear()


def test_needles_that_cannot_lie_within_a_line_are_left_to_bytes_find() -> None:
    assert hyperscan_search((b"a\nb",)) is None
    assert hyperscan_search((b"",)) is None
    assert hyperscan_search(()) is None
