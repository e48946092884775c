"""`[honeypot] workers = 2`: two processes answer on one UDP port; cracks, nonces and counts hold across them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sipwarden.sensors.honeypot.server import Honeypot
from sipwarden.sensors.honeypot.settings import HoneypotSettings
from sipwarden.sensors.honeypot.sinks import ListSink
from sipwarden.sensors.honeypot.workers import bind_udp, reuse_port_group, worker_count
from sipwarden.sip.message import Response, parse_message
from sipwarden.store import Store

from .helpers import answer_challenge, sip_request

#: Distinct loopback source addresses: Linux routes all of 127/8 to lo, and each one is its own
#: aggregation key, so every first request from one becomes an event we can attribute to a worker.
SOURCES = [f"127.0.0.{n}" for n in range(2, 40)]
WAIT = 5.0


def _settings(**extra: Any) -> HoneypotSettings:
    values: dict[str, Any] = {"workers": 2, "listen": ["udp:127.0.0.1:0"], "rate_per_source": 1e9, "rate_burst": 10**9}
    if "ring_seconds" in HoneypotSettings.model_fields:
        values["ring_seconds"] = "0-0"  # answer at once: this test is about processes, not ringing
    return HoneypotSettings(**(values | extra))


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[tuple[Honeypot, ListSink]]:
    sink = ListSink()
    honeypot = Honeypot(_settings(), sink, data_dir=tmp_path, sensor="test")
    await honeypot.start()
    try:
        yield honeypot, sink
    finally:
        await honeypot.stop()


class Client:
    """One UDP source address on loopback."""

    def __init__(self, ip: str, server_port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, 0))
        self.sock.setblocking(False)
        self.ip = ip
        self.port = int(self.sock.getsockname()[1])
        self.server = ("127.0.0.1", server_port)

    async def ask(self, data: bytes, until: int = 0) -> list[Response]:
        """Send `data`; the responses up to the first final one (or status `until`)."""
        loop = asyncio.get_running_loop()
        await loop.sock_sendto(self.sock, data, self.server)
        got: list[Response] = []
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            raw = await asyncio.wait_for(loop.sock_recv(self.sock, 65535), deadline - time.monotonic())
            message = parse_message(raw)
            assert isinstance(message, Response)
            got.append(message)
            if message.status == until or (until == 0 and message.status >= 200):
                return got
        raise AssertionError(f"no final answer from {self.ip}")

    def request(self, method: str, **kw: Any) -> bytes:
        kw.setdefault("call_id", f"{method}-{self.ip}-{time.monotonic_ns()}@x")
        data = sip_request(method, **kw)
        return data.replace(b"10.0.0.5:5062", f"{self.ip}:{self.port}".encode())

    def close(self) -> None:
        self.sock.close()


async def _worker_of(honeypot: Honeypot, client: Client) -> int:
    """Which worker serves `client`: the one whose event count grows after its first OPTIONS."""
    assert honeypot._pool is not None
    before = list(honeypot._pool.delivered)
    await client.ask(client.request("OPTIONS"))
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        grown = [i for i, (a, b) in enumerate(zip(before, honeypot._pool.delivered, strict=True)) if b > a]
        if grown:
            return grown[0]
        await asyncio.sleep(0.02)
    raise AssertionError("no event from any worker")


def test_worker_count() -> None:
    assert worker_count(3) == 3
    assert worker_count("auto") == len(os.sched_getaffinity(0))
    with pytest.raises(ValueError, match="workers"):
        HoneypotSettings(workers=0)


async def test_two_workers_share_the_port_and_every_request_is_counted(pool: tuple[Honeypot, ListSink]) -> None:
    honeypot, sink = pool
    port = honeypot.listening[0].port
    clients = [Client(ip, port) for ip in SOURCES[:20]]
    try:
        served = {await _worker_of(honeypot, client) for client in clients}  # one OPTIONS each
        for client in clients:
            for _ in range(5):
                [answer] = await client.ask(client.request("OPTIONS"))
                assert answer.status == 200
    finally:
        for client in clients:
            client.close()
    # 20 sources hashed over 2 sockets: both serve some (all on one is a 2 * 2**-20 event).
    assert served == {0, 1}
    await honeypot.stop()
    assert sum(event.count for event in sink.events if event.kind == "probe") == 20 * 6
    assert {event.src_ip for event in sink.events} == set(SOURCES[:20])


async def test_a_crack_from_one_address_holds_for_a_call_from_another(pool: tuple[Honeypot, ListSink]) -> None:
    """The crack and the call reach different workers; the call gets in with the cracked password only."""
    honeypot, sink = pool
    port = honeypot.listening[0].port
    clients = [Client(ip, port) for ip in SOURCES]
    try:
        cracker = clients[0]
        cracker_worker = await _worker_of(honeypot, cracker)
        register = cracker.request("REGISTER")
        [challenge] = await cracker.ask(register)
        assert challenge.status == 401
        auth = answer_challenge(challenge, username="100", password="1234", method="REGISTER", uri="sip:100@192.0.2.10")
        [ok] = await cracker.ask(cracker.request("REGISTER", headers=[auth], cseq=2))
        assert ok.status == 200  # 1234 is a weak password: account 100 is cracked with it

        others = [c for c in clients[1:] if await _worker_of(honeypot, c) != cracker_worker]
        assert others, "every source hashed to the cracker's worker"
        caller = others[0]
        uri = "sip:0049301234567@192.0.2.10"

        async def call(password: str) -> list[Response]:
            call_id = f"call-{password}-{time.monotonic_ns()}@x"
            first = caller.request("INVITE", uri=uri, call_id=call_id, body=SDP(caller.ip))
            [challenge] = await caller.ask(first)
            assert challenge.status == 401
            auth = answer_challenge(challenge, username="100", password=password, method="INVITE", uri=uri)
            return await caller.ask(
                caller.request("INVITE", uri=uri, call_id=call_id, cseq=2, headers=[auth], body=SDP(caller.ip))
            )

        # Before the crack, any worker accepts the account's own number; after it only 1234 opens it.
        refused = await call("100")
        assert refused[-1].status == 403
        answered = await call("1234")
        assert answered[-1].status == 200
        bye = caller.request("BYE", call_id=answered[-1].call_id, cseq=3, to_tag=answered[-1].to.tag)
        await caller.ask(bye.replace(b"sip:100@192.0.2.10 SIP", uri.encode() + b" SIP", 1))
    finally:
        for client in clients:
            client.close()
    await honeypot.stop()
    kinds = [event.kind for event in sink.events]
    assert kinds.count("auth_success") == 1  # the REGISTER crack
    assert kinds.count("auth_failure") == 1  # the call with the own number, refused by the other worker
    assert "call_answered" in kinds


async def test_a_nonce_from_one_worker_is_accepted_by_the_other(pool: tuple[Honeypot, ListSink]) -> None:
    """Nonces are HMAC-signed with one key for all processes: a challenge from worker A opens worker B."""
    honeypot, _ = pool
    port = honeypot.listening[0].port
    clients = [Client(ip, port) for ip in SOURCES]
    try:
        first = clients[0]
        first_worker = await _worker_of(honeypot, first)
        others = [c for c in clients[1:] if await _worker_of(honeypot, c) != first_worker]
        second = others[0]
        [challenge] = await first.ask(first.request("REGISTER", from_user="150"))
        assert challenge.status == 401
        auth = answer_challenge(challenge, username="150", password="150", method="REGISTER", uri="sip:100@192.0.2.10")
        [answer] = await second.ask(second.request("REGISTER", from_user="150", headers=[auth], cseq=2))
        assert answer.status == 200
    finally:
        for client in clients:
            client.close()


def SDP(ip: str) -> bytes:
    return (
        f"v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
    ).encode()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_flushes_every_worker_into_the_store(tmp_path: Path, sig: signal.Signals) -> None:
    """`sipwarden honeypot` with workers = 2: stopped by a signal, the store holds every request."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    config = tmp_path / "hp.toml"
    config.write_text(
        f'[general]\ndata_dir = "{tmp_path}"\n[honeypot]\nworkers = 2\nrate_per_source = 1e9\nrate_burst = 1000000000\n'
    )
    db = f"sqlite:///{tmp_path / 'hp.db'}"
    argv = [sys.executable, "-m", "sipwarden", "honeypot", "--listen", f"udp:127.0.0.1:{port}"]
    proc = subprocess.Popen(
        [*argv, "--db", db, "--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    sent = 0
    socks: list[socket.socket] = []
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(1)]
        while b"listening" not in lines[-1] and lines[-1] and len(lines) < 50:
            lines.append(proc.stdout.readline())  # "honeypot listening on ..." once every worker listens
        assert b"listening" in lines[-1], lines
        for ip in SOURCES[:10]:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((ip, 0))
            sock.settimeout(WAIT)
            socks.append(sock)
            for n in range(20):
                sock.sendto(sip_request("OPTIONS", call_id=f"{ip}-{n}"), ("127.0.0.1", port))
                sent += 1
                sock.recvfrom(65535)
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == 0
    finally:
        for sock in socks:
            sock.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    store = Store.open(db)
    try:
        assert store.total_events() == sent
    finally:
        store.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_sources_are_spread_by_source_port(host: str) -> None:
    """Socket `port % 2` of the group gets a source's datagrams, IPv4 and IPv6: stable per source, even."""
    group = reuse_port_group(host, 0, 2, receive_buffer=0)
    family = group[0].family
    port = group[0].getsockname()[1]
    sent: list[int] = []
    try:
        for _ in range(10):
            with socket.socket(family, socket.SOCK_DGRAM) as client:
                client.bind((host, 0))
                sent.append(client.getsockname()[1])
                for _ in range(3):
                    client.sendto(b"OPTIONS", (host, port))
        got: dict[int, list[int]] = {0: [], 1: []}
        deadline = time.monotonic() + WAIT
        while sum(map(len, got.values())) < 30 and time.monotonic() < deadline:
            for index, sock in enumerate(group):
                with contextlib.suppress(BlockingIOError):
                    got[index].append(sock.recvfrom(64)[1][1])
        assert sorted(got[0] + got[1]) == sorted(sent * 3)
        assert all(source % 2 == index for index, sources in got.items() for source in sources)
    finally:
        for sock in group:
            sock.close()


def test_receive_buffer_is_raised_and_a_short_grant_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """SO_RCVBUF as asked (Linux reports double), and a warning when net.core.rmem_max is lower."""
    rmem_max = int(Path("/proc/sys/net/core/rmem_max").read_text())
    asked = min(1 << 20, rmem_max)
    with bind_udp("127.0.0.1", 0, receive_buffer=asked) as sock:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= asked
    caplog.clear()
    with bind_udp("127.0.0.1", 0, receive_buffer=4 * rmem_max):
        pass
    assert any("net.core.rmem_max" in record.getMessage() for record in caplog.records)
