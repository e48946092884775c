"""Rows of a CSV file read again by the line numbers `csv.reader` gave them.

A deferring FraudGuard keeps only the fields and the line of a quiet call; when an alert later
shows that call, its row is read again from the file. The file is opened once, when the scan
starts, so a log rotation that renames it in the meantime does not change what is read back. The
index of line ends is built on first use, and only as far as the lines asked for. Lines end where
the scan's text reading (`newline=""`) ends them: at `\\n`, `\\r\\n` or `\\r`. Blocks of bytes without
`\\r` are split at `\\n` directly; from the first `\\r` on, the file is read as text, with undecodable
bytes kept so that each line's length in bytes is exact.
"""

from __future__ import annotations

import csv
import io
import os
import weakref
from array import array
from itertools import accumulate
from pathlib import Path
from typing import Final

#: Bytes read at a time to find line ends.
INDEX_BLOCK: Final = 1 << 22


class RowsByLine:
    """Reads the CSV record that ends on a given line of one file (1-based, as `reader.line_num`)."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)
        self._ends = array("q")  # byte offset just past line n at index n - 1
        self._lines: io.TextIOWrapper | None = None  # the indexing pass, on a duplicate descriptor
        self._offset = 0

    def row(self, first: int, last: int) -> list[str]:
        """The row spanning lines `first` to `last`; ValueError when the file no longer has them."""
        self._index_to(last)
        if last > len(self._ends) or first < 1:
            raise ValueError(f"line {last} is not in the file any more")
        begin = self._ends[first - 2] if first > 1 else 0
        data = os.pread(self._fd, self._ends[last - 1] - begin, begin)
        text = data.decode("utf-8", errors="replace")
        for row in csv.reader(io.StringIO(text, newline="")):
            if row:
                return row
        raise ValueError(f"line {last} holds no record")

    def _index_to(self, line: int) -> None:
        ends = self._ends
        while len(ends) < line:
            block = os.pread(self._fd, INDEX_BLOCK, self._offset)
            if not block:
                return
            if b"\r" in block:  # \r and \r\n end lines too, and one may straddle blocks: read as text
                self._index_text(line)
                return
            cut = block.rfind(b"\n") + 1
            if cut == 0:
                if len(block) < INDEX_BLOCK:  # the last line, without an end
                    ends.append(self._offset + len(block))
                    self._offset += len(block)
                    return
                cut = len(block)  # a line longer than a block: no end in it
            else:
                # Offsets just past each \n, from the lengths of the lines between them.
                lengths = map(len, block[: cut - 1].split(b"\n"))
                ends.extend(
                    accumulate(lengths, lambda total, n: total + n + 1, initial=self._offset + next(lengths) + 1)
                )
            self._offset += cut

    def _index_text(self, line: int) -> None:
        """The index by reading the file as text from where it stands (files with \\r line ends)."""
        ends = self._ends
        if self._lines is None:
            # pread leaves the shared file offset alone, so the duplicate can read on its own.
            fd = os.dup(self._fd)
            os.lseek(fd, self._offset, os.SEEK_SET)
            self._lines = open(  # noqa: SIM115 (lives as long as this object)
                fd, encoding="utf-8", errors="surrogateescape", newline=""
            )
            weakref.finalize(self, self._lines.close)
        offset = self._offset
        for text in self._lines:
            offset += len(text.encode("utf-8", errors="surrogateescape"))
            ends.append(offset)
            if len(ends) >= line:
                break
        self._offset = offset
