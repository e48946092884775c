"""Rows of a CSV file read again by the line numbers `csv.reader` gave them.

A deferring FraudGuard keeps only the fields and the line of a quiet call; when an alert later
shows that call, its row is read again from the file. The file is opened once, when the scan
starts, so a log rotation that renames it in the meantime does not change what is read back.

Lines end where the scan's text reading (`newline=""`) ends them: at `\\n`, `\\r\\n` or `\\r`. These
are single bytes in UTF-8 that no undecodable byte swallows, so line ends are found in the bytes.
The index is sparse and built on first use, only as far as the lines asked for: the file is cut
into blocks at line ends (never between `\\r` and `\\n`) and only the lines of each block are
counted; the exact ends within a block are found when a row in it is asked for.

All reading is positional (`os.pread`, `PreadFile`), so processes that share an inherited descriptor
never move each other's file offset.
"""

from __future__ import annotations

import csv
import io
import os
import weakref
from array import array
from bisect import bisect_right
from itertools import accumulate
from pathlib import Path
from typing import Any, Final

#: Bytes per block of the line index.
INDEX_BLOCK: Final = 1 << 18
#: Bytes read at a time by `text_from`.
READ_BUFFER: Final = 1 << 20
#: Blocks whose exact line ends are kept (the rows of one alert are usually close together).
CACHED_BLOCKS: Final = 8


class PreadFile(io.RawIOBase):
    """A read-only view of an open descriptor's bytes `offset`..`end`, read with pread (no shared offset)."""

    def __init__(self, fd: int, offset: int = 0, end: int | None = None) -> None:
        super().__init__()
        self.fd = fd
        self.offset = offset
        self.end = end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = len(buffer) if self.end is None else max(0, min(len(buffer), self.end - self.offset))
        data = os.pread(self.fd, size, self.offset)
        buffer[: len(data)] = data
        self.offset += len(data)
        return len(data)


def text_from(fd: int, offset: int, end: int | None = None) -> io.TextIOWrapper:
    """Bytes `offset`..`end` of a descriptor as the scan reads a CSV file: UTF-8, lines as written."""
    raw = io.BufferedReader(PreadFile(fd, offset, end), READ_BUFFER)
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")


class RowsByLine:
    """Reads the CSV record that ends on a given line of one file (1-based, as `reader.line_num`).

    `fd` reads an already open descriptor (left open) instead of opening `path`; `begin` and
    `first_line` start the index at a line end other than the file's start: byte `begin` is the
    start of line `first_line + 1`, and only lines after it can be read.
    """

    def __init__(self, path: Path, fd: int | None = None, begin: int = 0, first_line: int = 0) -> None:
        if fd is None:
            self._fd = os.open(path, os.O_RDONLY)
            weakref.finalize(self, os.close, self._fd)
        else:
            self._fd = fd
        self._first_line = first_line
        # Block k starts at byte _starts[k] with _before[k] lines before it; the last entry is
        # where the index stops (the next block's start).
        self._starts = array("q", [begin])
        self._before = array("q", [first_line])
        self._end = False  # the index reached the end of the file
        self._exact: dict[int, array[int]] = {}  # block -> byte offsets just past each of its lines

    def row(self, first: int, last: int) -> list[str]:
        """The row spanning lines `first` to `last`; ValueError when the file no longer has them."""
        self._index_to(last)
        if first <= self._first_line or last > self._before[-1]:
            raise ValueError(f"line {last} is not in the file any more")
        begin = self._line_end(first - 1)
        data = os.pread(self._fd, self._line_end(last) - begin, begin)
        text = data.decode("utf-8", errors="replace")
        for row in csv.reader(io.StringIO(text, newline="")):
            if row:
                return row
        raise ValueError(f"line {last} holds no record")

    def _line_end(self, line: int) -> int:
        """The byte just past line `line` (the index covers it)."""
        if line == self._first_line:
            return self._starts[0]
        block = bisect_right(self._before, line - 1) - 1  # the block holding that line's end
        ends = self._exact.get(block)
        if ends is None:
            ends = self._exact_ends(block)
        return ends[line - self._before[block] - 1]

    def _exact_ends(self, block: int) -> array[int]:
        begin = self._starts[block]
        data = os.pread(self._fd, self._starts[block + 1] - begin, begin)
        # bytes.splitlines ends lines at \n, \r\n and \r only, as the text reading does.
        ends = array("q", accumulate(map(len, data.splitlines(keepends=True)), initial=begin))[1:]
        if len(self._exact) >= CACHED_BLOCKS:
            del self._exact[next(iter(self._exact))]
        self._exact[block] = ends
        return ends

    def _index_to(self, line: int) -> None:
        starts, before = self._starts, self._before
        while before[-1] < line and not self._end:
            at = starts[-1]
            data = os.pread(self._fd, INDEX_BLOCK, at)
            if len(data) < INDEX_BLOCK:
                self._end = True
                if not data:
                    return
                cut = len(data)
            else:
                # After the last line end, but not after a final \r that may start a \r\n.
                cut = max(data.rfind(b"\n"), data.rfind(b"\r", 0, len(data) - 1)) + 1 or len(data) - 1
                data = data[:cut]
            lines = data.count(b"\n")
            crs = data.count(b"\r")
            if crs:
                lines += crs - data.count(b"\r\n")
            if self._end and data[-1:] not in (b"\n", b"\r"):
                lines += 1  # the last line, without an end
            starts.append(at + cut)
            before.append(before[-1] + lines)
