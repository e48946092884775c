"""DirectoryWake: a change in a watched directory ends the wait (the follower's fast path)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from sipwarden.sensors.logs.inotify import DirectoryWake


async def test_write_in_watched_directory_wakes_the_waiter(tmp_path: Path) -> None:
    wake = DirectoryWake([str(tmp_path)])
    try:
        assert wake.active
        waiter = asyncio.create_task(wake.wait(3600))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        (tmp_path / "full").write_text("line\n")
        await asyncio.wait_for(waiter, 10)  # without the notification it would wait an hour
    finally:
        wake.close()
    assert not wake.active


async def test_unwatchable_directories_fall_back_to_sleeping(tmp_path: Path) -> None:
    wake = DirectoryWake([str(tmp_path / "absent")])
    assert not wake.active
    await wake.wait(0.01)
    wake.close()


async def test_cancelled_wait_propagates(tmp_path: Path) -> None:
    wake = DirectoryWake([str(tmp_path)])
    waiter = asyncio.create_task(wake.wait(3600))
    await asyncio.sleep(0.01)
    waiter.cancel()
    (tmp_path / "x").write_text("race the cancellation\n")
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(waiter, 10)
    assert waiter.cancelled()
    wake.close()
