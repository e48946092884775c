"""The sans-I/O honeypot: request in, responses, events and media actions out.

`HoneypotCore.receive(data, peer, now)` takes the bytes of one SIP message and returns `Output`s;
`handle_timer(now)` closes aggregation windows and does what `handle_calls(now)` does: answer calls
whose ring time is over, repeat unacknowledged answers, time out calls. A `Wake(at)` output asks for
`handle_calls` at a given time. Time, addresses and randomness (`token`, the nonce mint) are
parameters, so tests drive it exactly; server.py is the thin asyncio layer around it. INVITE
transactions and calls live in invite.py.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sipwarden.events import Event, EventKind, bound_raw
from sipwarden.sensors.honeypot.aggregate import Aggregator
from sipwarden.sensors.honeypot.auth import Authenticator, AuthResult
from sipwarden.sensors.honeypot.bait import BaitPolicy, BaitRange
from sipwarden.sensors.honeypot.calls import CallTable, NoReservation, PortPool, PortReserver
from sipwarden.sensors.honeypot.fields import (
    BRANCH,
    TAG,
    param_after_uri,
    register_expires,
    request_uri_user,
    uri_user,
    user_of,
)
from sipwarden.sensors.honeypot.invite import InviteServer
from sipwarden.sensors.honeypot.nonces import NonceMint, NonceVerdict
from sipwarden.sensors.honeypot.outputs import Emit, Output, Peer, Reply
from sipwarden.sensors.honeypot.personas import Persona
from sipwarden.sensors.honeypot.ratelimit import RateLimiter
from sipwarden.sensors.honeypot.recovery import HeldEvents
from sipwarden.sensors.honeypot.responses import bounded_reply, build_response
from sipwarden.sensors.honeypot.tools import recognise
from sipwarden.sip.digest import make_challenge, parse_authorization
from sipwarden.sip.errors import ProtocolError
from sipwarden.sip.message import Request, parse_message

log = logging.getLogger(__name__)

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
    #: Range the ring time of an authenticated call is picked from; (0, 0) answers at once.
    ring_seconds: tuple[float, float] = (0.0, 0.0)
    #: How long a digest nonce is accepted, and the key of its MAC (empty: random per process).
    nonce_seconds: float = 300.0
    nonce_secret: bytes = b""


@dataclass(frozen=True, slots=True)
class RequestContext:
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
    branch: str | None


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
        nonces: NonceMint | None = None,
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
        # Nonce salts (like tags and ring times) come from `token`, the one source of randomness, which
        # returns hex as secrets.token_hex does; the MAC key is random per process unless configured.
        self.nonces = nonces or NonceMint(
            lifetime=config.nonce_seconds,
            style=config.persona.nonce_style,
            secret=config.nonce_secret or None,
            salt=lambda size: bytes.fromhex(self.token(size)),
        )
        self.invites = InviteServer(self)

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
        """Close aggregation windows, go on with password searches, and `handle_calls(now)`."""
        out: list[Output] = [Emit(e) for e in self.aggregator.flush(now)]
        out += [Emit(e) for e in self.held.resume(now)]
        return out + self.handle_calls(now)

    def handle_calls(self, now: float) -> list[Output]:
        """Answer calls whose ring time is over, repeat unacknowledged answers, end dead calls."""
        return self.invites.handle_timer(now)

    def media_activity(self, call_id: str, now: float) -> None:
        """The media layer saw audio for `call_id` at `now` (keeps the call from timing out)."""
        call = self.calls.calls.get(call_id)
        if call is not None:
            call.last_activity = now

    def end_call(self, call_id: str, now: float, reason: str) -> list[Output]:
        """End a call: free its port, stop its media and report `call_ended`."""
        return self.invites.end_call(call_id, now, reason)

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
        call_id = headers.get("Call-ID") or ""
        ctx = RequestContext(request, peer, now, len(raw), raw, user_agent, tool, from_tag, call_id, branch)
        method = request.method
        if method == "OPTIONS":
            return self._options(ctx)
        if method == "REGISTER":
            return self._register(ctx)
        if method == "INVITE":
            return self.invites.invite(ctx)
        if method == "ACK":
            return self.invites.ack(ctx)
        if method == "CANCEL":
            return self.invites.cancel(ctx)
        if method == "BYE":
            return self.invites.bye(ctx)
        return self._other(ctx)

    # -- helpers -------------------------------------------------------------------------------

    def _event(self, ctx: RequestContext, kind: EventKind, **fields: Any) -> Event:
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

    def _record(self, ctx: RequestContext, kind: EventKind, **fields: Any) -> list[Output]:
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
        ctx: RequestContext,
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

    def _refusal(
        self, ctx: RequestContext, kind: EventKind, result: AuthResult, *, nonce: str | None = None, **fields: Any
    ) -> list[Output]:
        """The event for refused credentials; held back while its password search goes on."""
        detail: dict[str, Any] = {"recovered_by": result.recovered_by} if result.recovered_by else {}
        if nonce is not None:
            detail["nonce"] = nonce
        if result.search is not None:
            event = self._event(ctx, kind, username=result.username, detail=detail, **fields)
            if self.held.hold(event, result.search, ctx.now):
                return []
        return self._record(ctx, kind, username=result.username, password=result.password, detail=detail, **fields)

    def _challenge(self, ctx: RequestContext, *, stale: bool = False) -> tuple[tuple[str, str], ...]:
        realm = self.persona.realm
        challenge = make_challenge(realm, lambda: self.nonces.issue(realm, ctx.now), qop=self.persona.qop, stale=stale)
        return (("WWW-Authenticate", challenge.to_header()),)

    def _authenticate(self, ctx: RequestContext, authorization: str) -> tuple[AuthResult, NonceVerdict]:
        """The verdict on credentials and on their nonce; only a fresh nonce of ours can open an account."""
        creds = parse_authorization(authorization)
        # The realm is part of the nonce's MAC: a nonce offered for another realm is not ours.
        nonce = self.nonces.check(creds.nonce, creds.realm, ctx.now)
        method = ctx.request.method
        result = self.auth.check(creds, method, source=ctx.peer.ip, from_tag=ctx.from_tag, accept=nonce == "fresh")
        return result, nonce

    def _nonce_refusal(
        self, ctx: RequestContext, result: AuthResult, nonce: NonceVerdict, **fields: Any
    ) -> list[Output]:
        """A fresh 401 for credentials on an expired nonce (`stale=true`, RFC 7616 3.3) or on one we
        never issued (no stale: the client must ask its user again), and the refusal event."""
        out = self._reply(ctx, 401, extra=self._challenge(ctx, stale=nonce == "stale"))
        return out + self._refusal(ctx, "auth_failure", result, nonce=nonce, **fields)

    def malformed(self, data: bytes, peer: Peer, now: float, reason: str) -> list[Output]:
        """A `malformed` event for bytes that could not be used (aggregated like any probe)."""
        event = self.make_event("malformed", peer, now, raw=bound_raw(data), detail={"error": reason[:200]})
        return self._emit(event, now)

    def _credentials(self, ctx: RequestContext) -> str | None:
        headers = ctx.request.headers
        return headers.get("Authorization") or headers.get("Proxy-Authorization")

    # -- methods -------------------------------------------------------------------------------

    def _options(self, ctx: RequestContext) -> list[Output]:
        user = request_uri_user(ctx.request)
        status = 200
        if user and self.persona.unknown_user == "404" and not self.policy.exists(user):
            # chan_pjsip answers OPTIONS for a missing endpoint with 404; svwar -m OPTIONS relies on it.
            status = 404
        return self._reply(ctx, status) + self._record(ctx, "probe", username=user)

    def _register(self, ctx: RequestContext) -> list[Output]:
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
        result, nonce = self._authenticate(ctx, authorization)
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
        if nonce != "fresh":
            return self._nonce_refusal(ctx, result, nonce)
        return self._reply(ctx, 403) + self._refusal(ctx, "auth_failure", result)

    def _other(self, ctx: RequestContext) -> list[Output]:
        call = self.calls.calls.get(ctx.call_id)
        if call is not None:
            return self._reply(ctx, 200, to_tag=call.local_tag, trusted=True)
        if ctx.request.method in CHALLENGED_METHODS:
            out = self._reply(ctx, 401, extra=self._challenge(ctx))
        else:
            out = self._reply(ctx, 405)
        return out + self._record(ctx, "probe", username=user_of(ctx.request.headers.get("From")))
