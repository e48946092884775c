"""Wake the log follower when a watched directory changes (Linux inotify through libc, no dependency).

The follower still polls (a missed or unavailable notification costs one poll interval, never a
line); inotify only cuts the wait from a line written to its event from ~poll/2 to ~1 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
from collections.abc import Iterable
from typing import Final

log = logging.getLogger(__name__)

# <sys/inotify.h>: a file written, closed after writing, created, moved in or out, deleted.
IN_MODIFY: Final = 0x002
IN_CLOSE_WRITE: Final = 0x008
IN_MOVED_FROM: Final = 0x040
IN_MOVED_TO: Final = 0x080
IN_CREATE: Final = 0x100
IN_DELETE: Final = 0x200
WATCH_MASK: Final = IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
#: Bytes drained from the inotify descriptor per wake-up (the events themselves are not needed).
READ_BYTES: Final = 64 * 1024


class DirectoryWake:
    """An asyncio wake-up for changes in some directories; `wait(timeout)` returns on change or timeout."""

    def __init__(self, directories: Iterable[str]) -> None:
        self._event = asyncio.Event()
        self._fd = -1
        self._loop: asyncio.AbstractEventLoop | None = None
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, AttributeError) as exc:
            log.debug("inotify unavailable (%s); polling only", exc)
            return
        if fd < 0:
            log.debug("inotify_init1 failed (errno %d); polling only", ctypes.get_errno())
            return
        watched = 0
        for directory in sorted(set(directories)):
            if libc.inotify_add_watch(fd, os.fsencode(directory), WATCH_MASK) >= 0:
                watched += 1
        if not watched:
            os.close(fd)
            return
        self._fd = fd
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._readable)

    @property
    def active(self) -> bool:
        """True when notifications arrive (else `wait` is a plain sleep)."""
        return self._fd >= 0

    def _readable(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while os.read(self._fd, READ_BYTES):
                pass
        self._event.set()

    async def wait(self, timeout: float) -> None:
        """Return when a watched directory changed, or after `timeout` seconds."""
        # A timer instead of asyncio.wait_for: wait_for can swallow a cancellation that races
        # with the wake-up (Python 3.11), and the follower must stop when its consumer stops.
        handle = asyncio.get_running_loop().call_later(timeout, self._event.set)
        try:
            await self._event.wait()
        finally:
            handle.cancel()
            self._event.clear()

    def close(self) -> None:
        """Stop watching."""
        if self._fd >= 0:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
