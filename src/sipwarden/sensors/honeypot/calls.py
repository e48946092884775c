"""State of the calls the honeypot answers: dialogs, RTP ports and SDP answers (no I/O).

The honeypot answers authenticated INVITEs itself and never forwards or originates a call; a call
lives from its 200 OK until BYE, CANCEL or a timeout, and holds one even RTP port (RFC 3550 11: RTP
on an even port, RTCP on the next odd one).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from sipwarden.sensors.honeypot.outputs import Peer
from sipwarden.sip.errors import ProtocolError
from sipwarden.sip.sdp import make_answer, parse_sdp, serialize_sdp

#: Calls answered at once. An attacker's dialer fires hundreds of INVITEs; beyond this they get 486.
MAX_CALLS: Final = 200
#: Call-IDs remembered to report one call_attempt per call (challenge + authenticated retry).
MAX_SEEN_CALL_IDS: Final = 10_000
#: Ports tried per call before it is refused with 486 (each try may be a bind() in the I/O layer).
MAX_PORT_PROBES: Final = 32
#: Payload types we answer with: 0 PCMU, 8 PCMA (RFC 3551 table 4), 101 telephone-event (RFC 4733).
SUPPORTED_PAYLOADS: Final = (0, 8, 101)


class PortReserver(Protocol):
    """The I/O layer's hold on RTP ports: `reserve` binds (True if it could), `release` lets go of a
    reserved port that no call used. Ports of calls are closed by StopMedia."""

    def reserve(self, host: str, port: int) -> bool:
        """Hold `port` on `host` for a call about to be answered."""

    def release(self, host: str, port: int) -> None:
        """Give up a reservation that no StartMedia claimed."""


class NoReservation:
    """For the sans-I/O core on its own (tests): every port is usable."""

    def reserve(self, host: str, port: int) -> bool:
        return True

    def release(self, host: str, port: int) -> None:
        return None


class PortPool:
    """Even ports FIRST..LAST handed out round-robin, so a closed call's port is not reused at once."""

    def __init__(self, first: int, last: int) -> None:
        if not (1024 <= first <= last <= 65535):
            raise ValueError(f"rtp port range {first}-{last} must lie within 1024-65535")
        self._ports = [p for p in range(first + first % 2, last + 1, 2)]
        if not self._ports:
            raise ValueError(f"rtp port range {first}-{last} holds no even port")
        self._next = 0
        self._used: set[int] = set()

    def take(self, usable: Callable[[int], bool] = lambda port: True) -> int | None:
        """A free port that `usable` accepts (the I/O layer reserves it), or None when there is none.

        At most MAX_PORT_PROBES ports are offered to `usable` per call, which bounds the work when
        some other program holds much of the range.
        """
        for _ in range(min(len(self._ports), MAX_PORT_PROBES)):
            port = self._ports[self._next]
            self._next = (self._next + 1) % len(self._ports)
            if port not in self._used and usable(port):
                self._used.add(port)
                return port
        return None

    def give_back(self, port: int) -> None:
        """Return `port` to the pool."""
        self._used.discard(port)


def parse_port_range(text: str) -> tuple[int, int]:
    """`10000-10999` -> (10000, 10999); ValueError on anything else."""
    first, sep, last = text.strip().partition("-")
    if not sep or not first.isdigit() or not last.isdigit():
        raise ValueError(f"port range {text!r}: expected FIRST-LAST")
    return int(first), int(last)


@dataclass(slots=True)
class Call:
    """One answered call."""

    call_id: str
    peer: Peer
    username: str | None
    local_tag: str
    local_port: int
    answer: bytes
    session_id: int
    started: float
    last_activity: float
    payload_type: int
    dtmf_payload_type: int | None
    remote: tuple[str, int] | None
    target: str | None = None
    confirmed: bool = False
    #: The 200 OK, retransmitted over UDP until the ACK comes (RFC 3261 13.3.1.4).
    ok: bytes | None = None
    retransmit_at: float = 0.0
    retransmit_interval: float = 0.0


@dataclass(frozen=True, slots=True)
class MediaPlan:
    """What the SDP answer agreed on."""

    answer: bytes
    payload_type: int
    dtmf_payload_type: int | None
    remote: tuple[str, int] | None


def plan_media(
    offer_body: bytes, *, address: str, port: int, session_id: int, username: str, session_name: str = "-"
) -> MediaPlan | None:
    """Answer an SDP offer with G.711 and telephone-event, or None if nothing in it is usable (488)."""
    try:
        offer = parse_sdp(offer_body)
        answer = make_answer(
            offer,
            address=address,
            port=port,
            session_id=session_id,
            username=username,
            supported=SUPPORTED_PAYLOADS,
            session_name=session_name,
        )
    except ProtocolError:
        return None
    audio = answer.audio()
    if audio is None or not audio.rtpmap:
        return None
    payload_type = audio.rtpmap[0][0]
    dtmf = next((pt for pt, name, _ in audio.rtpmap if name.lower() == "telephone-event"), None)
    return MediaPlan(serialize_sdp(answer), payload_type, dtmf, offer.remote_rtp_address())


class CallTable:
    """The answered calls, the RTP ports they hold, and the Call-IDs already reported."""

    def __init__(self, ports: PortPool, *, max_calls: int = MAX_CALLS) -> None:
        self.ports = ports
        self.max_calls = max_calls
        self.calls: dict[str, Call] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()

    def first_sight(self, call_id: str) -> bool:
        """True the first time `call_id` is seen (bounded memory)."""
        if call_id in self._seen:
            self._seen.move_to_end(call_id)
            return False
        self._seen[call_id] = None
        if len(self._seen) > MAX_SEEN_CALL_IDS:
            self._seen.popitem(last=False)
        return True

    def full(self) -> bool:
        """True when no further call can be answered."""
        return len(self.calls) >= self.max_calls

    def add(self, call: Call) -> None:
        """Track an answered call."""
        self.calls[call.call_id] = call

    def remove(self, call_id: str) -> Call | None:
        """Forget a call and free its port."""
        call = self.calls.pop(call_id, None)
        if call is not None:
            self.ports.give_back(call.local_port)
        return call

    def unacknowledged(self, now: float) -> list[Call]:
        """Calls whose 200 OK is due for retransmission at time `now`."""
        return [c for c in self.calls.values() if c.ok is not None and not c.confirmed and now >= c.retransmit_at]

    def expired(self, now: float, *, silence: float, longest: float) -> list[Call]:
        """Calls silent for `silence` seconds or older than `longest` at time `now`."""
        return [c for c in self.calls.values() if now - c.last_activity >= silence or now - c.started >= longest]
