"""Rotation-safe log tailing: files (globs, rename+create, copytruncate) and journald units.

Position contract: `events()` yields one Event at a time. When the consumer asks for the next
event (or closes the iterator), the event it holds counts as handed on, and the position moves past
its line. Positions are written to `state_path` (atomically) after each batch of lines read from a
file, and by `save_state()`. After a clean stop nothing is lost and nothing is read twice; after a
crash, at most the lines of the batch in progress are read again (at-least-once).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from pathlib import Path
from typing import IO, Any, Final

from sipwarden.events import Event
from sipwarden.sensors.logs.inotify import DirectoryWake
from sipwarden.sensors.logs.journal import JOURNAL_PREFIX, JournalSource
from sipwarden.sensors.logs.parser import LineParser
from sipwarden.sensors.logs.reading import make_parser

log = logging.getLogger(__name__)

#: Bytes read from one file per poll: bounds the time one busy file holds the loop.
MAX_READ_PER_POLL: Final = 1024 * 1024
#: A line longer than this without a newline is cut and parsed as it is (a hostile writer or a
#: binary file must not grow the buffer without bound; SIP lines are far shorter).
MAX_LINE_BYTES: Final = 64 * 1024
#: Bytes at the start of a file hashed to tell a truncated-and-regrown file from the one we knew.
HEAD_BYTES: Final = 256
#: A rotated-away file is closed after this long without new data (logrotate's `create` makes the
#: new file before the PBX reopens its log; the PBX may write to the old one until then).
ROTATION_GRACE_S: Final = 5.0
#: Suffix of the state key of a rotated file being finished.
ROTATED_SUFFIX: Final = "#rotated"
#: Bytes read at open to detect the format of a file.
SNIFF_BYTES: Final = 64 * 1024


def _head_hash(f: IO[bytes], length: int) -> str:
    f.seek(0)
    return hashlib.sha256(f.read(length)).hexdigest()


@dataclass
class _Tracked:
    """One open file: where we read, what has been handed on, and the unfinished last line."""

    path: str
    f: IO[bytes]
    dev: int
    inode: int
    parser: LineParser
    offset: int = 0  # read position (end of `partial`)
    committed: int = 0  # end of the last line whose event was handed on
    partial: bytes = b""
    head_len: int = 0
    head: str = ""
    draining: bool = False  # rotated away: read to EOF, then close
    line_no: int = 0
    last_data: float = field(default_factory=time.monotonic)  # when data was last read


class LogFollower:
    """Follow log files (glob patterns allowed) and `journal:UNIT` sources; yield Events."""

    def __init__(
        self,
        paths: Sequence[str],
        *,
        state_path: Path,
        fmt: str = "auto",
        poll_interval: float = 0.05,
        sensor: str = "",
        tz: tzinfo = UTC,
        from_start: bool = False,
    ) -> None:
        self.patterns = [p for p in paths if not p.startswith(JOURNAL_PREFIX)]
        self.journals = [JournalSource(p.removeprefix(JOURNAL_PREFIX)) for p in paths if p.startswith(JOURNAL_PREFIX)]
        self.state_path = Path(state_path)
        self.fmt = fmt
        self.poll_interval = poll_interval
        self.sensor = sensor
        self.tz = tz
        #: Without saved state, files present at start are read from their end unless True;
        #: files that appear later (rotation, a new glob match) are always read from the start.
        self.from_start = from_start
        self._files: dict[str, _Tracked] = {}
        self._draining: list[_Tracked] = []
        self._saved: dict[str, Any] = {}
        self._restored: set[str] = set()  # paths whose saved position was already used

    # -- state --------------------------------------------------------------------------------

    def _load_state(self) -> None:
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
            self._saved = data if isinstance(data, dict) else {}
        except FileNotFoundError:
            self._saved = {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable follower state %s: %s", self.state_path, exc)
            self._saved = {}

    def save_state(self) -> None:
        """Write every handed-on position (inode, offset, first-bytes hash) to JSON atomically."""
        files = {
            # A rotated file still being finished is kept under its own key: after a crash it is
            # found again by inode (see _resume_rotated), beside the new file at its old path.
            (t.path + ROTATED_SUFFIX if t.draining else t.path): {
                "dev": t.dev,
                "inode": t.inode,
                "offset": t.committed,
                "head_len": t.head_len,
                "head": t.head,
            }
            for t in [*self._files.values(), *self._draining]
        }
        journals = {j.unit: {"cursor": j.committed_cursor} for j in self.journals if j.committed_cursor}
        data = {"version": 1, "files": files, "journals": journals}
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_path)

    # -- files --------------------------------------------------------------------------------

    def _open(self, path: str, *, at_start: bool) -> _Tracked | None:
        try:
            f = open(path, "rb")  # noqa: SIM115 - kept open while following
        except OSError as exc:
            log.warning("cannot open %s: %s", path, exc)
            return None
        st = os.fstat(f.fileno())
        sniff = f.read(SNIFF_BYTES).decode("utf-8", "replace").splitlines()
        # No fixed reference: a live log's year-less dates and date-less lines are "now".
        parser = make_parser(self.fmt, sniff, sensor=self.sensor, tz=self.tz)
        t = _Tracked(path, f, st.st_dev, st.st_ino, parser)
        self._set_head(t, st.st_size)
        saved = None if path in self._restored else self._saved.get("files", {}).get(path)
        self._restored.add(path)
        offset = 0 if at_start else st.st_size
        if isinstance(saved, dict) and saved.get("inode") == st.st_ino and saved.get("dev") == st.st_dev:
            length = int(saved.get("head_len", 0))
            same_head = length == 0 or (length <= st.st_size and _head_hash(f, length) == saved.get("head"))
            # A file truncated (copytruncate) while we were stopped is read from the start.
            offset = int(saved["offset"]) if same_head and int(saved.get("offset", 0)) <= st.st_size else 0
        elif isinstance(saved, dict):
            offset = 0  # replaced while we were stopped (the old file is resumed by _resume_rotated)
        t.offset = t.committed = offset
        f.seek(offset)
        return t

    def _resume_rotated(self, current: dict[str, os.stat_result]) -> None:
        """At start: finish files rotated away while we were stopped (found by inode, same directory)."""
        saved_files = self._saved.get("files", {})
        if not isinstance(saved_files, dict):
            return
        for path, saved in saved_files.items():
            if not isinstance(saved, dict) or not isinstance(path, str):
                continue
            key = (saved.get("dev"), saved.get("inode"))
            st_now = current.get(path)
            if st_now is not None and (st_now.st_dev, st_now.st_ino) == key:
                continue  # not rotated: _open resumes it
            folder = os.path.dirname(path) or "."
            with contextlib.suppress(OSError):
                for name in os.listdir(folder):
                    other = os.path.join(folder, name)
                    st = os.stat(other)
                    if (st.st_dev, st.st_ino) != key:
                        continue
                    f = open(other, "rb")  # noqa: SIM115 - kept open while draining
                    sniff = f.read(SNIFF_BYTES).decode("utf-8", "replace").splitlines()
                    parser = make_parser(self.fmt, sniff, sensor=self.sensor, tz=self.tz)
                    offset = min(int(saved.get("offset", 0)), st.st_size)
                    f.seek(offset)
                    self._draining.append(
                        _Tracked(other, f, st.st_dev, st.st_ino, parser, offset, offset, draining=True)
                    )
                    self._restored.add(other)
                    break

    def _set_head(self, t: _Tracked, size: int) -> None:
        if t.head_len < HEAD_BYTES and size > t.head_len:
            pos = t.f.tell()
            t.head_len = min(size, HEAD_BYTES)
            t.head = _head_hash(t.f, t.head_len)
            t.f.seek(pos)

    def _refresh(self, first: bool) -> None:
        """Pick up new glob matches, rotations (rename+create) and truncations (copytruncate).

        Files are known by (device, inode): a followed file that a glob now matches under another
        name (`full` rotated to `full.1`) keeps its position instead of being read again.
        """
        current: dict[str, os.stat_result] = {}
        for pattern in self.patterns:
            for path in glob.glob(pattern) if glob.has_magic(pattern) else [pattern]:
                with contextlib.suppress(OSError):
                    current[path] = os.stat(path)
        if first:
            self._resume_rotated(current)
        tracked = {(t.dev, t.inode): t for t in [*self._draining, *self._files.values()]}
        files: dict[str, _Tracked] = {}
        for path in sorted(current):
            st = current[path]
            t = tracked.pop((st.st_dev, st.st_ino), None)
            if t is None:
                replaced = path in self._files
                if replaced:
                    log.info("%s was rotated; finishing the old file, then reading the new one", path)
                opened = self._open(path, at_start=replaced or not first or self.from_start)
                if opened is None:
                    continue
                t = opened
            else:
                t.path, t.draining = path, False
                self._check_truncated(t, st)
            files[path] = t
        # Followed files no path names any more (renamed out of the globs, or deleted): read to the
        # end, then closed once quiet for ROTATION_GRACE_S (the PBX may write a little more
        # before it reopens its log).
        for t in tracked.values():
            t.draining = True
        self._files = files
        self._draining = list(tracked.values())

    def _check_truncated(self, t: _Tracked, st: os.stat_result) -> None:
        if st.st_size < t.offset or (t.head_len and _head_hash(t.f, t.head_len) != t.head):
            log.info("%s was truncated; reading it from the start", t.path)
            t.offset = t.committed = 0
            t.partial = b""
            t.head_len, t.head = 0, ""
            t.f.seek(0)
        self._set_head(t, st.st_size)

    def _read(self, t: _Tracked) -> list[tuple[Event | None, int]]:
        """New complete lines of `t` as (event or None, offset after the line)."""
        t.f.seek(t.offset)
        data = t.f.read(MAX_READ_PER_POLL)
        if not data:
            return []
        t.offset += len(data)
        buf = t.partial + data
        out: list[tuple[Event | None, int]] = []
        start = 0
        base = t.offset - len(buf)
        while True:
            nl = buf.find(b"\n", start)
            if nl == -1:
                if len(buf) - start > MAX_LINE_BYTES:
                    nl = start + MAX_LINE_BYTES - 1
                else:
                    break
            line = buf[start : nl + 1].decode("utf-8", "backslashreplace")
            start = nl + 1
            t.line_no += 1
            try:
                result = t.parser.parse_line(line, t.line_no)
            except Exception:  # a parser bug must not stop the tail (STYLE.md, practice 3)
                log.exception("parser failed on %s line %d", t.path, t.line_no)
                result = None
            out.append((result.event if result else None, base + start))
        t.partial = buf[start:]
        return out

    def _directories(self) -> list[str]:
        """Directories to watch for changes: those of every path, or the fixed part of each glob."""
        out = []
        for pattern in self.patterns:
            folder = os.path.dirname(pattern) or "."
            while glob.has_magic(folder):
                folder = os.path.dirname(folder) or "."
            if os.path.isdir(folder):
                out.append(folder)
        return out

    # -- the stream ---------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[Event]:
        """Yield events as lines are appended; see the module docstring for the position contract."""
        self._load_state()
        for j in self.journals:
            saved = self._saved.get("journals", {}).get(j.unit)
            j.start(saved.get("cursor") if isinstance(saved, dict) else None, self.fmt, self.sensor, self.tz)
        first = True
        wake = DirectoryWake(self._directories())
        try:
            while True:
                progressed = False
                self._refresh(first)
                first = False
                for t in [*self._draining, *self._files.values()]:
                    batch = self._read(t)
                    if not batch:
                        if t.draining and time.monotonic() - t.last_data > ROTATION_GRACE_S:
                            t.f.close()
                            self._draining.remove(t)
                        continue
                    t.last_data = time.monotonic()
                    progressed = True
                    for event, end in batch:
                        if event is not None:
                            try:
                                yield event
                            except GeneratorExit:
                                t.committed = end  # the consumer took it before closing
                                raise
                        t.committed = end
                    self.save_state()
                for j in self.journals:
                    before = j.committed_cursor
                    async for event in j.drain():
                        progressed = True
                        try:
                            yield event
                        except GeneratorExit:
                            j.ack()  # the consumer took it before closing
                            raise
                        j.ack()
                    if j.committed_cursor != before:
                        self.save_state()
                if not progressed:
                    await wake.wait(self.poll_interval)
        finally:
            wake.close()
            with contextlib.suppress(OSError):
                self.save_state()
            for t in [*self._draining, *self._files.values()]:
                t.f.close()
            for j in self.journals:
                await j.aclose()
