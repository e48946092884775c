"""A real Kamailio under real attack tools: sipwarden follows its log and sees every failure live.

Kamailio runs on loopback with pike and the xlog lines of docs/logs.md; SIPVicious svcrack guesses
passwords, sipsak registers with the right one, then floods until pike blocks it.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.servekit import stop

from sipwarden.events import Event
from sipwarden.sensors.logs import LogFollower

pytestmark = pytest.mark.tools

CFG = Path(__file__).parent / "data" / "kamailio-sipwarden.cfg"
SVCRACK = Path(sys.executable).parent / "sipvicious_svcrack"
#: Bound on every wait: a tool or a follower that stalls fails the test instead of hanging it.
WAIT = 20.0


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def kamailio(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    if shutil.which("kamailio") is None and not Path("/usr/sbin/kamailio").exists():
        pytest.skip("kamailio is not installed (make test installs it)")
    port = _free_udp_port()
    log = tmp_path / "kamailio.log"
    binary = shutil.which("kamailio") or "/usr/sbin/kamailio"
    argv = [binary, "-f", str(CFG), "-l", f"udp:127.0.0.1:{port}", "-n", "1", "-DD", "-E"]
    argv += ["-w", str(tmp_path), "-P", str(tmp_path / "kamailio.pid"), "-m", "32", "-M", "8"]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            if "child_init" in log.read_text(errors="replace") or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert proc.poll() is None, log.read_text(errors="replace")
        yield port, log
    finally:
        stop(proc, 10, 10)


async def _run(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        await asyncio.wait_for(proc.wait(), WAIT)
    except TimeoutError:
        proc.kill()
        await proc.wait()


async def test_follower_sees_attacks_on_a_live_kamailio(kamailio: tuple[int, Path], tmp_path: Path) -> None:
    if shutil.which("sipsak") is None or not SVCRACK.exists():
        pytest.skip("sipsak or SIPVicious missing (make test installs them)")
    port, log = kamailio
    words = tmp_path / "words"
    words.write_text("123456\npassword\n1234\n")
    follower = LogFollower([str(log)], state_path=tmp_path / "state.json", poll_interval=0.02)
    events: list[Event] = []

    async def consume() -> None:
        async for event in follower.events():
            events.append(event)

    task = asyncio.create_task(consume())
    try:
        await asyncio.sleep(0.3)
        await _run(str(SVCRACK), "-u", "100", "-d", str(words), "-p", str(port), "127.0.0.1")
        await _run("sipsak", "-U", "-C", "empty", "-s", f"sip:100@127.0.0.1:{port}", "-a", "secret")
        await _run("sipsak", "-F", "-e", "300", "-s", f"sip:100@127.0.0.1:{port}")
        for _ in range(int(WAIT / 0.1)):
            kinds = {e.kind for e in events}
            if {"auth_failure", "auth_success", "blocked"} <= kinds:
                break
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    failures = [e for e in events if e.kind == "auth_failure"]
    assert len(failures) >= 3, log.read_text(errors="replace")[-2000:]
    assert all(e.src_ip == "127.0.0.1" and e.username == "100" for e in failures)
    assert any(e.user_agent == "friendly-scanner" for e in failures)  # svcrack's User-Agent
    assert all(e.source == "kamailio" and e.transport == "udp" for e in failures)
    success = [e for e in events if e.kind == "auth_success"]
    assert success and success[0].user_agent and success[0].user_agent.startswith("sipsak")
    blocked = [e for e in events if e.kind == "blocked"]
    assert {e.detail["pattern"] for e in blocked} == {"kam.pike.blocking", "kam.pike.cfg_alert"}
    assert all(e.src_ip == "127.0.0.1" for e in blocked)
    assert all(e.raw and e.raw in log.read_text(errors="replace") for e in events[:5])
