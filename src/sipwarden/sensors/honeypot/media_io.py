"""RTP sockets of answered calls: bind a port from the range, play the prompt, record, report.

Symmetric RTP (RFC 4961): audio is sent to where the caller's RTP comes from once it arrives, which
is what a PBX behind or in front of NAT does; until then to the address in the SDP offer.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from sipwarden.sensors.honeypot.media import (
    PACKET_SECONDS,
    DiskQuota,
    MediaSession,
    WavRecorder,
    recording_path,
)
from sipwarden.sensors.honeypot.outputs import Emit, StartMedia
from sipwarden.sensors.honeypot.settings import HoneypotSettings

if TYPE_CHECKING:
    from sipwarden.sensors.honeypot.server import Honeypot

log = logging.getLogger(__name__)

#: RTP datagrams larger than this are not audio we can use (G.711 20 ms is 172 bytes).
MAX_RTP_DATAGRAM: Final = 2048


@dataclass(slots=True)
class _Call:
    start: StartMedia
    session: MediaSession
    transport: asyncio.DatagramTransport | None
    remote: tuple[str, int] | None
    learned: bool = False
    player: asyncio.Task[None] | None = None


def _bind_udp(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class _Rtp(asyncio.DatagramProtocol):
    def __init__(self, manager: MediaManager, call_id: str) -> None:
        self.manager = manager
        self.call_id = call_id

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        try:
            self.manager.on_rtp(self.call_id, data, (str(addr[0]), int(addr[1])))
        except Exception:
            log.exception("rtp of call %s: failed to handle a packet", self.call_id)


class MediaManager:
    """The RTP side of every answered call."""

    def __init__(self, honeypot: Honeypot, recordings: Path, settings: HoneypotSettings) -> None:
        self.honeypot = honeypot
        self.recordings = recordings
        self.settings = settings
        self.quota = DiskQuota(recordings, settings.recordings_quota_mb * 1024 * 1024)
        self.calls: dict[str, _Call] = {}
        self._reserved: dict[tuple[str, int], socket.socket] = {}

    def reserve(self, host: str, port: int) -> bool:
        """Bind `port` now, so the SDP answer names a port that is really ours (PortReserver)."""
        key = (host, port)
        if key in self._reserved:
            return True
        try:
            self._reserved[key] = _bind_udp(host, port)
        except OSError as exc:
            log.info("rtp port %s:%s is taken, trying another: %s", host, port, exc)
            return False
        return True

    def release(self, host: str, port: int) -> None:
        """Close a reserved port that no call used."""
        sock = self._reserved.pop((host, port), None)
        if sock is not None:
            sock.close()

    def start(self, start: StartMedia) -> None:
        """Open the call's RTP socket (or re-aim it on a re-INVITE) and start the prompt."""
        call = self.calls.get(start.call_id)
        remote = (start.remote_host, start.remote_port) if start.remote_host and start.remote_port else None
        if call is not None:
            call.start = start
            if not call.learned:
                call.remote = remote
            return
        sock = self._reserved.pop((start.peer.local_ip, start.local_port), None)
        if sock is None:
            try:
                sock = _bind_udp(start.peer.local_ip, start.local_port)
            except OSError as exc:
                log.warning("call %s: cannot bind RTP port %s: %s", start.call_id, start.local_port, exc)
                return
        recorder = None
        if self.quota.used < self.quota.limit:
            path = recording_path(self.recordings, start.call_id, time.time())
            try:
                recorder = WavRecorder(path, max_seconds=self.settings.max_recording_seconds, quota=self.quota)
            except OSError as exc:
                log.warning("call %s: cannot record to %s: %s", start.call_id, path, exc)
        session = MediaSession(start.payload_type, start.dtmf_payload_type, recorder, ssrc=random.getrandbits(32))
        call = _Call(start, session, None, remote)
        self.calls[start.call_id] = call
        call.player = asyncio.get_running_loop().create_task(self._run(call, sock), name=f"rtp-{start.local_port}")

    async def _run(self, call: _Call, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(lambda: _Rtp(self, call.start.call_id), sock=sock)
        except OSError as exc:
            log.warning("call %s: cannot use RTP port %s: %s", call.start.call_id, call.start.local_port, exc)
            sock.close()
            return
        call.transport = transport
        try:
            await self._play(call)
        finally:
            transport.close()

    async def _play(self, call: _Call) -> None:
        """Send one 20 ms packet per tick, paced against the clock so drift does not accumulate."""
        loop = asyncio.get_running_loop()
        assert call.transport is not None
        started = loop.time()
        sent = 0
        limit = int(self.settings.max_call_seconds / PACKET_SECONDS) + 1
        while sent < limit:
            if call.remote is not None:
                call.transport.sendto(call.session.next_packet(), call.remote)
            sent += 1
            await asyncio.sleep(max(0.0, started + sent * PACKET_SECONDS - loop.time()))

    def on_rtp(self, call_id: str, data: bytes, addr: tuple[str, int]) -> None:
        """One RTP datagram for `call_id` from `addr`."""
        call = self.calls.get(call_id)
        if call is None or len(data) > MAX_RTP_DATAGRAM:
            return
        if not call.learned:
            call.remote, call.learned = addr, True
        now = self.honeypot.clock()
        self.honeypot.core.media_activity(call_id, now)
        digit = call.session.receive(data)
        if digit is not None:
            event = self.honeypot.core.make_event(
                "dtmf",
                call.start.peer,
                now,
                method="INVITE",
                username=call.start.username,
                call_id=call_id,
                detail={"digit": digit, "digits": call.session.digits},
            )
            self.honeypot.dispatch([Emit(event)], None)

    def stop(self, call_id: str) -> None:
        """Close the call's RTP socket and report its recording."""
        call = self.calls.pop(call_id, None)
        if call is None:
            return
        if call.player is not None:
            call.player.cancel()
        if call.transport is not None:
            call.transport.close()
        info = call.session.finish()
        if info.path is None:
            return
        event = self.honeypot.core.make_event(
            "recording",
            call.start.peer,
            self.honeypot.clock(),
            method="INVITE",
            username=call.start.username,
            call_id=call_id,
            detail={
                "path": info.path,
                "seconds": info.seconds,
                "codec": info.codec,
                "packets": info.packets,
                "digits": info.digits,
                "truncated": info.truncated,
            },
        )
        self.honeypot.dispatch([Emit(event)], None)

    def close_all(self) -> None:
        """Stop every call's media (shutdown)."""
        for call_id in list(self.calls):
            self.stop(call_id)
        for sock in self._reserved.values():
            sock.close()
        self._reserved.clear()
