"""LogFollower against real files: appends, partial lines, rotation, copytruncate, globs, restarts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path

import pytest

from sipwarden.events import Event
from sipwarden.sensors.logs import LogFollower

# Every wait is bounded: a follower that stalls fails the test instead of hanging it.
WAIT = 5.0


def fail_line(n: int, ip: str = "192.0.2.1") -> str:
    return (
        f"[2024-01-01 00:00:{n % 60:02d}] NOTICE[1] chan_sip.c: Registration from '<sip:{n}@x>' "
        f"failed for '{ip}:5060' - Wrong password\n"
    )


NOISE = "[2024-01-01 00:00:00] VERBOSE[1] pbx.c:     -- Executing [s@default:1] Answer\n"


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(text)
        f.flush()


class Consumer:
    """Takes events from a follower in a task (as `sipwarden run` does) and stops after `limit`."""

    def __init__(self, follower: LogFollower, limit: int = 1_000_000) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.limit = limit
        self.task = asyncio.create_task(self._run(follower))

    async def _run(self, follower: LogFollower) -> None:
        n = 0
        it = follower.events()
        try:
            async for event in it:
                self.queue.put_nowait(event)
                n += 1
                if n >= self.limit:
                    break
        finally:
            await it.aclose()

    async def take(self, n: int) -> list[Event]:
        return [await asyncio.wait_for(self.queue.get(), WAIT) for _ in range(n)]

    async def nothing_more(self, wait: float = 0.3) -> bool:
        await asyncio.sleep(wait)
        return self.queue.empty()

    async def stop(self) -> None:
        if not self.task.done():
            self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, WAIT)


def usernames(events: list[Event]) -> list[str | None]:
    return [e.username for e in events]


async def test_follows_appends_and_buffers_partial_lines(tmp_path: Path) -> None:
    log = tmp_path / "full"
    log.write_text(fail_line(0) + NOISE)  # present at start: read from the end
    follower = LogFollower([str(log)], state_path=tmp_path / "state.json", fmt="asterisk", poll_interval=0.01)
    c = Consumer(follower)
    assert await c.nothing_more(0.2)
    line = fail_line(1)
    append(log, line[:40])
    assert await c.nothing_more(0.2), "a partial line must wait for its newline"
    append(log, line[40:] + NOISE + fail_line(2))
    got = await c.take(2)
    assert usernames(got) == ["1", "2"]
    assert got[0].raw == line.rstrip("\n")
    await c.stop()


async def test_rename_and_create_rotation(tmp_path: Path) -> None:
    log = tmp_path / "full"
    log.write_text("")
    follower = LogFollower([str(log)], state_path=tmp_path / "s.json", fmt="asterisk", poll_interval=0.01)
    c = Consumer(follower)
    assert await c.nothing_more(0.1)
    append(log, fail_line(1))
    assert usernames(await c.take(1)) == ["1"]
    append(log, fail_line(2))
    log.rename(tmp_path / "full.1")  # logrotate: rename, then the PBX reopens a new file
    append(tmp_path / "full.1", fail_line(3))  # written to the old inode before the reopen
    log.write_text(fail_line(4))
    assert usernames(await c.take(3)) == ["2", "3", "4"]
    assert await c.nothing_more()
    await c.stop()


async def test_copytruncate_rotation(tmp_path: Path) -> None:
    log = tmp_path / "full"
    log.write_text("")
    follower = LogFollower([str(log)], state_path=tmp_path / "s.json", fmt="asterisk", poll_interval=0.01)
    c = Consumer(follower)
    assert await c.nothing_more(0.1)
    append(log, fail_line(1) + NOISE * 5)
    assert usernames(await c.take(1)) == ["1"]
    with log.open("r+") as f:  # logrotate copytruncate
        f.truncate(0)
    append(log, fail_line(2))
    assert usernames(await c.take(1)) == ["2"]
    await c.stop()


async def test_glob_picks_up_new_files(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text("")
    follower = LogFollower(
        [str(tmp_path / "*.log")], state_path=tmp_path / "s.json", fmt="asterisk", poll_interval=0.01
    )
    c = Consumer(follower)
    assert await c.nothing_more(0.1)
    (tmp_path / "b.log").write_text(fail_line(7, "198.51.100.7"))  # appears later: read whole
    got = await c.take(1)
    assert got[0].src_ip == "198.51.100.7"
    await c.stop()


async def test_restart_resumes_without_loss_or_repeat(tmp_path: Path) -> None:
    log = tmp_path / "full"
    state = tmp_path / "state.json"
    log.write_text("")
    first = LogFollower([str(log)], state_path=state, fmt="asterisk", poll_interval=0.01)
    c = Consumer(first, limit=2)
    assert await c.nothing_more(0.1)
    append(log, "".join(fail_line(i) for i in range(1, 6)))
    assert usernames(await c.take(2)) == ["1", "2"]
    await asyncio.wait_for(c.task, WAIT)  # the consumer stops after taking two events
    saved = json.loads(state.read_text())
    assert saved["files"][str(log)]["inode"] == os.stat(log).st_ino
    append(log, fail_line(6))  # written while sipwarden is down
    second = LogFollower([str(log)], state_path=state, fmt="asterisk", poll_interval=0.01)
    c2 = Consumer(second)
    assert usernames(await c2.take(4)) == ["3", "4", "5", "6"]
    assert await c2.nothing_more()
    await c2.stop()


async def test_restart_after_rotation_while_down(tmp_path: Path) -> None:
    log = tmp_path / "full"
    state = tmp_path / "state.json"
    log.write_text("")
    first = LogFollower([str(log)], state_path=state, fmt="asterisk", poll_interval=0.01)
    c = Consumer(first, limit=2)
    assert await c.nothing_more(0.1)
    append(log, fail_line(1))
    assert usernames(await c.take(1)) == ["1"]
    await c.stop()
    append(log, fail_line(2))
    log.rename(tmp_path / "full.1")
    log.write_text(fail_line(3))
    second = LogFollower([str(log)], state_path=state, fmt="asterisk", poll_interval=0.01)
    c2 = Consumer(second)
    assert sorted(usernames(await c2.take(2))) == ["2", "3"]
    assert await c2.nothing_more()
    await c2.stop()


async def test_corrupt_state_is_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    log = tmp_path / "full"
    log.write_text("")
    state = tmp_path / "state.json"
    state.write_text("{not json")
    follower = LogFollower([str(log)], state_path=state, fmt="asterisk", poll_interval=0.01)
    c = Consumer(follower)
    assert await c.nothing_more(0.1)
    append(log, fail_line(1))
    assert usernames(await c.take(1)) == ["1"]
    await c.stop()
    assert "unreadable follower state" in caplog.text
    assert json.loads(state.read_text())["version"] == 1


async def test_hostile_bytes_and_overlong_lines_do_not_stop_the_tail(tmp_path: Path) -> None:
    log = tmp_path / "full"
    log.write_text("")
    follower = LogFollower([str(log)], state_path=tmp_path / "s.json", fmt="asterisk", poll_interval=0.01)
    c = Consumer(follower)
    assert await c.nothing_more(0.1)
    with log.open("ab") as f:
        f.write(b"\xff\xfe garbage \x00 failed for '\n" + b"x" * 200_000 + b"\n")
    append(log, fail_line(9))
    assert usernames(await c.take(1)) == ["9"]
    await c.stop()


async def test_glob_matching_the_rotated_name_reads_nothing_twice(tmp_path: Path) -> None:
    log = tmp_path / "full"
    log.write_text("")
    follower = LogFollower(
        [str(tmp_path / "full*")], state_path=tmp_path / "s.json", fmt="asterisk", poll_interval=0.01
    )
    c = Consumer(follower)
    assert await c.nothing_more(0.1)
    append(log, fail_line(1))
    assert usernames(await c.take(1)) == ["1"]
    log.rename(tmp_path / "full.1")  # still matched by the glob under its new name
    append(tmp_path / "full.1", fail_line(2))
    log.write_text(fail_line(3))
    got = usernames(await c.take(2))
    assert sorted(got) == ["2", "3"]
    assert await c.nothing_more(0.5)
    await c.stop()


async def test_restart_with_glob_after_rotation_while_down(tmp_path: Path) -> None:
    log = tmp_path / "full"
    state = tmp_path / "state.json"
    log.write_text("")
    pattern = str(tmp_path / "full*")
    first = LogFollower([pattern], state_path=state, fmt="asterisk", poll_interval=0.01)
    c = Consumer(first, limit=1)
    assert await c.nothing_more(0.1)
    append(log, fail_line(1))
    assert usernames(await c.take(1)) == ["1"]
    await asyncio.wait_for(c.task, WAIT)
    append(log, fail_line(2))
    log.rename(tmp_path / "full.1")
    log.write_text(fail_line(3))
    second = LogFollower([pattern], state_path=state, fmt="asterisk", poll_interval=0.01)
    c2 = Consumer(second)
    assert sorted(usernames(await c2.take(2))) == ["2", "3"]
    assert await c2.nothing_more(0.5)
    await c2.stop()


async def test_stop_while_finishing_a_rotated_file_resumes_it(tmp_path: Path) -> None:
    log = tmp_path / "full"
    state = tmp_path / "state.json"
    log.write_text("")
    first = LogFollower([str(log)], state_path=state, fmt="asterisk", poll_interval=0.01)
    c = Consumer(first, limit=2)
    assert await c.nothing_more(0.1)
    append(log, fail_line(1))
    assert usernames(await c.take(1)) == ["1"]
    append(log, fail_line(2) + fail_line(3))
    log.rename(tmp_path / "full.1")
    log.write_text(fail_line(4))
    assert usernames(await c.take(1)) == ["2"]  # the consumer stops inside the rotated file
    await asyncio.wait_for(c.task, WAIT)
    second = LogFollower([str(log)], state_path=state, fmt="asterisk", poll_interval=0.01)
    c2 = Consumer(second)
    assert sorted(usernames(await c2.take(2))) == ["3", "4"]
    assert await c2.nothing_more(0.5)
    await c2.stop()
