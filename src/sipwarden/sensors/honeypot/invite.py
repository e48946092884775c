"""INVITE server transactions and the calls they make: ring, answer, CANCEL, ACK, BYE (RFC 3261 13, 17.2).

The other half of `core.HoneypotCore`, which owns the request context and the reply and event
helpers used here. Sans-I/O like the core: time comes in as `now`; when a ringing call is due to be
answered the outputs carry a `Wake` for the I/O layer to call `handle_calls` then.

An authenticated INVITE gets 100 Trying and 180 Ringing at once, and the 200 OK with the SDP answer
after a ring time picked per call from `ring_seconds`. A CANCEL while it rings gets 200 and the
INVITE 487 Request Terminated (RFC 3261 9.2), repeated over UDP until its ACK (17.2.1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from sipwarden.events import Event, EventKind
from sipwarden.intel.numbers import normalize_dialled, target_from_uri_user
from sipwarden.sensors.honeypot.calls import Call, Completed, MediaPlan, plan_media
from sipwarden.sensors.honeypot.fields import codec_name, request_uri_user, user_of
from sipwarden.sensors.honeypot.outputs import Emit, Output, Peer, Reply, SendTo, StartMedia, StopMedia, Wake
from sipwarden.sensors.honeypot.responses import build_response
from sipwarden.sip.headers import parse_name_addr
from sipwarden.sip.message import Request

if TYPE_CHECKING:
    from sipwarden.sensors.honeypot.core import HoneypotCore, RequestContext

#: RFC 3261 17.1.1.1 timers: T1 (RTT estimate) and T2 (cap of the retransmit interval). A 200 OK to an
#: INVITE is repeated at T1, 2*T1... up to T2 until the ACK, for at most 64*T1 (13.3.1.4); a 487 the
#: same way (timers G and H, 17.2.1).
T1_SECONDS: Final = 0.5
T2_SECONDS: Final = 4.0
ACK_TIMEOUT_SECONDS: Final = 64 * T1_SECONDS


class InviteServer:
    """INVITE, ACK, BYE and CANCEL for the calls in `core.calls`."""

    def __init__(self, core: HoneypotCore) -> None:
        self.core = core
        self.calls = core.calls

    # -- requests ------------------------------------------------------------------------------

    def invite(self, ctx: RequestContext) -> list[Output]:
        """An INVITE: a re-INVITE, a retransmission, or a new call to challenge, refuse or ring."""
        core, request = self.core, ctx.request
        call = self.calls.calls.get(ctx.call_id)
        to_tag = parse_name_addr(request.headers.get("To") or "<sip:x@x>").tag
        if to_tag is not None:
            if call is None or call.local_tag != to_tag or call.state != "answered":
                return core._reply(ctx, 481)
            return self._reinvite(ctx, call)
        # RFC 3261 17.2.1/17.2.3: a retransmission is answered by its transaction with the last
        # response sent, before any authentication (its nonce may have aged since).
        completed = self.calls.completed.get(ctx.call_id)
        if completed is not None:
            return [Reply(completed.response)]
        if call is not None and call.state == "ringing" and call.provisional is not None:
            return [Reply(call.provisional)]
        out: list[Output] = []
        target = request_uri_user(request)
        if ctx.call_id and self.calls.first_sight(ctx.call_id):
            out += core._emit(self._call_attempt(ctx, target, user_of(request.headers.get("From"))), ctx.now)
        authorization = core._credentials(ctx)
        if authorization is None:
            return out + core._reply(ctx, 401, extra=core._challenge(ctx))
        result, nonce = core._authenticate(ctx, authorization)
        if result.outcome != "ok":
            if nonce != "fresh":
                return out + core._nonce_refusal(ctx, result, nonce, target=target)
            return out + core._reply(ctx, 403) + core._refusal(ctx, "auth_failure", result, target=target)
        if call is not None:  # a new INVITE for an answered call (same Call-ID): repeat the 200
            return out + self._send_ok(ctx.request, ctx.peer, call, ctx.now, reply=True)
        return out + self._ring(ctx, result.username, target)

    def ack(self, ctx: RequestContext) -> list[Output]:
        """ACK of a 200 (confirms the call) or of a 487 (ends the CANCELled transaction); never answered."""
        if self.calls.completed.pop(ctx.call_id, None) is not None:
            return []  # RFC 3261 17.2.1: the ACK moves the transaction to "Confirmed"; it is absorbed
        call = self.calls.calls.get(ctx.call_id)
        if call is not None and call.state == "answered":
            call.confirmed = True
            call.last_activity = ctx.now
        return []

    def cancel(self, ctx: RequestContext) -> list[Output]:
        """CANCEL: 200, and 487 for the INVITE while it rings; 481 when no such transaction exists."""
        core = self.core
        completed = self.calls.completed.get(ctx.call_id)
        if completed is not None and completed.branch == ctx.branch:
            # A retransmitted CANCEL, or one after a BYE on the early dialog: the transaction exists,
            # so 200, and nothing else changes (RFC 3261 9.2).
            return core._reply(ctx, 200, to_tag=completed.local_tag, trusted=True)
        call = self.calls.calls.get(ctx.call_id)
        # RFC 3261 9.2: the CANCEL matches the INVITE's transaction by its top Via branch.
        if call is None or call.branch != ctx.branch:
            return core._reply(ctx, 481) + core._record(ctx, "probe")
        ok = core._reply(ctx, 200, to_tag=call.local_tag, trusted=True)
        if call.state != "ringing":
            # RFC 3261 9.2: after the final response a CANCEL changes nothing; the caller must BYE.
            return ok
        return ok + self._terminate(call, ctx.now, "cancel")

    def bye(self, ctx: RequestContext) -> list[Output]:
        """BYE: 200 and the call ends; on a ringing (early) dialog the INVITE also gets 487 (RFC 3261 15.1.2)."""
        core = self.core
        call = self.calls.calls.get(ctx.call_id)
        if call is None:
            return core._reply(ctx, 481) + core._record(ctx, "probe")
        ok = core._reply(ctx, 200, to_tag=call.local_tag, trusted=True)
        if call.state == "ringing":
            return ok + self._terminate(call, ctx.now, "bye")
        return ok + self.end_call(ctx.call_id, ctx.now, "bye")

    # -- timers --------------------------------------------------------------------------------

    def handle_timer(self, now: float) -> list[Output]:
        """Answer calls whose ring time is over, repeat unacknowledged answers, end dead calls."""
        out: list[Output] = []
        for call in self.calls.ringing_done(now):
            out += self._answer(call, now)
        for call in self.calls.unacknowledged(now):
            if now - call.started >= ACK_TIMEOUT_SECONDS:
                # RFC 3261 13.3.1.4: no ACK within 64*T1 ends the dialog.
                out += self.end_call(call.call_id, now, "no_ack")
                continue
            assert call.ok is not None
            out.append(SendTo(call.ok, call.peer))
            call.retransmit_interval = min(2 * call.retransmit_interval, T2_SECONDS)
            call.retransmit_at = now + call.retransmit_interval
        for done in list(self.calls.completed.values()):
            if now >= done.expires_at:
                del self.calls.completed[done.call_id]  # timer H: the ACK never came
            elif done.retransmit_at is not None and now >= done.retransmit_at:
                out.append(SendTo(done.response, done.peer))  # timer G
                done.retransmit_interval = min(2 * done.retransmit_interval, T2_SECONDS)
                done.retransmit_at = now + done.retransmit_interval
        config = self.core.config
        for call in self.calls.expired(now, silence=config.call_timeout_seconds, longest=config.max_call_seconds):
            out += self.end_call(call.call_id, now, "timeout")
        return out

    def end_call(self, call_id: str, now: float, reason: str) -> list[Output]:
        """End a call: free its port, stop its media and report `call_ended`."""
        call = self.calls.remove(call_id)
        if call is None:
            return []
        if call.state == "ringing":
            detail: dict[str, Any] = {"reason": reason, "answered": False, "ring_seconds": round(now - call.invited, 3)}
            event = Emit(self._call_event(call, "call_ended", now, detail=detail))
            if call.early_media:
                return [StopMedia(call_id), event]
            self.core.ports.release(call.peer.local_ip, call.local_port)  # no media was started
            return [event]
        detail = {"reason": reason, "seconds": round(now - call.started, 3)}
        return [StopMedia(call_id), Emit(self._call_event(call, "call_ended", now, detail=detail))]

    # -- steps ---------------------------------------------------------------------------------

    def _ring(self, ctx: RequestContext, username: str | None, target: str | None) -> list[Output]:
        """A new authenticated call: hold an RTP port, answer the SDP, ring, and answer now or later."""
        core, request = self.core, ctx.request
        if self.calls.full():
            return core._reply(ctx, 486, trusted=True)
        port = self.calls.ports.take(lambda p: core.ports.reserve(ctx.peer.local_ip, p))
        if port is None:
            return core._reply(ctx, 486, trusted=True)
        session_id = int(ctx.now)
        plan = None
        if request.body:
            plan = self._plan(request.body, ctx.peer, port, session_id)
        if plan is None:
            self.calls.ports.give_back(port)
            core.ports.release(ctx.peer.local_ip, port)
            return core._reply(ctx, 488, trusted=True)
        ring = self._ring_seconds()
        call = Call(
            call_id=ctx.call_id,
            peer=ctx.peer,
            username=username,
            local_tag=core.token(4),
            local_port=port,
            answer=plan.answer,
            session_id=session_id,
            started=ctx.now + ring,
            last_activity=ctx.now,
            payload_type=plan.payload_type,
            dtmf_payload_type=plan.dtmf_payload_type,
            remote=plan.remote,
            target=target,
            state="ringing",
            invite=request,
            branch=ctx.branch,
            invited=ctx.now,
        )
        self.calls.add(call)
        out = core._reply(ctx, 100, trusted=True)
        if ring > 0 and core.persona.early_media:
            # RFC 3261 13.3.1.1 / RFC 3960: the answer goes in the 183 and the ringback is real audio,
            # so the port must be bound first; the 200 later repeats the same SDP.
            call.early_media = True
            out.append(self._start_media(call))
            ringing = core._reply(
                ctx, 183, to_tag=call.local_tag, extra=self._contact(ctx.peer), body=call.answer, trusted=True
            )
        else:
            ringing = core._reply(ctx, 180, to_tag=call.local_tag, trusted=True)
        call.provisional = next(item.data for item in ringing if isinstance(item, Reply))
        out += ringing
        if ring <= 0:
            return out + self._answer(call, ctx.now, reply=True)
        return [*out, Wake(call.started)]

    @staticmethod
    def _contact(peer: Peer) -> tuple[tuple[str, str], ...]:
        return (("Contact", f"<sip:{peer.local_ip}:{peer.local_port}>"),)

    def _ring_seconds(self) -> float:
        """This call's ring time, from the injected randomness (tests pick it exactly)."""
        low, high = self.core.config.ring_seconds
        if high <= low:
            return low
        return low + (high - low) * int(self.core.token(2), 16) / 0xFFFF

    def _answer(self, call: Call, now: float, *, reply: bool = False) -> list[Output]:
        """The ring is over: start the media (the port is bound before the SDP names it), send 200."""
        assert call.invite is not None
        call.state = "answered"
        call.started = call.last_activity = now
        call.provisional = None
        out: list[Output] = [] if call.early_media else [self._start_media(call)]
        out += self._send_ok(call.invite, call.peer, call, now, reply=reply)
        detail = {"codec": codec_name(call.payload_type), "ring_seconds": round(now - call.invited, 3)}
        out.append(Emit(self._call_event(call, "call_answered", now, detail=detail)))
        return out

    def _send_ok(self, request: Request, peer: Peer, call: Call, now: float, *, reply: bool) -> list[Output]:
        data = build_response(
            request, peer, self.core.persona, 200, to_tag=call.local_tag, extra=self._contact(peer), body=call.answer
        )
        if peer.transport == "udp":
            # Only UDP loses datagrams; over TCP/TLS the transport delivers the 200 (RFC 3261 17.2.1).
            call.ok = data
            call.retransmit_interval = T1_SECONDS
            call.retransmit_at = now + T1_SECONDS
        return [Reply(data) if reply else SendTo(data, peer)]

    def _terminate(self, call: Call, now: float, reason: str) -> list[Output]:
        """End a ringing call: 487 to its INVITE, kept for retransmission until the ACK."""
        assert call.invite is not None
        out = self.end_call(call.call_id, now, reason)
        terminated = build_response(call.invite, call.peer, self.core.persona, 487, to_tag=call.local_tag)
        udp = call.peer.transport == "udp"
        self.calls.completed[call.call_id] = Completed(
            call_id=call.call_id,
            branch=call.branch,
            peer=call.peer,
            response=terminated,
            local_tag=call.local_tag,
            expires_at=now + ACK_TIMEOUT_SECONDS,
            retransmit_at=now + T1_SECONDS if udp else None,
            retransmit_interval=T1_SECONDS,
        )
        return [SendTo(terminated, call.peer), *out]

    def _reinvite(self, ctx: RequestContext, call: Call) -> list[Output]:
        if ctx.request.body:
            plan = self._plan(ctx.request.body, ctx.peer, call.local_port, call.session_id)
            if plan is None:
                return self.core._reply(ctx, 488, to_tag=call.local_tag, trusted=True)
            call.answer, call.remote = plan.answer, plan.remote
            call.payload_type, call.dtmf_payload_type = plan.payload_type, plan.dtmf_payload_type
        call.last_activity = ctx.now
        call.confirmed = False  # the new 200 OK is retransmitted until its own ACK
        return [self._start_media(call), *self._send_ok(ctx.request, ctx.peer, call, ctx.now, reply=True)]

    def _plan(self, body: bytes, peer: Peer, port: int, session_id: int) -> MediaPlan | None:
        persona = self.core.persona
        return plan_media(
            body,
            address=peer.local_ip,
            port=port,
            session_id=session_id,
            username=persona.sdp_username,
            session_name=persona.session_name,
        )

    def _start_media(self, call: Call) -> StartMedia:
        host, port = call.remote if call.remote else (None, None)
        return StartMedia(
            call.call_id,
            call.local_port,
            host,
            port,
            call.payload_type,
            call.dtmf_payload_type,
            call.peer,
            call.username,
        )

    # -- events --------------------------------------------------------------------------------

    def _call_attempt(self, ctx: RequestContext, target: str | None, caller: str | None) -> Event:
        fields: dict[str, Any] = {"username": caller}
        if target:
            dialled = normalize_dialled(target_from_uri_user(target))
            fields.update(target=target, target_e164=dialled.e164, target_country=dialled.country)
        return self.core._event(ctx, "call_attempt", **fields)

    def _call_event(self, call: Call, kind: EventKind, now: float, *, detail: dict[str, Any]) -> Event:
        fields: dict[str, Any] = {}
        if call.target:
            dialled = normalize_dialled(target_from_uri_user(call.target))
            fields.update(target=call.target, target_e164=dialled.e164, target_country=dialled.country)
        return self.core.make_event(
            kind, call.peer, now, method="INVITE", username=call.username, call_id=call.call_id, detail=detail, **fields
        )
