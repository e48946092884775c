"""The asyncio layer of the honeypot: sockets in, `HoneypotCore` in the middle, outputs dispatched.

UDP uses a DatagramProtocol (one datagram, one message); TCP and TLS read streams through
`StreamFramer`. Every datagram and every stream chunk is handled inside a try/except, so a hostile
packet becomes a `malformed` event and an operator log line, never a dead listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import secrets
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, cast

from sipwarden.sensors.honeypot.bait import parse_bait_ranges
from sipwarden.sensors.honeypot.calls import parse_port_range, parse_ring_range
from sipwarden.sensors.honeypot.core import CoreConfig, HoneypotCore
from sipwarden.sensors.honeypot.fastpath import FastPath
from sipwarden.sensors.honeypot.media_io import MediaManager
from sipwarden.sensors.honeypot.outputs import Emit, Output, Peer, Reply, SendTo, StartMedia, StopMedia, Wake
from sipwarden.sensors.honeypot.personas import get_persona
from sipwarden.sensors.honeypot.settings import HoneypotSettings
from sipwarden.sensors.honeypot.sinks import EventSink
from sipwarden.sensors.honeypot.tls import server_context
from sipwarden.sensors.honeypot.workers import (
    WorkerPool,
    bind_udp,
    reuse_port_group,
    shared_nonce_secret,
    worker_count,
)
from sipwarden.sip.errors import ProtocolError
from sipwarden.sip.framing import StreamFramer

log = logging.getLogger(__name__)

TRANSPORTS: Final = ("udp", "tcp", "tls")
#: How often aggregation windows close and call timeouts are checked.
TIMER_INTERVAL_SECONDS: Final = 0.5
#: A TCP/TLS connection that sends nothing for this long is closed (Asterisk's tcpauthtimeout is 30 s).
STREAM_IDLE_SECONDS: Final = 60.0
#: Open TCP/TLS connections at once; further ones are closed at once (a connection flood costs fds).
MAX_STREAM_CONNECTIONS: Final = 1000
#: Bytes read from a stream per call; StreamFramer bounds what it buffers.
READ_CHUNK: Final = 65536
#: Peer -> local address cache entries for wildcard-bound UDP listeners.
MAX_ROUTE_CACHE: Final = 10_000
#: Source address -> Peer records kept per UDP listener (cleared when full: a cache, not state).
MAX_PEER_CACHE: Final = 10_000


@dataclass(frozen=True, slots=True)
class Listen:
    """One socket to listen on."""

    transport: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}:{host}:{self.port}"


def parse_listen(spec: str) -> Listen:
    """`udp:0.0.0.0:5060`, `tls:[::]:5061` -> Listen; ValueError names the bad part."""
    transport, sep, rest = spec.strip().partition(":")
    transport = transport.lower()
    if not sep or transport not in TRANSPORTS:
        raise ValueError(f"listen {spec!r}: expected TRANSPORT:HOST:PORT with TRANSPORT one of {', '.join(TRANSPORTS)}")
    host, sep, port_text = rest.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"listen {spec!r}: bad port")
    host = host.removeprefix("[").removesuffix("]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"listen {spec!r}: host must be an IP address") from None
    return Listen(transport, host, int(port_text))


def core_config(settings: HoneypotSettings, *, sensor: str = "", persona: str | None = None) -> CoreConfig:
    """Resolve settings into the core's configuration; ValueError/LocalProtocolError on bad values."""
    return CoreConfig(
        persona=get_persona(persona or settings.persona),
        bait=parse_bait_ranges(settings.bait_accounts),
        weak_passwords=tuple(settings.weak_passwords),
        accept_own_number=settings.accept_own_number,
        rtp_ports=parse_port_range(settings.rtp_ports),
        rate_per_source=settings.rate_per_source,
        rate_burst=settings.rate_burst,
        aggregate_seconds=settings.aggregate_seconds,
        recovery_tries_per_source=settings.recovery_tries_per_source,
        call_timeout_seconds=settings.call_timeout_seconds,
        max_call_seconds=settings.max_call_seconds,
        ring_seconds=parse_ring_range(settings.ring_seconds),
        nonce_seconds=settings.nonce_seconds,
        nonce_secret=settings.nonce_secret.encode(),
        sensor=sensor,
    )


def _is_wildcard(host: str) -> bool:
    return ipaddress.ip_address(host).is_unspecified


class _Datagram(asyncio.DatagramProtocol):
    def __init__(self, honeypot: Honeypot, listen: Listen) -> None:
        self.honeypot = honeypot
        self.listen = listen
        self.transport: asyncio.DatagramTransport | None = None
        self.local_port = listen.port
        self.wildcard = _is_wildcard(listen.host)
        # Peer records by source address: a flood comes from few sources, and building a frozen
        # dataclass per datagram was a measurable share of the OPTIONS path.
        self.peers: dict[tuple[str | object, int], Peer] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Python 3.11's selector datagram transport does not subclass DatagramTransport; it behaves as one.
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.local_port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        transport = self.transport
        if transport is None:
            return
        try:
            peer = self.peers.get(addr)
            if peer is None:
                peer = self._peer(addr)
            outputs = self.honeypot.fast.receive(data, peer, self.honeypot.clock())
            if len(outputs) == 1 and type(outputs[0]) is Reply:
                transport.sendto(outputs[0].data, addr)  # the flood's case: one answer, no event
            else:
                self.honeypot.dispatch(outputs, lambda reply: transport.sendto(reply, addr))
        except Exception as exc:
            # The core already turns hostile input into events; reaching here is our bug, not theirs,
            # but the packet is still evidence: keep it as a malformed event.
            log.exception("udp %s: failed to handle a datagram from %s", self.listen, addr)
            self.honeypot.report_failure(data, addr, "udp", self.local_port, exc)

    def _peer(self, addr: tuple[str | object, int]) -> Peer:
        ip = str(addr[0])
        local_ip = self.honeypot.local_ip_for(self.listen.host, ip) if self.wildcard else self.listen.host
        peer = Peer(ip, int(addr[1]), "udp", local_ip, self.local_port)
        if len(self.peers) >= MAX_PEER_CACHE:
            self.peers.clear()
        self.peers[addr] = peer
        return peer

    def error_received(self, exc: Exception) -> None:
        log.debug("udp %s: %s", self.listen, exc)


class Honeypot:
    """Listens on the configured sockets and runs the core; `start()`, `listening`, `stop()`."""

    def __init__(
        self,
        settings: HoneypotSettings,
        sink: EventSink,
        *,
        sensor: str = "",
        data_dir: Path = Path("var"),
        listen: Sequence[str] | None = None,
        persona: str | None = None,
        clock: Callable[[], float] = time.time,
        token: Callable[[int], str] = secrets.token_hex,
        udp_sockets: Sequence[tuple[str, socket.socket]] = (),
    ) -> None:
        #: UDP worker processes; 1 answers UDP in this process. A worker itself is started with
        #: `udp_sockets` (listen spec, bound socket) and answers on those.
        self.workers = 1 if udp_sockets else worker_count(settings.workers)
        if self.workers > 1 and "nonce_secret" in type(settings).model_fields:
            # Every process must accept the nonces of the others (a client's next request may reach
            # another worker after its source port changes).
            settings = settings.model_copy(update={"nonce_secret": shared_nonce_secret(settings)})
        self.settings = settings
        self._adopted = [(parse_listen(spec), sock) for spec, sock in udp_sockets]
        self._pool: WorkerPool | None = None
        self._worker_sockets: list[socket.socket] = []
        self.sink = sink
        self.clock = clock
        self.data_dir = data_dir
        self.listens = [parse_listen(spec) for spec in (listen if listen is not None else settings.listen)]
        recordings = Path(settings.recordings_dir) if settings.recordings_dir else data_dir / "recordings"
        self.media = MediaManager(self, recordings, settings)
        self.core = HoneypotCore(core_config(settings, sensor=sensor, persona=persona), token=token, ports=self.media)
        # Plain OPTIONS (the flood) are answered by the lean path; it hands everything else to the core.
        self.fast = FastPath(self.core)
        self.listening: list[Listen] = []
        self._ssl: ssl.SSLContext | None = None
        if any(item.transport == "tls" for item in self.listens):
            self._ssl = server_context(
                settings.tls_cert, settings.tls_key, directory=data_dir, persona=self.core.persona
            )
        self._udp: list[asyncio.DatagramTransport] = []
        self._servers: list[asyncio.Server] = []
        self._connections: set[asyncio.StreamWriter] = set()
        self._streams: dict[tuple[str, str, int], asyncio.StreamWriter] = {}
        self._udp_by_port: dict[tuple[int, bool], asyncio.DatagramTransport] = {}
        self._timer: asyncio.Task[None] | None = None
        self._wakes: set[asyncio.TimerHandle] = set()  # at most one per ringing call (calls.MAX_CALLS)
        self._routes: dict[tuple[str, str], str] = {}

    async def start(self) -> None:
        """Bind every socket (OSError if one cannot be bound) and start the timer."""
        loop = asyncio.get_running_loop()
        buffer = self.settings.udp_receive_buffer
        groups: list[tuple[Listen, list[socket.socket]]] = []
        try:
            for item, sock in self._adopted:
                await self._open_udp(item, sock)
            for item in self.listens:
                if item.transport == "udp" and self.workers > 1:
                    group = reuse_port_group(item.host, item.port, self.workers, receive_buffer=buffer)
                    self._worker_sockets += group
                    groups.append((item, group))
                    self.listening.append(Listen("udp", item.host, int(group[0].getsockname()[1])))
                elif item.transport == "udp":
                    await self._open_udp(item, bind_udp(item.host, item.port, receive_buffer=buffer))
                else:
                    context = self._ssl if item.transport == "tls" else None

                    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter, item: Listen = item) -> None:
                        await self._serve_stream(r, w, item)

                    server = await asyncio.start_server(handle, item.host, item.port, ssl=context)
                    self._servers.append(server)
                    port = server.sockets[0].getsockname()[1]
                    self.listening.append(Listen(item.transport, item.host, port))
            if groups:
                await self._start_workers(groups)
        except BaseException:
            await self.stop()
            raise
        self._timer = loop.create_task(self._tick(), name="honeypot-timer")

    async def _open_udp(self, item: Listen, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(functools.partial(_Datagram, self, item), sock=sock)
        self._udp.append(transport)
        self._udp_by_port[(protocol.local_port, ":" in item.host)] = transport
        if item not in (adopted for adopted, _ in self._adopted):
            self.listening.append(Listen("udp", item.host, protocol.local_port))

    async def _start_workers(self, groups: Sequence[tuple[Listen, list[socket.socket]]]) -> None:
        """Hand socket i of every SO_REUSEPORT group to worker i; this process keeps TCP and TLS."""
        settings = self.settings.model_copy(update={"workers": 1})
        config = {
            "settings": settings.model_dump(mode="json"),
            "sensor": self.core.config.sensor,
            "data_dir": str(self.data_dir),
            "persona": self.core.persona.name,
        }
        per_worker = [
            [(str(Listen("udp", item.host, int(group[0].getsockname()[1]))), group[i]) for item, group in groups]
            for i in range(self.workers)
        ]
        self._pool = WorkerPool(self.sink.put, self.core.policy.mark_cracked)
        await self._pool.start(config, per_worker)
        # The workers hold the sockets now; this process's copies would only keep them open.
        for sock in self._worker_sockets:
            sock.close()
        self._worker_sockets.clear()
        log.info("honeypot: %d UDP worker processes", self.workers)

    async def stop(self) -> None:
        """Close sockets, end calls (writing their recordings) and flush pending counts."""
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        for handle in self._wakes:
            handle.cancel()
        self._wakes.clear()
        for transport in self._udp:
            transport.close()
        for server in self._servers:
            server.close()
        for writer in list(self._connections):
            writer.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2.0)
        if self._pool is not None:
            await self._pool.stop()  # each worker flushes its counts into our sink before it exits
            self._pool = None
        for sock in self._worker_sockets:
            sock.close()
        self._worker_sockets.clear()
        self._udp.clear()
        self._udp_by_port.clear()
        self._servers.clear()
        self.dispatch(self.core.close(self.clock()), None)
        self.media.close_all()

    async def __aenter__(self) -> Honeypot:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def dispatch(self, outputs: Sequence[Output], send: Callable[[bytes], object] | None) -> None:
        """Carry out what the core asked for."""
        for out in outputs:
            if isinstance(out, Reply):
                if send is not None:
                    send(out.data)
            elif isinstance(out, SendTo):
                self._send_to(out)
            elif isinstance(out, Emit):
                event = out.event
                if self._pool is not None and event.kind == "auth_success" and event.username and event.password:
                    self._pool.relay_crack(event.username, event.password)
                self.sink.put(out.event)
            elif isinstance(out, StartMedia):
                self.media.start(out)
            elif isinstance(out, StopMedia):
                self.media.stop(out.call_id)
            elif isinstance(out, Wake):
                self._wake_at(out.at)

    def _wake_at(self, at: float) -> None:
        """Run the core's call timers at `at` (a ringing call is answered then, not at the next tick)."""
        loop = asyncio.get_running_loop()

        def wake() -> None:
            self._wakes.discard(handle)
            try:
                self.dispatch(self.core.handle_calls(self.clock()), None)
            except Exception:
                log.exception("honeypot call timer failed")

        handle = loop.call_later(max(0.0, at - self.clock()), wake)
        self._wakes.add(handle)

    def report_failure(
        self, data: bytes, addr: tuple[str | object, int], transport: str, local_port: int, exc: Exception
    ) -> None:
        """A `malformed` event for input whose handling failed on our side; never raises."""
        try:
            peer = Peer(str(addr[0]), int(addr[1]), transport, "", local_port)
            self.dispatch(self.core.malformed(data, peer, self.clock(), f"handler error: {exc!r}"), None)
        except Exception:
            log.exception("could not report a failed %s message", transport)

    def _send_to(self, out: SendTo) -> None:
        """Send outside a request: on the UDP socket the peer used, or on its open connection."""
        peer = out.peer
        if peer.transport == "udp":
            transport = self._udp_by_port.get((peer.local_port, ":" in peer.ip))
            if transport is not None:
                transport.sendto(out.data, (peer.ip, peer.port))
            return
        writer = self._streams.get((peer.transport, peer.ip, peer.port))
        if writer is not None and not writer.is_closing():
            writer.write(out.data)

    def local_ip_for(self, bound: str, peer_ip: str) -> str:
        """The local address a reply to `peer_ip` leaves from (the bound one unless it is a wildcard)."""
        if not _is_wildcard(bound):
            return bound
        key = (bound, peer_ip)
        cached = self._routes.get(key)
        if cached is not None:
            return cached
        family = socket.AF_INET6 if ":" in peer_ip else socket.AF_INET
        try:
            # connect() on UDP sends nothing; it only asks the kernel which source address it would use.
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect((peer_ip, 9))
                local = str(probe.getsockname()[0])
        except OSError:
            local = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        if len(self._routes) >= MAX_ROUTE_CACHE:
            self._routes.clear()
        self._routes[key] = local
        return local

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TIMER_INTERVAL_SECONDS)
            try:
                self.dispatch(self.core.handle_timer(self.clock()), None)
            except Exception:
                log.exception("honeypot timer failed")

    async def _serve_stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, item: Listen) -> None:
        if len(self._connections) >= MAX_STREAM_CONNECTIONS:
            writer.close()
            return
        self._connections.add(writer)
        peername = writer.get_extra_info("peername") or ("", 0)
        sockname = writer.get_extra_info("sockname") or (item.host, item.port)
        peer = Peer(str(peername[0]), int(peername[1]), item.transport, str(sockname[0]), int(sockname[1]))
        self._streams[(peer.transport, peer.ip, peer.port)] = writer
        framer = StreamFramer()
        try:
            while True:
                data = await asyncio.wait_for(reader.read(READ_CHUNK), STREAM_IDLE_SECONDS)
                if not data:
                    break
                if not self._feed_stream(framer, data, peer, writer):
                    break
                await writer.drain()
        except (TimeoutError, ConnectionError, ssl.SSLError, OSError) as exc:
            log.debug("%s %s:%s closed: %r", item.transport, peer.ip, peer.port, exc)
        finally:
            self._connections.discard(writer)
            self._streams.pop((peer.transport, peer.ip, peer.port), None)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 2.0)

    def _feed_stream(self, framer: StreamFramer, data: bytes, peer: Peer, writer: asyncio.StreamWriter) -> bool:
        """Handle the messages in `data`; False when the stream is unusable and must be closed."""
        try:
            framer.receive_data(data)
            while (message := framer.next_message()) is not None:
                self.dispatch(self.fast.receive(message, peer, self.clock()), writer.write)
        except ProtocolError as exc:
            # A framing error leaves no way to find the next message: report it and hang up.
            self.dispatch(self.core.malformed(data, peer, self.clock(), str(exc)), None)
            return False
        except Exception as exc:
            log.exception("%s %s:%s: failed to handle stream data", peer.transport, peer.ip, peer.port)
            self.report_failure(data, (peer.ip, peer.port), peer.transport, peer.local_port, exc)
            return False
        return True
