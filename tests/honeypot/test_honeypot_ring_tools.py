"""SIPp hangs up while the honeypot rings: 200 for the CANCEL, 487 for the INVITE, the ACK absorbed.

The honeypot runs in the test's event loop with a real SQLite store; SIPp is a subprocess with a
timeout (helpers shared with test_hp_real_tools.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .test_hp_real_tools import _free_port, _free_port_both, _start, _stop, run_tool

pytestmark = pytest.mark.tools

SCENARIO = Path(__file__).parent / "scenarios" / "uac_cancel.xml"


async def _sipp(port: int, cwd: Path, *transport: str) -> tuple[int, str]:
    if shutil.which("sipp") is None:
        pytest.skip("sipp (sip-tester) is not installed")
    argv = [
        "sipp", "-sf", str(SCENARIO), "-s", "0046701234567", "-au", "100", "-ap", "100",
        "-m", "1", "-i", "127.0.0.1", "-p", str(_free_port_both()), "-mi", "127.0.0.1", "-mp", str(_free_port()),
        "-timeout", "30s", "-nostdin", "-trace_err", *transport, f"127.0.0.1:{port}",
    ]  # fmt: skip
    return await run_tool(argv, cwd=cwd, timeout=60)


@pytest.mark.parametrize("transport", [(), ("-t", "t1")], ids=["udp", "tcp"])
async def test_sipp_cancel_while_ringing_gets_487(tmp_path: Path, transport: tuple[str, ...]) -> None:
    running = await _start(tmp_path, ring_seconds="8-8")
    try:
        rc, out = await _sipp(running.port, tmp_path, *transport)
        assert rc == 0, out
        core = running.honeypot.core
        # The ACK of the 487 ended the INVITE transaction long before timer H (32 s) would have.
        assert not core.calls.calls and not core.calls.completed
    finally:
        await _stop(running)
    (attempt,) = running.events("call_attempt")
    assert (attempt.target, attempt.target_e164, attempt.tool) == ("0046701234567", "+46701234567", "sipp")
    (ended,) = running.events("call_ended")
    assert (ended.detail["reason"], ended.detail["answered"]) == ("cancel", False)
    assert ended.target_e164 == "+46701234567" and ended.username == "100"
    assert 0.9 <= ended.detail["ring_seconds"] < 8
    assert running.events("call_answered") == [] and running.events("recording") == []
