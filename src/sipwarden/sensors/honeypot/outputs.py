"""What the sans-I/O core asks its I/O layer to do, and who it talks to."""

from __future__ import annotations

from dataclasses import dataclass

from sipwarden.events import Event


@dataclass(frozen=True, slots=True)
class Peer:
    """The far end of one request, and the local socket it reached."""

    ip: str
    port: int
    transport: str  # udp, tcp, tls
    local_ip: str
    local_port: int


@dataclass(frozen=True, slots=True)
class Reply:
    """Bytes to send back to the peer on the socket the request came in on."""

    data: bytes


@dataclass(frozen=True, slots=True)
class SendTo:
    """Bytes to send to `peer` outside any request (a retransmitted 200 OK), on its socket or connection."""

    data: bytes
    peer: Peer


@dataclass(frozen=True, slots=True)
class Emit:
    """A security event for the sinks."""

    event: Event


@dataclass(frozen=True, slots=True)
class StartMedia:
    """Open (or, for a re-INVITE, re-aim) the RTP session of an answered call."""

    call_id: str
    local_port: int
    remote_host: str | None
    remote_port: int | None
    payload_type: int  # 0 PCMU or 8 PCMA
    dtmf_payload_type: int | None
    peer: Peer
    username: str | None


@dataclass(frozen=True, slots=True)
class StopMedia:
    """Close the RTP session of a call (BYE, CANCEL, timeout)."""

    call_id: str


@dataclass(frozen=True, slots=True)
class Wake:
    """Call `handle_calls(now)` at time `at` (a ringing call is answered then); the regular timer
    tick would also get there, only later."""

    at: float


Output = Reply | SendTo | Emit | StartMedia | StopMedia | Wake
