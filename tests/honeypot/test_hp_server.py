"""The asyncio honeypot on loopback sockets: UDP, TCP, TLS, a whole call with RTP, and the sinks."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import subprocess
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sipwarden.events import Event
from sipwarden.sensors.honeypot.server import Honeypot, parse_listen
from sipwarden.sensors.honeypot.settings import HoneypotSettings
from sipwarden.sensors.honeypot.sinks import FanoutSink, ListSink, NdjsonSink, WebhookSink
from sipwarden.sip.g711 import alaw_encode, tone
from sipwarden.sip.message import Response, parse_message
from sipwarden.sip.rtp import RtpPacket, parse_rtp, serialize_rtp
from sipwarden.sip.sdp import parse_sdp

from .helpers import answer_challenge, sip_request

TIMEOUT = 5.0


def free_rtp_range(width: int = 20) -> str:
    """A UDP port range that is free right now (the honeypot binds RTP ports from it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    port = min(port, 65535 - width)
    return f"{port}-{port + width}"


@pytest.fixture
async def honeypot(tmp_path: Path) -> AsyncIterator[tuple[Honeypot, ListSink]]:
    sink = ListSink()
    settings = HoneypotSettings(
        rtp_ports=free_rtp_range(), aggregate_seconds=0, call_timeout_seconds=10, ring_seconds="1-1"
    )
    hp = Honeypot(settings, sink, sensor="t", data_dir=tmp_path, listen=["udp:127.0.0.1:0", "tcp:127.0.0.1:0"])
    async with hp:
        yield hp, sink


def _port(hp: Honeypot, transport: str) -> int:
    return next(item.port for item in hp.listening if item.transport == transport)


class _Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.queue.put_nowait(data)


async def _udp_client(port: int) -> tuple[asyncio.DatagramTransport, _Client]:
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(_Client, remote_addr=("127.0.0.1", port))
    return transport, client


async def _response(client: _Client) -> Response:
    message = parse_message(await asyncio.wait_for(client.queue.get(), TIMEOUT))
    assert isinstance(message, Response)
    return message


async def test_udp_options_and_a_nul_byte(honeypot: tuple[Honeypot, ListSink]) -> None:
    hp, sink = honeypot
    transport, client = await _udp_client(_port(hp, "udp"))
    transport.sendto(b"\x00")
    transport.sendto(sip_request("OPTIONS", user_agent="friendly-scanner"))
    resp = await _response(client)
    assert resp.status == 200 and resp.headers.get("Server") == "FPBX-16.0.33(18.13.0)"
    transport.close()
    kinds = [e.kind for e in sink.events]
    assert kinds == ["malformed", "probe"]
    assert sink.events[0].raw == "\\x00" and sink.events[0].transport == "udp"
    assert sink.events[1].tool == "sipvicious" and sink.events[1].src_ip == "127.0.0.1"


async def test_tcp_frames_messages_and_hangs_up_on_garbage(honeypot: tuple[Honeypot, ListSink]) -> None:
    hp, sink = honeypot
    reader, writer = await asyncio.open_connection("127.0.0.1", _port(hp, "tcp"))
    # Two requests in one segment, the second split across two writes.
    second = sip_request("OPTIONS", call_id="two")
    writer.write(sip_request("REGISTER", "sip:127.0.0.1", call_id="one") + second[:30])
    await writer.drain()
    writer.write(second[30:])
    data = b""
    while data.count(b"SIP/2.0 ") < 2:
        data += await asyncio.wait_for(reader.read(65536), TIMEOUT)
    assert data.startswith(b"SIP/2.0 401 Unauthorized\r\n") and b"SIP/2.0 200 OK\r\n" in data
    writer.write(b"NOT SIP AT ALL\r\nContent-Length: nope\r\n\r\n")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(65536), TIMEOUT) == b""  # the honeypot hung up
    writer.close()
    assert [e.kind for e in sink.events] == ["register", "probe", "malformed"]
    assert all(e.transport == "tcp" for e in sink.events)


async def test_a_whole_call_over_udp_with_rtp_recording(honeypot: tuple[Honeypot, ListSink]) -> None:
    hp, sink = honeypot
    transport, client = await _udp_client(_port(hp, "udp"))
    rtp_transport, rtp = await asyncio.get_running_loop().create_datagram_endpoint(_Client, local_addr=("127.0.0.1", 0))
    rtp_port = rtp_transport.get_extra_info("sockname")[1]
    offer = (
        f"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {rtp_port} RTP/AVP 8 101\r\n"
        "a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    ).encode()
    uri = "sip:0046701234567@127.0.0.1"
    transport.sendto(sip_request("INVITE", uri, call_id="call-x", body=offer))
    challenge = await _response(client)
    assert challenge.status == 401
    auth = answer_challenge(challenge, username="150", password="150", method="INVITE", uri=uri)
    transport.sendto(sip_request("INVITE", uri, call_id="call-x", cseq=2, headers=[auth], body=offer))
    statuses = [(await _response(client)).status for _ in range(2)]
    ok = await _response(client)
    assert [*statuses, ok.status] == [100, 180, 200]
    answer = parse_sdp(ok.body)
    local_rtp = answer.remote_rtp_address()
    assert local_rtp is not None and local_rtp[0] == "127.0.0.1"
    # One second of caller audio, 20 ms packets, paced quickly (the recorder keeps arrival order).
    payload = alaw_encode(tone((600.0,), 1000, amplitude=0.5))
    for i in range(50):
        rtp_transport.sendto(serialize_rtp(RtpPacket(8, i, i * 160, 99, payload[i * 160 : (i + 1) * 160])), local_rtp)
        await asyncio.sleep(0.002)
    prompt = parse_rtp(await asyncio.wait_for(rtp.queue.get(), TIMEOUT))  # the honeypot plays to us
    assert prompt.payload_type == 8 and len(prompt.payload) == 160
    await asyncio.sleep(0.2)
    to_tag = (ok.headers.get("To") or "").split("tag=")[1]
    transport.sendto(sip_request("BYE", uri, call_id="call-x", cseq=3, to_tag=to_tag))
    assert (await _response(client)).status == 200
    for _ in range(50):
        if any(e.kind == "recording" for e in sink.events):
            break
        await asyncio.sleep(0.05)
    transport.close()
    rtp_transport.close()
    by_kind = {e.kind: e for e in sink.events}
    assert by_kind["call_attempt"].target_e164 == "+46701234567" and by_kind["call_attempt"].target_country == "SE"
    assert by_kind["call_answered"].username == "150"
    assert by_kind["call_ended"].detail["reason"] == "bye"
    recording = by_kind["recording"]
    assert recording.detail["codec"] == "PCMA" and recording.detail["seconds"] == 1.0
    with wave.open(recording.detail["path"], "rb") as wav:
        assert wav.getframerate() == 8000 and wav.getnframes() == 8000


async def test_tls_listener(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=pbx.test", "-days", "2",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    sink = ListSink()
    settings = HoneypotSettings(rtp_ports=free_rtp_range(), tls_cert=str(cert), tls_key=str(key))
    async with Honeypot(settings, sink, data_dir=tmp_path, listen=["tls:127.0.0.1:0"]) as hp:
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        reader, writer = await asyncio.open_connection("127.0.0.1", _port(hp, "tls"), ssl=context)
        writer.write(sip_request("OPTIONS"))
        data = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        assert data.startswith(b"SIP/2.0 200 OK")
        writer.close()
    assert [e.transport for e in sink.events] == ["tls"]


@pytest.mark.parametrize(
    ("spec", "ok"),
    [("udp:127.0.0.1:5060", True), ("tls:[::1]:5061", True), ("sctp:1.2.3.4:5", False), ("udp:host:5060", False),
     ("udp:127.0.0.1:99999", False), ("udp127.0.0.1", False)],
)  # fmt: skip
def test_listen_specs(spec: str, ok: bool) -> None:
    if ok:
        assert str(parse_listen(spec)) == spec
    else:
        with pytest.raises(ValueError, match="listen"):
            parse_listen(spec)


def _event() -> Event:
    from sipwarden.events import utcnow

    return Event(ts=utcnow(), kind="probe", source="honeypot", src_ip="127.0.0.1", user_agent="x\x1b[31m")


def test_ndjson_sink_and_a_broken_sink(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def put(self, event: Event) -> None:
            raise RuntimeError("disk on fire")

    path = tmp_path / "events.ndjson"
    ndjson = NdjsonSink(path)
    memory = ListSink()
    fanout = FanoutSink([Broken(), ndjson, memory])
    fanout.put(_event())
    fanout.put(_event())
    asyncio.run(fanout.aclose())
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and len(memory.events) == 2
    assert Event.from_dict(json.loads(lines[0])).user_agent == "x\x1b[31m"
    assert "disk on fire" in caplog.text


async def test_webhook_sink_posts_each_event_without_blocking() -> None:
    received: list[dict[str, Any]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(
                next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
            )
            received.append(json.loads(await reader.readexactly(length)))
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            await writer.drain()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sink = WebhookSink(f"http://127.0.0.1:{port}/hook", queue_size=3)
    for _ in range(10):
        sink.put(_event())  # returns at once; beyond the queue bound events are dropped and counted
    assert sink.dropped == 7
    await sink.aclose()
    server.close()
    assert len(received) == 3 and sink.sent == 3
    assert received[0]["kind"] == "probe"


async def test_ipv6_loopback(tmp_path: Path) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    sink = ListSink()
    settings = HoneypotSettings(rtp_ports=free_rtp_range())
    try:
        hp = Honeypot(settings, sink, data_dir=tmp_path, listen=["udp:[::1]:0"])
        await hp.start()
    except OSError as exc:
        pytest.skip(f"::1 not usable: {exc}")
    try:
        port = _port(hp, "udp")
        loop = asyncio.get_running_loop()
        transport, client = await loop.create_datagram_endpoint(_Client, remote_addr=("::1", port))
        transport.sendto(sip_request("OPTIONS", rport=True))
        resp = await _response(client)
        transport.close()
    finally:
        await hp.stop()
    assert resp.status == 200
    assert "received=::1" in resp.headers.get_all("Via")[0]
    assert [(e.src_ip, e.dst_ip) for e in sink.events] == [("::1", "::1")]


async def test_a_bug_in_handling_becomes_a_malformed_event_not_a_dead_listener(
    honeypot: tuple[Honeypot, ListSink], monkeypatch: pytest.MonkeyPatch
) -> None:
    hp, sink = honeypot
    real = hp.fast.receive  # every datagram goes through the OPTIONS fast path first

    def broken(data: bytes, peer: Any, now: float) -> Any:
        if b"boom" in data:
            raise RuntimeError("injected failure")
        return real(data, peer, now)

    monkeypatch.setattr(hp.fast, "receive", broken)
    transport, client = await _udp_client(_port(hp, "udp"))
    transport.sendto(sip_request("OPTIONS", call_id="boom"))
    transport.sendto(sip_request("OPTIONS", call_id="fine"))
    assert (await _response(client)).headers.get("Call-ID") == "fine"
    transport.close()
    assert [e.kind for e in sink.events] == ["malformed", "probe"]
    assert "injected failure" in sink.events[0].detail["error"] and "boom" in (sink.events[0].raw or "")


async def test_an_rtp_port_held_by_another_program_is_skipped(tmp_path: Path) -> None:
    first, _ = (int(p) for p in free_rtp_range(6).split("-"))
    first += first % 2
    squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    squatter.bind(("127.0.0.1", first))
    sink = ListSink()
    settings = HoneypotSettings(rtp_ports=f"{first}-{first + 5}", aggregate_seconds=0, ring_seconds="1-1")
    try:
        async with Honeypot(settings, sink, data_dir=tmp_path, listen=["udp:127.0.0.1:0"]) as hp:
            transport, client = await _udp_client(_port(hp, "udp"))
            offer = (
                b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
            )
            uri = "sip:123@127.0.0.1"
            transport.sendto(sip_request("INVITE", uri, call_id="c-squat", body=offer))
            auth = answer_challenge(await _response(client), username="100", password="100", method="INVITE", uri=uri)
            transport.sendto(sip_request("INVITE", uri, call_id="c-squat", cseq=2, headers=[auth], body=offer))
            responses = [await _response(client) for _ in range(3)]
            transport.close()
    finally:
        squatter.close()
    ok = responses[-1]
    assert ok.status == 200
    port = parse_sdp(ok.body).remote_rtp_address()
    assert port is not None and port[1] == first + 2
