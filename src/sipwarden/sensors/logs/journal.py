"""journald units as log sources: `journalctl -f -o json -u UNIT` run as an argv, resumed by cursor."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, tzinfo
from typing import Final

from sipwarden.events import Event
from sipwarden.sensors.logs.parser import FORMATS, LineParser
from sipwarden.sensors.logs.prefix import TimeContext

log = logging.getLogger(__name__)

#: How a journald unit is named among follower paths: "journal:asterisk.service".
JOURNAL_PREFIX: Final = "journal:"
#: Entries buffered between the journalctl reader and the consumer; journalctl waits when full.
QUEUE_BOUND: Final = 10_000
#: Longest journald JSON line read (asyncio's StreamReader limit); longer entries are skipped.
MAX_ENTRY_BYTES: Final = 256 * 1024

#: Seconds to wait for journalctl to exit after it is killed.
STOP_TIMEOUT_S: Final = 5.0

_CURSOR_RE: Final = re.compile(r'"__CURSOR"\s*:\s*"([^"]+)"')


def journal_argv(unit: str, cursor: str | None) -> list[str]:
    """The journalctl command that follows `unit` from just after `cursor` (or from now)."""
    argv = ["journalctl", "--follow", "--output=json", "--unit", unit]
    argv += ["--after-cursor", cursor] if cursor else ["--lines=0"]
    return argv


def format_for_unit(unit: str, fmt: str) -> str | None:
    """The log format of a unit: `fmt` unless "auto", then guessed from the unit's name."""
    if fmt != "auto":
        return fmt
    return next((f for f in FORMATS if f in unit.lower()), None)


class JournalSource:
    """One journald unit: entries parsed as they arrive; the cursor moves when events are taken."""

    def __init__(self, unit: str) -> None:
        self.unit = unit
        self.committed_cursor: str | None = None
        self._pending: str | None = None
        self._parser = LineParser(None)
        self._queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_BOUND)
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._cursor: str | None = None

    def start(self, cursor: str | None, fmt: str, sensor: str, tz: tzinfo = UTC) -> None:
        """Remember where to resume and how to parse; the process starts on the first drain."""
        self._cursor = self.committed_cursor = cursor
        self._parser = LineParser(format_for_unit(self.unit, fmt), sensor=sensor, time=TimeContext(tz=tz))

    def handle_line(self, line: str) -> Event | None:
        """Parse one `journalctl -o json` line; remember its cursor until the event is taken."""
        m = _CURSOR_RE.search(line)
        if m:
            self._pending = m.group(1)
        try:
            result = self._parser.parse_line(line)
        except Exception:  # a parser bug must not stop the follower
            log.exception("parser failed on a journal entry of %s", self.unit)
            return None
        if result is None or result.event is None:
            self.ack()
            return None
        return result.event

    def ack(self) -> None:
        """The last event was handed on: its cursor becomes the resume point."""
        if self._pending:
            self.committed_cursor = self._pending

    async def _run(self) -> None:
        argv = journal_argv(self.unit, self._cursor)
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, limit=MAX_ENTRY_BYTES
            )
        except OSError as exc:
            log.error("cannot run %s: %s", argv[0], exc)
            return
        assert self._proc.stdout is not None
        while True:
            try:
                data = await self._proc.stdout.readline()
            except ValueError:  # an entry over MAX_ENTRY_BYTES
                log.warning("skipping an oversized journal entry of %s", self.unit)
                continue
            if not data:
                log.warning("journalctl for %s exited", self.unit)
                return
            await self._queue.put(data.decode("utf-8", "backslashreplace"))

    async def drain(self) -> AsyncIterator[Event]:
        """Events from the entries that arrived since the last call (never waits for new ones)."""
        if self._reader is None:
            self._reader = asyncio.create_task(self._run())
        while not self._queue.empty():
            event = self.handle_line(self._queue.get_nowait())
            if event is not None:
                yield event

    async def aclose(self) -> None:
        """Stop journalctl and reap it (bounded by STOP_TIMEOUT_S)."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._reader, STOP_TIMEOUT_S)
            self._reader = None
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
