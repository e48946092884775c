"""A small rotation-safe follower of CDR files, with read positions saved between runs.

Like `tail -F`: each followed file keeps an open handle, so when logrotate renames `Master.csv` to
`Master.csv.1` the rest of the old file is still read before the new one is opened. A file that
shrinks was truncated (copytruncate) and is read again from the start. Only complete lines are
delivered; a last line without a newline is delivered once the file has stopped growing for one
poll (mod_json_cdr writes whole files without a trailing newline).
"""

from __future__ import annotations

import glob
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

log = logging.getLogger(__name__)

#: Bytes read from one file in one poll, so one huge file cannot starve the others or the loop.
MAX_READ_BYTES: Final = 4 * 1024 * 1024
#: Files followed at once (a json_cdrs directory grows one file per call; old ones are finished).
MAX_FILES: Final = 4096
#: Open handles kept between polls; the least recently grown are closed and reopened by offset.
MAX_OPEN_FILES: Final = 64
#: A partial line longer than this is delivered as it is (it is garbage, not a record in progress).
MAX_PENDING_BYTES: Final = 1024 * 1024


@dataclass(slots=True)
class _Followed:
    path: str
    inode: int
    offset: int  # bytes consumed and delivered (complete lines only)
    handle: IO[bytes] | None = None
    pending: int = 0  # length of a partial last line seen at the last poll


@dataclass(frozen=True, slots=True)
class Chunk:
    """Complete lines read from one file; `first_line` numbers the first of them (1-based)."""

    path: str
    text: str
    first_line: int


class CdrFollower:
    """Follow files matching glob patterns; `poll()` returns new complete lines per file."""

    def __init__(self, patterns: Iterable[str], state_path: Path | None = None, *, start_at_end: bool = True) -> None:
        self.patterns = tuple(patterns)
        self.state_path = state_path
        self._files: dict[str, _Followed] = {}
        self._lines: dict[str, int] = {}
        self._saved = self._load_state()
        self._first_poll = True
        self.start_at_end = start_at_end

    def _load_state(self) -> dict[str, tuple[int, int]]:
        if self.state_path is None or not self.state_path.exists():
            return {}
        try:
            data = json.loads(self.state_path.read_text())
            return {str(p): (int(v["inode"]), int(v["offset"])) for p, v in data.items()}
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            log.warning("cannot read CDR positions from %s; starting afresh", self.state_path)
            return {}

    def save_state(self) -> None:
        """Write the positions of everything delivered so far (atomically: temp file + rename)."""
        if self.state_path is None:
            return
        data = {f.path: {"inode": f.inode, "offset": f.offset} for f in self._files.values()}
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, sort_keys=True))
        os.replace(tmp, self.state_path)

    def _matches(self) -> list[str]:
        found: list[str] = []
        for pattern in self.patterns:
            found.extend(sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern])
        return list(dict.fromkeys(found))[:MAX_FILES]

    def _open(self, entry: _Followed) -> IO[bytes] | None:
        if entry.handle is None:
            try:
                entry.handle = open(entry.path, "rb")  # noqa: SIM115 - kept open across polls on purpose
                entry.handle.seek(entry.offset)
            except OSError:
                entry.handle = None
        return entry.handle

    def _read(self, entry: _Followed, out: list[Chunk], *, final: bool = False) -> bool:
        """Read complete lines from the entry's handle; True when anything was delivered."""
        handle = self._open(entry)
        if handle is None:
            return False
        handle.seek(entry.offset)
        data = handle.read(MAX_READ_BYTES)
        if not data:
            return False
        end = len(data) if final else data.rfind(b"\n") + 1
        if end == 0:
            # Only a partial line: deliver it once it has not grown for a whole poll.
            if len(data) != entry.pending and len(data) < MAX_PENDING_BYTES:
                entry.pending = len(data)
                return False
            end = len(data)
        entry.pending = len(data) - end  # the partial line left, compared at the next poll
        text = data[:end].decode("utf-8", "replace")
        first = self._lines.get(entry.path, 0) + 1
        self._lines[entry.path] = first - 1 + text.count("\n") + (0 if text.endswith("\n") else 1)
        entry.offset += end
        out.append(Chunk(entry.path, text, first))
        return True

    def poll(self) -> list[Chunk]:
        """New complete lines of every followed file since the last poll."""
        out: list[Chunk] = []
        first_poll, self._first_poll = self._first_poll, False
        seen = set()
        for path in self._matches():
            seen.add(path)
            try:
                st = os.stat(path)
            except OSError:
                continue  # rotated away and not yet re-created
            entry = self._files.get(path)
            if entry is None:
                saved = self._saved.get(path)
                if saved and saved[0] == st.st_ino and saved[1] <= st.st_size:
                    offset = saved[1]  # resume where the last run stopped
                elif first_poll and self.start_at_end and not saved:
                    offset = st.st_size
                else:
                    offset = 0
                entry = self._files[path] = _Followed(path, st.st_ino, offset)
                self._lines[path] = 0
            elif entry.inode != st.st_ino:
                while self._read(entry, out, final=True):  # drain the rotated file through the old handle
                    pass
                self._close(entry)
                entry = self._files[path] = _Followed(path, st.st_ino, 0)
                self._lines[path] = 0
            elif st.st_size < entry.offset:
                log.info("%s was truncated; reading it from the start", path)
                self._close(entry)
                entry.offset, entry.pending = 0, 0
                self._lines[path] = 0
            self._read(entry, out)
        for path in [p for p in self._files if p not in seen]:
            self._close(self._files.pop(path))
        self._limit_handles(out)
        return out

    def _limit_handles(self, out: list[Chunk]) -> None:
        grown = {c.path for c in out}
        open_entries = [f for f in self._files.values() if f.handle is not None]
        for entry in [f for f in open_entries if f.path not in grown][: max(0, len(open_entries) - MAX_OPEN_FILES)]:
            self._close(entry)

    @staticmethod
    def _close(entry: _Followed) -> None:
        if entry.handle is not None:
            entry.handle.close()
            entry.handle = None

    def close(self) -> None:
        """Close every handle (positions stay; call save_state to keep them)."""
        for entry in self._files.values():
            self._close(entry)
