"""journald sources: the argv, JSON entries recorded from `journalctl -o json`, cursor acknowledgement."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sipwarden.sensors.logs.journal import JournalSource, format_for_unit, journal_argv

# Entries as `journalctl -o json -u asterisk` writes them (fields trimmed to those used).
RECORDED = [
    {
        "__CURSOR": "s=1;i=10",
        "__REALTIME_TIMESTAMP": "1700000000123456",
        "SYSLOG_IDENTIFIER": "asterisk",
        "MESSAGE": "NOTICE[566]: chan_sip.c:28926 handle_request_register: Registration from '\"28\" <sip:28@127.0.0.100>' failed for '192.0.2.1:7998' - Wrong password",
    },
    {"__CURSOR": "s=1;i=11", "__REALTIME_TIMESTAMP": "1700000001000000", "MESSAGE": "VERBOSE[1]: pbx.c:1 f: noise"},
    {
        "__CURSOR": "s=1;i=12",
        "__REALTIME_TIMESTAMP": "1700000002000000",
        # journald stores a message that is not valid UTF-8 as a byte array
        "MESSAGE": list(b"NOTICE[1]: manager.c:1 f: 192.0.2.2 failed to authenticate as '\xff'"),
    },
]


def test_argv_resumes_after_the_cursor() -> None:
    assert journal_argv("asterisk.service", None) == [
        "journalctl",
        "--follow",
        "--output=json",
        "--unit",
        "asterisk.service",
        "--lines=0",
    ]
    assert journal_argv("asterisk", "s=1;i=10")[-2:] == ["--after-cursor", "s=1;i=10"]


def test_format_from_unit_name() -> None:
    assert format_for_unit("freeswitch.service", "auto") == "freeswitch"
    assert format_for_unit("pbx.service", "auto") is None
    assert format_for_unit("pbx.service", "asterisk") == "asterisk"


def test_recorded_entries_become_events_and_cursor_moves_on_ack() -> None:
    source = JournalSource("asterisk.service")
    source.start(None, "auto", "node-1")
    lines = [json.dumps(e) for e in RECORDED]
    first = source.handle_line(lines[0])
    assert first is not None and first.src_ip == "192.0.2.1" and first.sensor == "node-1"
    assert first.ts == datetime.fromtimestamp(1700000000.123456, UTC)
    assert first.raw == lines[0]
    assert source.committed_cursor is None  # not yet handed on
    source.ack()
    assert source.committed_cursor == "s=1;i=10"
    assert source.handle_line(lines[1]) is None
    assert source.committed_cursor == "s=1;i=11"  # noise is acknowledged at once
    third = source.handle_line(lines[2])
    assert third is not None and third.src_ip == "192.0.2.2" and third.username == "\ufffd"


def _journald_usable() -> bool:
    # A unit can only be started (and logged under its name) when systemd is PID 1.
    return Path("/run/systemd/system").is_dir() and all(shutil.which(t) for t in ("journalctl", "systemd-run"))


@pytest.mark.skipif(not _journald_usable(), reason="journald is not running on this machine")
async def test_live_journal_unit_is_followed() -> None:  # pragma: no cover - needs a running journald
    import asyncio

    unit = f"sipwarden-test-{os.getpid()}"
    source = JournalSource(unit + ".service")
    source.start(None, "asterisk", "")
    events = []
    try:
        async for _ in source.drain():
            pass
        await asyncio.sleep(0.5)
        subprocess.run(
            [
                "systemd-run",
                f"--unit={unit}",
                "--wait",
                "--quiet",
                "echo",
                "NOTICE[1]: manager.c:1 f: 192.0.2.3 failed to authenticate as 'x'",
            ],
            check=True,
            timeout=10,
        )
        for _ in range(50):
            events += [e async for e in source.drain()]
            if events:
                break
            await asyncio.sleep(0.1)
    finally:
        await source.aclose()
    assert events and events[0].src_ip == "192.0.2.3"


async def test_follower_runs_journalctl_and_resumes_by_cursor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """journalctl replaced by a script replaying recorded output (journald is not running here)."""
    import asyncio

    from sipwarden.sensors.logs import LogFollower

    recorded = tmp_path / "recorded.json"
    recorded.write_text("".join(json.dumps(e) + "\n" for e in RECORDED))
    calls = tmp_path / "argv.txt"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "journalctl"
    script.write_text(f'#!/bin/sh\necho "$@" >> {calls}\ncat {recorded}\nexec sleep 30\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    state = tmp_path / "state.json"

    async def take(n: int) -> list[str | None]:
        follower = LogFollower(["journal:asterisk.service"], state_path=state, poll_interval=0.01)
        it = follower.events()
        got = []
        try:
            for _ in range(n):
                got.append((await asyncio.wait_for(anext(it), 10)).src_ip)
        finally:
            await it.aclose()
        return got

    assert await take(2) == ["192.0.2.1", "192.0.2.2"]
    assert json.loads(state.read_text())["journals"]["asterisk.service"]["cursor"] == "s=1;i=12"
    await take(1)
    argv = calls.read_text().splitlines()
    assert argv[0] == "--follow --output=json --unit asterisk.service --lines=0"
    assert argv[1].endswith("--after-cursor s=1;i=12")
