"""The sans-I/O honeypot: request in, responses, events and media actions out.

`HoneypotCore.receive(data, peer, now)` takes the bytes of one SIP message and returns `Output`s;
`handle_timer(now)` closes aggregation windows and times out calls. Time, addresses and randomness
(`token`) are parameters, so tests drive it exactly; server.py is the thin asyncio layer around it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sipwarden.events import Event, EventKind, bound_raw
from sipwarden.intel.numbers import normalize_dialled, target_from_uri_user
from sipwarden.sensors.honeypot.aggregate import Aggregator
from sipwarden.sensors.honeypot.auth import Authenticator, AuthResult
from sipwarden.sensors.honeypot.bait import BaitPolicy, BaitRange
from sipwarden.sensors.honeypot.calls import Call, CallTable, NoReservation, PortPool, PortReserver, plan_media
from sipwarden.sensors.honeypot.fields import (
    BRANCH,
    TAG,
    codec_name,
    param_after_uri,
    register_expires,
    request_uri_user,
    uri_user,
    user_of,
)
from sipwarden.sensors.honeypot.outputs import Emit, Output, Peer, Reply, SendTo, StartMedia, StopMedia
from sipwarden.sensors.honeypot.personas import Persona
from sipwarden.sensors.honeypot.ratelimit import RateLimiter
from sipwarden.sensors.honeypot.recovery import HeldEvents
from sipwarden.sensors.honeypot.responses import bounded_reply, build_response
from sipwarden.sensors.honeypot.tools import recognise
from sipwarden.sip.digest import make_challenge, parse_authorization
from sipwarden.sip.errors import ProtocolError
from sipwarden.sip.headers import parse_name_addr
from sipwarden.sip.message import Request, parse_message

log = logging.getLogger(__name__)

#: RFC 3261 17.1.1.1 timers: T1 (RTT estimate) and T2 (cap of the retransmit interval); a 200 OK to an
#: INVITE is retransmitted at T1, 2*T1... up to T2 until the ACK, for at most 64*T1 (13.3.1.4).
T1_SECONDS: Final = 0.5
T2_SECONDS: Final = 4.0
ACK_TIMEOUT_SECONDS: Final = 64 * T1_SECONDS
#: Request methods that may start a dialog or be challenged; others are refused with 405.
CHALLENGED_METHODS: Final = frozenset({"SUBSCRIBE", "NOTIFY", "PUBLISH", "MESSAGE", "REFER", "INFO", "UPDATE", "PRACK"})


@dataclass(frozen=True, slots=True)
class CoreConfig:
    """Everything the core needs to know, resolved from HoneypotSettings."""

    persona: Persona
    bait: tuple[BaitRange, ...]
    weak_passwords: tuple[str, ...]
    accept_own_number: bool
    rtp_ports: tuple[int, int]
    rate_per_source: float
    rate_burst: int
    aggregate_seconds: float
    recovery_tries_per_source: int
    call_timeout_seconds: float
    max_call_seconds: float
    sensor: str = ""


@dataclass(frozen=True, slots=True)
class _Ctx:
    """One request being handled, with what every event about it carries."""

    request: Request
    peer: Peer
    now: float
    size: int
    raw: bytes
    user_agent: str | None
    tool: str | None
    from_tag: str | None
    call_id: str


def _ts(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)


class HoneypotCore:
    """The honeypot's protocol logic; one instance per process, shared by every transport."""

    def __init__(
        self,
        config: CoreConfig,
        *,
        token: Callable[[int], str] = secrets.token_hex,
        ports: PortReserver | None = None,
    ) -> None:
        self.config = config
        self.ports = ports or NoReservation()
        self.persona = config.persona
        self.token = token
        self.policy = BaitPolicy(config.bait, config.weak_passwords, accept_own_number=config.accept_own_number)
        self.auth = Authenticator(self.policy, config.persona.realm, budget_per_source=config.recovery_tries_per_source)
        self.limiter = RateLimiter(config.rate_per_source, config.rate_burst)
        self.aggregator = Aggregator(config.aggregate_seconds)
        self.calls = CallTable(PortPool(*config.rtp_ports))
        self.dropped_replies = 0
        self.held = HeldEvents(self.auth)

    # -- entry points ------------------------------------------------------------------------

    def receive(self, data: bytes, peer: Peer, now: float) -> list[Output]:
        """Handle one datagram or framed stream message; never raises for hostile input."""
        try:
            message = parse_message(data)
        except ProtocolError as exc:
            return self.malformed(data, peer, now, str(exc))
        except Exception as exc:  # hostile input must never escape the loop (STYLE.md, practice 3)
            log.warning("parser failed on %d bytes from %s:%s: %r", len(data), peer.ip, peer.port, exc)
            return self.malformed(data, peer, now, f"parser error: {exc!r}")
        if not isinstance(message, Request):
            return []  # a response to nothing we sent: ignore, as a UAS does (RFC 3261 8.1.3.1)
        try:
            return self._handle(message, peer, now, data)
        except ProtocolError as exc:
            return self.malformed(data, peer, now, str(exc))
        except Exception as exc:
            log.exception("honeypot failed on a %s from %s:%s", message.method, peer.ip, peer.port)
            return self.malformed(data, peer, now, f"handler error: {exc!r}")

    def handle_timer(self, now: float) -> list[Output]:
        """Close aggregation windows and end calls that went silent or ran too long."""
        out: list[Output] = [Emit(e) for e in self.aggregator.flush(now)]
        out += [Emit(e) for e in self.held.resume(now)]
        for call in self.calls.unacknowledged(now):
            if now - call.started >= ACK_TIMEOUT_SECONDS:
                # RFC 3261 13.3.1.4: no ACK within 64*T1 ends the dialog.
                out += self.end_call(call.call_id, now, "no_ack")
                continue
            assert call.ok is not None
            out.append(SendTo(call.ok, call.peer))
            call.retransmit_interval = min(2 * call.retransmit_interval, T2_SECONDS)
            call.retransmit_at = now + call.retransmit_interval
        for call in self.calls.expired(
            now, silence=self.config.call_timeout_seconds, longest=self.config.max_call_seconds
        ):
            out += self.end_call(call.call_id, now, "timeout")
        return out

    def media_activity(self, call_id: str, now: float) -> None:
        """The media layer saw audio for `call_id` at `now` (keeps the call from timing out)."""
        call = self.calls.calls.get(call_id)
        if call is not None:
            call.last_activity = now

    def end_call(self, call_id: str, now: float, reason: str) -> list[Output]:
        """End a call: free its port, stop its media and report `call_ended`."""
        call = self.calls.remove(call_id)
        if call is None:
            return []
        event = self._call_event(
            call, "call_ended", now, detail={"reason": reason, "seconds": round(now - call.started, 3)}
        )
        return [StopMedia(call_id), Emit(event)]

    def close(self, now: float) -> list[Output]:
        """End every call and flush every pending count (shutdown)."""
        out: list[Output] = []
        for call_id in list(self.calls.calls):
            out += self.end_call(call_id, now, "shutdown")
        out += [Emit(e) for e in self.aggregator.flush_all()]
        out += [Emit(e) for e in self.held.release_all()]
        return out

    def make_event(self, kind: EventKind, peer: Peer, now: float, **fields: Any) -> Event:
        """An Event from this honeypot about `peer` (also used by the media layer)."""
        return Event(
            ts=_ts(now),
            kind=kind,
            source="honeypot",
            sensor=self.config.sensor,
            src_ip=peer.ip,
            src_port=peer.port,
            dst_ip=peer.local_ip,
            dst_port=peer.local_port,
            transport=peer.transport,
            **fields,
        )

    # -- dispatch ----------------------------------------------------------------------------

    def _handle(self, request: Request, peer: Peer, now: float, raw: bytes) -> list[Output]:
        headers = request.headers
        # The hot path (10,000 OPTIONS/s) reads tag, branch and user with small regexes instead of
        # full header parses; handlers that act on an account still parse From/To properly.
        from_tag = param_after_uri(headers.get("From"), TAG)
        branch = param_after_uri(headers.get("Via"), BRANCH)
        user_agent = headers.get("User-Agent")
        tool = recognise(
            user_agent=user_agent,
            from_tag=from_tag,
            branch=branch,
            method=request.method,
            body=request.body,
            to_user=uri_user(headers.get("To")),
        )
        ctx = _Ctx(request, peer, now, len(raw), raw, user_agent, tool, from_tag, headers.get("Call-ID") or "")
        method = request.method
        if method == "OPTIONS":
            return self._options(ctx)
        if method == "REGISTER":
            return self._register(ctx)
        if method == "INVITE":
            return self._invite(ctx)
        if method == "ACK":
            return self._ack(ctx)
        if method in ("BYE", "CANCEL"):
            return self._bye_or_cancel(ctx)
        return self._other(ctx)

    # -- helpers -------------------------------------------------------------------------------

    def _event(self, ctx: _Ctx, kind: EventKind, **fields: Any) -> Event:
        return self.make_event(
            kind,
            ctx.peer,
            ctx.now,
            method=ctx.request.method,
            user_agent=ctx.user_agent,
            tool=ctx.tool,
            call_id=ctx.call_id or None,
            raw=bound_raw(ctx.raw),
            **fields,
        )

    def _emit(self, event: Event, now: float) -> list[Output]:
        return [Emit(e) for e in self.aggregator.add(event, now)]

    def _record(self, ctx: _Ctx, kind: EventKind, **fields: Any) -> list[Output]:
        """Emit an event about the request; a repeat within the window only bumps a count, so a
        flood does not pay for building an Event per packet."""
        key = (
            ctx.peer.ip,
            kind,
            ctx.request.method,
            ctx.user_agent,
            ctx.tool,
            ctx.peer.transport,
            fields.get("username"),
            fields.get("password"),
            fields.get("target"),
        )
        if self.aggregator.hit(key, ctx.now):
            return []
        return self._emit(self._event(ctx, kind, **fields), ctx.now)

    def _reply(
        self,
        ctx: _Ctx,
        status: int,
        *,
        to_tag: str | None = None,
        extra: tuple[tuple[str, str], ...] = (),
        body: bytes = b"",
        trusted: bool = False,
    ) -> list[Output]:
        """A response; on UDP rate-limited per source and bounded in size unless `trusted`."""
        tag = to_tag if to_tag is not None else self.token(4)

        def build(minimal: bool) -> bytes:
            return build_response(
                ctx.request, ctx.peer, self.persona, status, to_tag=tag, extra=extra, body=body, minimal=minimal
            )

        if ctx.peer.transport != "udp" or trusted:
            return [Reply(build(False))]
        if not self.limiter.allow(ctx.peer.ip, ctx.now):
            self.dropped_replies += 1
            return []
        data = bounded_reply(ctx.size, build)
        if data is None:
            self.dropped_replies += 1
            return []
        return [Reply(data)]

    def _refusal(self, ctx: _Ctx, kind: EventKind, result: AuthResult, **fields: Any) -> list[Output]:
        """The event for refused credentials; held back while its password search goes on."""
        detail = {"recovered_by": result.recovered_by} if result.recovered_by else {}
        if result.search is not None:
            event = self._event(ctx, kind, username=result.username, detail=detail, **fields)
            if self.held.hold(event, result.search, ctx.now):
                return []
        return self._record(ctx, kind, username=result.username, password=result.password, detail=detail, **fields)

    def _challenge(self, ctx: _Ctx) -> tuple[tuple[str, str], ...]:
        challenge = make_challenge(self.persona.realm, lambda: self.token(16), qop=self.persona.qop)
        return (("WWW-Authenticate", challenge.to_header()),)

    def malformed(self, data: bytes, peer: Peer, now: float, reason: str) -> list[Output]:
        """A `malformed` event for bytes that could not be used (aggregated like any probe)."""
        event = self.make_event("malformed", peer, now, raw=bound_raw(data), detail={"error": reason[:200]})
        return self._emit(event, now)

    def _credentials(self, ctx: _Ctx) -> str | None:
        headers = ctx.request.headers
        return headers.get("Authorization") or headers.get("Proxy-Authorization")

    # -- methods -------------------------------------------------------------------------------

    def _options(self, ctx: _Ctx) -> list[Output]:
        user = request_uri_user(ctx.request)
        status = 200
        if user and self.persona.unknown_user == "404" and not self.policy.exists(user):
            # chan_pjsip answers OPTIONS for a missing endpoint with 404; svwar -m OPTIONS relies on it.
            status = 404
        return self._reply(ctx, status) + self._record(ctx, "probe", username=user)

    def _register(self, ctx: _Ctx) -> list[Output]:
        username = user_of(ctx.request.headers.get("To"))
        authorization = self._credentials(ctx)
        if authorization is None:
            if self.policy.exists(username) or self.persona.unknown_user == "challenge":
                kind: EventKind = "register"
                out = self._reply(ctx, 401, extra=self._challenge(ctx))
            else:
                kind = "unknown_user"
                out = self._reply(ctx, 404)
            return out + self._record(ctx, kind, username=username)
        creds = parse_authorization(authorization)
        result = self.auth.check(creds, "REGISTER", source=ctx.peer.ip, from_tag=ctx.from_tag)
        detail = {"recovered_by": result.recovered_by} if result.recovered_by else {}
        if result.outcome == "ok":
            contact = ctx.request.headers.get("Contact")
            expires = register_expires(ctx.request)
            extra: tuple[tuple[str, str], ...] = ()
            if contact and contact.strip() != "*":
                extra = (("Contact", f"{contact.split(';expires=')[0]};expires={expires}"),)
            extra += (("Expires", str(expires)),)
            event = self._event(ctx, "auth_success", username=result.username, password=result.password, detail=detail)
            return self._reply(ctx, 200, extra=extra, trusted=True) + self._emit(event, ctx.now)
        if result.outcome == "unknown_user" and self.persona.unknown_user == "404":
            return self._reply(ctx, 404) + self._refusal(ctx, "unknown_user", result)
        return self._reply(ctx, 403) + self._refusal(ctx, "auth_failure", result)

    def _invite(self, ctx: _Ctx) -> list[Output]:
        request = ctx.request
        call = self.calls.calls.get(ctx.call_id)
        to_tag = parse_name_addr(request.headers.get("To") or "<sip:x@x>").tag
        if to_tag is not None:
            if call is None or call.local_tag != to_tag:
                return self._reply(ctx, 481)
            return self._reinvite(ctx, call)
        out: list[Output] = []
        target = request_uri_user(ctx.request)
        caller = user_of(request.headers.get("From"))
        if ctx.call_id and self.calls.first_sight(ctx.call_id):
            out += self._emit(self._call_attempt(ctx, target, caller), ctx.now)
        authorization = self._credentials(ctx)
        if authorization is None:
            return out + self._reply(ctx, 401, extra=self._challenge(ctx))
        creds = parse_authorization(authorization)
        result = self.auth.check(creds, "INVITE", source=ctx.peer.ip, from_tag=ctx.from_tag)
        if result.outcome != "ok":
            return out + self._reply(ctx, 403) + self._refusal(ctx, "auth_failure", result, target=target)
        if call is not None:  # a retransmitted INVITE for an answered call: repeat the 200
            return out + self._answer(ctx, call)
        if self.calls.full():
            return out + self._reply(ctx, 486, trusted=True)
        port = self.calls.ports.take(lambda p: self.ports.reserve(ctx.peer.local_ip, p))
        if port is None:
            return out + self._reply(ctx, 486, trusted=True)
        session_id = int(ctx.now)
        plan = None
        if request.body:
            plan = plan_media(
                request.body,
                address=ctx.peer.local_ip,
                port=port,
                session_id=session_id,
                username=self.persona.sdp_username,
                session_name=self.persona.session_name,
            )
        if plan is None:
            self.calls.ports.give_back(port)
            self.ports.release(ctx.peer.local_ip, port)
            return out + self._reply(ctx, 488, trusted=True)
        call = Call(
            call_id=ctx.call_id,
            peer=ctx.peer,
            username=result.username,
            local_tag=self.token(4),
            local_port=port,
            answer=plan.answer,
            session_id=session_id,
            started=ctx.now,
            last_activity=ctx.now,
            payload_type=plan.payload_type,
            dtmf_payload_type=plan.dtmf_payload_type,
            remote=plan.remote,
            target=target,
        )
        self.calls.add(call)
        # Media first: the RTP port is bound before the 200 OK can make the caller send to it.
        out.append(self._start_media(call))
        out += self._reply(ctx, 100, trusted=True) + self._reply(ctx, 180, to_tag=call.local_tag, trusted=True)
        out += self._answer(ctx, call)
        answered = self._call_event(call, "call_answered", ctx.now, detail={"codec": codec_name(call.payload_type)})
        out.append(Emit(answered))
        return out

    def _reinvite(self, ctx: _Ctx, call: Call) -> list[Output]:
        if ctx.request.body:
            plan = plan_media(
                ctx.request.body,
                address=ctx.peer.local_ip,
                port=call.local_port,
                session_id=call.session_id,
                username=self.persona.sdp_username,
                session_name=self.persona.session_name,
            )
            if plan is None:
                return self._reply(ctx, 488, to_tag=call.local_tag, trusted=True)
            call.answer, call.remote = plan.answer, plan.remote
            call.payload_type, call.dtmf_payload_type = plan.payload_type, plan.dtmf_payload_type
        call.last_activity = ctx.now
        call.confirmed = False  # the new 200 OK is retransmitted until its own ACK
        return [self._start_media(call), *self._answer(ctx, call)]

    def _answer(self, ctx: _Ctx, call: Call) -> list[Output]:
        contact = (("Contact", f"<sip:{ctx.peer.local_ip}:{ctx.peer.local_port}>"),)
        out = self._reply(ctx, 200, to_tag=call.local_tag, extra=contact, body=call.answer, trusted=True)
        if ctx.peer.transport == "udp":
            # Only UDP loses datagrams; over TCP/TLS the transport delivers the 200 (RFC 3261 17.2.1).
            call.ok = next(item.data for item in out if isinstance(item, Reply))
            call.retransmit_interval = T1_SECONDS
            call.retransmit_at = ctx.now + T1_SECONDS
        return out

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

    def _ack(self, ctx: _Ctx) -> list[Output]:
        call = self.calls.calls.get(ctx.call_id)
        if call is not None:
            call.confirmed = True
            call.last_activity = ctx.now
        return []  # RFC 3261 17.2.1: ACK is never answered

    def _bye_or_cancel(self, ctx: _Ctx) -> list[Output]:
        call = self.calls.calls.get(ctx.call_id)
        if call is None:
            out = self._reply(ctx, 481)
            return out + self._record(ctx, "probe")
        # RFC 3261 9.2: a CANCEL after the final response has no effect on the call, but this
        # honeypot ends it anyway: a dialer that cancels will not send media.
        reason = "bye" if ctx.request.method == "BYE" else "cancel"
        return self._reply(ctx, 200, to_tag=call.local_tag, trusted=True) + self.end_call(ctx.call_id, ctx.now, reason)

    def _other(self, ctx: _Ctx) -> list[Output]:
        call = self.calls.calls.get(ctx.call_id)
        if call is not None:
            return self._reply(ctx, 200, to_tag=call.local_tag, trusted=True)
        if ctx.request.method in CHALLENGED_METHODS:
            out = self._reply(ctx, 401, extra=self._challenge(ctx))
        else:
            out = self._reply(ctx, 405)
        return out + self._record(ctx, "probe", username=user_of(ctx.request.headers.get("From")))

    # -- events ------------------------------------------------------------------------------

    def _call_attempt(self, ctx: _Ctx, target: str | None, caller: str | None) -> Event:
        fields: dict[str, Any] = {"username": caller}
        if target:
            dialled = normalize_dialled(target_from_uri_user(target))
            fields.update(target=target, target_e164=dialled.e164, target_country=dialled.country)
        return self._event(ctx, "call_attempt", **fields)

    def _call_event(self, call: Call, kind: EventKind, now: float, *, detail: dict[str, Any]) -> Event:
        fields: dict[str, Any] = {}
        if call.target:
            dialled = normalize_dialled(target_from_uri_user(call.target))
            fields.update(target=call.target, target_e164=dialled.e164, target_country=dialled.country)
        return self.make_event(
            kind, call.peer, now, method="INVITE", username=call.username, call_id=call.call_id, detail=detail, **fields
        )
