"""State of the calls the honeypot answers: dialogs, RTP ports and SDP answers (no I/O).

The honeypot answers authenticated INVITEs itself and never forwards or originates a call; a call
rings for a while (180), is answered (200 OK) and lives until BYE or a timeout, and holds one even
RTP port (RFC 3550 11: RTP on an even port, RTCP on the next odd one). A call CANCELled while it
rings leaves a `Completed` INVITE transaction behind: its 487 is repeated until the ACK comes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from sipwarden.sensors.honeypot.outputs import Peer
from sipwarden.sip.errors import ProtocolError
from sipwarden.sip.message import Request
from sipwarden.sip.sdp import make_answer, parse_sdp, serialize_sdp

#: Calls answered at once. An attacker's dialer fires hundreds of INVITEs; beyond this they get 486.
MAX_CALLS: Final = 200
#: Call-IDs remembered to report one call_attempt per call (challenge + authenticated retry).
MAX_SEEN_CALL_IDS: Final = 10_000
#: Ports tried per call before it is refused with 486 (each try may be a bind() in the I/O layer).
MAX_PORT_PROBES: Final = 32
#: Payload types we answer with: 0 PCMU, 8 PCMA (RFC 3551 table 4), 101 telephone-event (RFC 4733).
SUPPORTED_PAYLOADS: Final = (0, 8, 101)
#: Longest ring. RFC 3261 13.3.1.1 asks a UAS to repeat a provisional response every minute so that
#: proxies do not give up on the transaction; ringing for less than that needs no repeats.
MAX_RING_SECONDS: Final = 60.0

CallState = Literal["ringing", "answered"]


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


def parse_ring_range(text: str) -> tuple[float, float]:
    """`2-6` or `0.5-1.5` -> (2.0, 6.0); ValueError names the range unless 0 <= FIRST <= LAST <= 60."""
    first, sep, last = text.strip().partition("-")
    try:
        low, high = float(first), float(last)
    except ValueError:
        raise ValueError(f"ring range {text!r}: expected FIRST-LAST seconds") from None
    if not sep or not 0 <= low <= high <= MAX_RING_SECONDS:
        raise ValueError(
            f"ring range {text!r}: expected FIRST-LAST seconds with 0 <= FIRST <= LAST <= {MAX_RING_SECONDS:g}"
        )
    return low, high


def parse_port_range(text: str) -> tuple[int, int]:
    """`10000-10999` -> (10000, 10999); ValueError on anything else."""
    first, sep, last = text.strip().partition("-")
    if not sep or not first.isdigit() or not last.isdigit():
        raise ValueError(f"port range {text!r}: expected FIRST-LAST")
    return int(first), int(last)


@dataclass(slots=True)
class Call:
    """One call, ringing or answered; `started` is when it was answered (or rings until)."""

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
    state: CallState = "answered"
    #: The INVITE being answered: the 200 OK or the 487 after a CANCEL is built from it later.
    invite: Request | None = None
    #: Top Via branch of that INVITE; a CANCEL must carry the same one (RFC 3261 9.1, 17.2.3).
    branch: str | None = None
    #: When the INVITE came, and the last provisional response, repeated for a retransmitted
    #: INVITE while the call rings (RFC 3261 17.2.1, "Proceeding" state).
    invited: float = 0.0
    provisional: bytes | None = None
    #: Media started with a 183 before the answer (early media), so there is no reservation to release.
    early_media: bool = False
    #: The 200 OK, retransmitted over UDP until the ACK comes (RFC 3261 13.3.1.4).
    ok: bytes | None = None
    retransmit_at: float = 0.0
    retransmit_interval: float = 0.0


@dataclass(slots=True)
class Completed:
    """An INVITE transaction ended by a CANCEL: its 487 waits for the ACK (RFC 3261 17.2.1 "Completed").

    Over UDP the 487 is repeated at T1, 2*T1... capped at T2 (timer G); the record goes at the ACK or
    after 64*T1 (timer H). The ACK of a non-2xx answer carries the INVITE's branch (17.1.1.3).
    """

    call_id: str
    branch: str | None
    peer: Peer
    response: bytes
    local_tag: str
    expires_at: float
    retransmit_at: float | None
    retransmit_interval: float


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
        #: CANCELled INVITE transactions waiting for their ACK; at most one per call, so bounded too.
        self.completed: dict[str, Completed] = {}
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
        return len(self.calls) + len(self.completed) >= self.max_calls

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

    def ringing_done(self, now: float) -> list[Call]:
        """Ringing calls due to be answered at time `now`."""
        return [c for c in self.calls.values() if c.state == "ringing" and now >= c.started]

    def expired(self, now: float, *, silence: float, longest: float) -> list[Call]:
        """Answered calls silent for `silence` seconds or older than `longest` at time `now`."""
        return [
            c
            for c in self.calls.values()
            if c.state == "answered" and (now - c.last_activity >= silence or now - c.started >= longest)
        ]
