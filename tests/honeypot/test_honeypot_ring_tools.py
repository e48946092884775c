"""Hanging up while the honeypot rings, on loopback: SIPp gets 200 for its CANCEL, 487 for its
INVITE, and its ACK ends the transaction; with early media the ringback reaches the caller first.

The honeypot runs in the test's event loop with a real SQLite store; SIPp is a subprocess with a
timeout (helpers shared with test_hp_real_tools.py).
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from sipwarden.sensors.honeypot.server import Honeypot
from sipwarden.sensors.honeypot.settings import HoneypotSettings
from sipwarden.sensors.honeypot.sinks import ListSink
from sipwarden.sip.rtp import parse_rtp

from .helpers import answer_challenge, sip_request
from .test_hp_real_tools import _free_port, _free_port_both, _start, _stop, run_tool
from .test_hp_server import TIMEOUT, _Client, _response, _udp_client, free_rtp_range

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


@pytest.mark.tools
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


async def test_early_media_plays_ringback_before_the_answer_and_a_cancel_stops_it(tmp_path: Path) -> None:
    # The freeswitch persona rings with 183 and SDP: its ringback reaches the caller's RTP port
    # while the call is not answered; a CANCEL then gets 200 and 487, and the media is stopped.
    sink = ListSink()
    settings = HoneypotSettings(
        persona="freeswitch", ring_seconds="20-20", rtp_ports=free_rtp_range(), aggregate_seconds=0
    )
    loop = asyncio.get_running_loop()
    async with Honeypot(settings, sink, data_dir=tmp_path, listen=["udp:127.0.0.1:0"]) as hp:
        transport, client = await _udp_client(next(i.port for i in hp.listening))
        rtp_transport, rtp = await loop.create_datagram_endpoint(_Client, local_addr=("127.0.0.1", 0))
        offer = (
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {rtp_transport.get_extra_info('sockname')[1]} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        ).encode()
        uri = "sip:0046701234567@127.0.0.1"
        try:
            transport.sendto(sip_request("INVITE", uri, call_id="early", body=offer))
            auth = answer_challenge(await _response(client), username="100", password="100", method="INVITE", uri=uri)
            transport.sendto(sip_request("INVITE", uri, call_id="early", cseq=2, headers=[auth], body=offer))
            trying, progress = await _response(client), await _response(client)
            assert (trying.status, progress.status) == (100, 183) and b"m=audio" in progress.body
            ringback = parse_rtp(await asyncio.wait_for(rtp.queue.get(), TIMEOUT))
            assert ringback.payload_type == 0 and len(ringback.payload) == 160
            transport.sendto(sip_request("CANCEL", uri, call_id="early", cseq=2))
            assert [(await _response(client)).status for _ in range(2)] == [200, 487]
            assert hp.media.calls == {}  # the RTP socket is closed, the ringback stopped
        finally:
            transport.close()
            rtp_transport.close()
    assert "call_answered" not in [e.kind for e in sink.events]
    (ended,) = [e for e in sink.events if e.kind == "call_ended"]
    assert (ended.detail["reason"], ended.detail["answered"]) == ("cancel", False)
