"""A paired harness for the honeypot core: build client bytes, feed the core, read what comes back."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from sipwarden.events import Event
from sipwarden.sensors.honeypot.core import HoneypotCore
from sipwarden.sensors.honeypot.outputs import Emit, Output, Peer, Reply, StartMedia, StopMedia
from sipwarden.sensors.honeypot.server import core_config
from sipwarden.sensors.honeypot.settings import HoneypotSettings
from sipwarden.sip.digest import make_credentials, parse_challenge
from sipwarden.sip.message import Response, parse_message

# Documentation addresses (RFC 5737): the core never sends anything itself, it only returns bytes.
ATTACKER = Peer("203.0.113.7", 5062, "udp", "192.0.2.10", 5060)
SDP_OFFER = (
    b"v=0\r\no=- 1 1 IN IP4 203.0.113.7\r\ns=-\r\nc=IN IP4 203.0.113.7\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
)


def counter_token() -> Callable[[int], str]:
    """Deterministic stand-in for secrets.token_hex: t0001, t0002... padded to the asked length."""
    numbers = itertools.count(1)
    return lambda n: f"{next(numbers):0{2 * n}x}"


def make_core(**settings: Any) -> HoneypotCore:
    """A core with default settings changed by `settings` and deterministic tokens.

    Calls are answered at once unless `ring_seconds` is given (tests of ringing pass it).
    """
    persona = settings.pop("persona_name", None)
    settings.setdefault("ring_seconds", "0-0")
    return HoneypotCore(
        core_config(HoneypotSettings(**settings), sensor="test", persona=persona), token=counter_token()
    )


def sip_request(
    method: str,
    uri: str = "sip:100@192.0.2.10",
    *,
    from_user: str = "100",
    to_user: str | None = None,
    from_tag: str | None = "f00d",
    to_tag: str | None = None,
    call_id: str = "call-1@203.0.113.7",
    cseq: int = 1,
    user_agent: str | None = "Zoiper rv2.10",
    branch: str = "z9hG4bK776asdhds",
    rport: bool = True,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
) -> bytes:
    """The bytes of a request as a typical client sends it."""
    to_user = to_user if to_user is not None else from_user
    via = f"SIP/2.0/UDP 10.0.0.5:5062;branch={branch}" + (";rport" if rport else "")
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: {via}",
        "Max-Forwards: 70",
        f"From: <sip:{from_user}@192.0.2.10>" + (f";tag={from_tag}" if from_tag else ""),
        f"To: <sip:{to_user}@192.0.2.10>" + (f";tag={to_tag}" if to_tag else ""),
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
        f"Contact: <sip:{from_user}@10.0.0.5:5062>",
    ]
    if user_agent:
        lines.append(f"User-Agent: {user_agent}")
    lines += [f"{k}: {v}" for k, v in headers]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def replies(outputs: Sequence[Output]) -> list[Response]:
    """The responses among `outputs`, parsed back."""
    out = []
    for item in outputs:
        if isinstance(item, Reply):
            message = parse_message(item.data)
            assert isinstance(message, Response)
            out.append(message)
    return out


def events(outputs: Sequence[Output]) -> list[Event]:
    """The events among `outputs`."""
    return [item.event for item in outputs if isinstance(item, Emit)]


def media(outputs: Sequence[Output]) -> list[StartMedia | StopMedia]:
    """The media actions among `outputs`."""
    return [item for item in outputs if isinstance(item, StartMedia | StopMedia)]


def answer_challenge(response: Response, *, username: str, password: str, method: str, uri: str) -> tuple[str, str]:
    """The Authorization header a client sends after `response` (a 401)."""
    value = response.headers.get("WWW-Authenticate")
    assert value is not None, "expected a challenge"
    creds = make_credentials(
        parse_challenge(value), username=username, password=password, method=method, uri=uri, cnonce="c0ffee"
    )
    return ("Authorization", creds.to_header())
