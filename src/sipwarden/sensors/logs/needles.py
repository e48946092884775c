"""The lines of a block of log bytes that hold any of a few needles (the parser's triggers).

This is the one step of parsing that reads every byte of a log: the rest of the parser only sees
the lines found here. Searching needle by needle with `bytes.find` reads the block once per needle
(about 3 GB/s each; an Asterisk parser has nine triggers, so a 115 MB log costs ~0.35 s). Where
Hyperscan is installed (x86-64), one vectorised pass finds every needle at once, about six times
faster. Both searches give the same lines (tests/sensors/logs/test_logs_needles.py); small blocks
keep `bytes.find`, since loading Hyperscan costs more than it saves there.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any, AnyStr, Final

log = logging.getLogger(__name__)

#: Blocks from this size on are searched with Hyperscan when it is installed (loading it costs ~15 ms).
ENGINE_MIN_BYTES: Final = 1 << 20

#: (start, end) of a line: `end` is the index of its newline, or the block's length for a last line
#: without one.
Span = tuple[int, int]
_Search = Callable[[bytes], list[Span]]


def find_lines(data: AnyStr, needles: Sequence[AnyStr]) -> list[Span]:
    """The spans of the lines of `data` (text or bytes) that hold a needle, in order, searched
    needle by needle."""
    newline = b"\n" if isinstance(data, bytes) else "\n"
    size = len(data)
    ends: dict[int, int] = {}  # start of a line holding a needle -> its end
    find, rfind = data.find, data.rfind
    for needle in needles:
        i = find(needle)
        while i != -1:
            end = find(newline, i)
            if end == -1:
                end = size
            ends[rfind(newline, 0, i) + 1] = end
            i = find(needle, end)
    return [(start, ends[start]) for start in sorted(ends)]


@functools.lru_cache(maxsize=16)
def hyperscan_search(needles: tuple[bytes, ...]) -> _Search | None:
    """A one-pass search for `needles` with Hyperscan; None when Hyperscan is missing or refuses them."""
    try:
        import hyperscan  # optional (x86-64 only)
    except ImportError:
        return None
    if not needles or any(not n or b"\n" in n for n in needles):
        return None  # a needle must lie within one line
    try:
        database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        database.compile(
            expressions=list(needles),
            ids=list(range(len(needles))),
            elements=len(needles),
            flags=[0] * len(needles),
            literal=True,
        )
    except Exception as exc:  # hyperscan.error: e.g. a CPU without the instructions it needs
        log.info("Hyperscan cannot search the log triggers (%s); searching needle by needle", exc)
        return None

    def search(data: bytes) -> list[Span]:
        ends: list[int] = []  # the end offset of every match

        def found(_id: int, _start: int, end: int, _flags: int, _context: Any) -> None:
            ends.append(end)  # returning anything true would stop the scan

        database.scan(data, match_event_handler=found)
        ends.sort()  # matches arrive by end offset already; sorting a sorted list costs one pass
        spans: list[Span] = []
        size, find, rfind = len(data), data.find, data.rfind
        line_end = -1
        for end in ends:
            if end <= line_end:
                continue  # another needle on a line already found
            line_end = find(b"\n", end)
            if line_end == -1:
                line_end = size
            spans.append((rfind(b"\n", 0, end) + 1, line_end))
        return spans

    return search


class NeedleSearch:
    """Find the lines holding any of `needles` in blocks of bytes (Hyperscan for large blocks)."""

    def __init__(self, needles: tuple[bytes, ...], *, engine: bool = True) -> None:
        self.needles = needles
        self._engine = engine  # False: always needle by needle (tests compare the two)

    def lines(self, data: bytes) -> list[Span]:
        """The spans of the lines of `data` that hold a needle, in order."""
        if self._engine and len(data) >= ENGINE_MIN_BYTES:
            search = hyperscan_search(self.needles)
            if search is not None:
                return search(data)
        return find_lines(data, self.needles)
