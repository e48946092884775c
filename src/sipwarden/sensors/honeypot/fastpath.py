"""A lean path for OPTIONS, the request scanners flood with: same answer, a fraction of the work.

`FastPath.receive(data, peer, now)` answers a plain OPTIONS itself and hands everything else to
`HoneypotCore.receive`. "Plain" is decided conservatively: a message is taken here only when the full
parser (`sip.message.parse_message`) would accept it with exactly the header values read here, so the
reply bytes, the event and the counts are the ones the full path gives (tests/honeypot/
test_honeypot_fastpath.py compares both on many requests). Anything unusual (folding, LF-only line
ends, compact or odd spacing the full parser would normalise differently, a body, repeated headers,
long lines) falls back before any state changes, so the malformed-input guarantees stay with the core.

What it saves per request (the flood profile in docs/benchmarks.md): no `Headers`/`Request` objects,
no generic header loop over every canonical name, the persona's static reply headers serialized once,
To tags cut from a pool of random bytes instead of one `secrets.token_hex` call each, and no `Event`
unless the aggregation window is new.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Final, cast

from sipwarden.events import bound_raw
from sipwarden.sensors.honeypot.core import HoneypotCore
from sipwarden.sensors.honeypot.fields import BRANCH, TAG, param_after_uri, uri_user
from sipwarden.sensors.honeypot.outputs import Emit, Output, Peer, Reply
from sipwarden.sensors.honeypot.personas import Persona
from sipwarden.sensors.honeypot.responses import MAX_AMPLIFICATION, REASONS, fill_top_via, with_to_tag
from sipwarden.sensors.honeypot.tools import recognise
from sipwarden.sip.abnf import REQUEST_URI_RE
from sipwarden.sip.headers import canonical_name, split_header_values
from sipwarden.sip.limits import MAX_CSEQ

log = logging.getLogger(__name__)

#: Requests larger than this take the full path. A scanner's OPTIONS is 300-600 bytes; staying far
#: below every parser limit (message 65535, line 16384, start line 8192) means none needs checking.
MAX_FAST_SIZE: Final = 4096
#: Header lines a fast request may have (the parser's limit is 256; scanners send about 10).
MAX_FAST_LINES: Final = 64
#: Request-URIs whose grammar check is remembered; a flood repeats one, a scan of many hosts a few.
MAX_URI_CACHE: Final = 4096
#: To tags cut from one draw of the system's random source (8 hex characters, 32 bits, each).
TAG_POOL: Final = 4096
TAG_CHARS: Final = 8

_PREFIX: Final = b"OPTIONS "
_END: Final = b"\r\n\r\n"

#: The header names a fast request may carry, as written on the wire, and their canonical form. A name
#: not listed here (or a listed one with space before the colon) sends the request down the full path.
_NAMES: Final[dict[str, str]] = {
    spelling: canonical_name(spelling)
    for name in (
        "Via", "From", "To", "Call-ID", "CSeq", "Max-Forwards", "Contact", "User-Agent", "Accept",
        "Content-Length", "Allow", "Supported", "Subject", "Date", "Expires", "Accept-Language",
        "Accept-Encoding", "Organization", "Record-Route", "Route", "Require", "Proxy-Require", "Server",
    )
    for spelling in (name, name.lower())
} | {short: canonical_name(short) for short in ("v", "f", "t", "i", "m", "l", "k", "s", "V", "F", "T", "I", "M", "L")}  # fmt: skip
_MANDATORY: Final = frozenset({"Via", "From", "To", "Call-ID", "CSeq"})


class TagPool:
    """To tags from a pool of system randomness: 32 random bits each, like `secrets.token_hex(4)`.

    RFC 3261 19.3 asks tags to be globally unique and cryptographically random with at least 32 bits;
    cutting them from one large `secrets.token_hex` draw keeps both (every tag is fresh randomness from
    the OS, never a counter an attacker could predict) and costs one slice instead of a system call.
    """

    def __init__(self, size: int = TAG_POOL) -> None:
        self.size = size
        self._pool = ""
        self._at = 0

    def __call__(self) -> str:
        at = self._at
        if at >= len(self._pool):
            self._pool = secrets.token_hex(self.size * TAG_CHARS // 2)
            at = 0
        self._at = at + TAG_CHARS
        return self._pool[at : at + TAG_CHARS]


def _static_tail(persona: Persona, status: int, *, minimal: bool) -> str:
    """The reply headers after CSeq that do not depend on the request (responses.build_response)."""
    if minimal:
        return "Content-Length: 0\r\n\r\n"
    lines = [f"{persona.agent_header}: {persona.agent}", f"Allow: {persona.allow}", f"Supported: {persona.supported}"]
    if status == 200:
        lines.append(f"Accept: {persona.accept}")
    return "\r\n".join([*lines, "Content-Length: 0", "", ""])


class FastPath:
    """Answers plain OPTIONS requests for `core`; hands everything else to `core.receive`."""

    def __init__(self, core: HoneypotCore, *, tag: Callable[[], str] | None = None) -> None:
        self.core = core
        self.tag = tag if tag is not None else TagPool()
        persona = core.persona
        # Persona values are constants; a persona whose text could break a header line stays on the full path.
        self.enabled = not any(
            c in text for text in (persona.agent, persona.allow, persona.supported, persona.accept) for c in "\r\n\x00"
        )
        self._tails = {
            (status, minimal): _static_tail(persona, status, minimal=minimal) for status in (200, 404) for minimal in (False, True)
        }  # fmt: skip
        self._uris: dict[str, tuple[bool, str | None]] = {}
        self.fast = 0
        self.full = 0

    def receive(self, data: bytes, peer: Peer, now: float) -> list[Output]:
        """The core's outputs for `data`, computed here when the request is a plain OPTIONS."""
        if self.enabled and data.startswith(_PREFIX):
            try:
                out = self.options(data, peer, now)
            except Exception:  # a bug here must cost speed, not the request: the full path still answers
                log.exception("OPTIONS fast path failed on %d bytes from %s:%s", len(data), peer.ip, peer.port)
                out = None
            if out is not None:
                self.fast += 1
                return out
        self.full += 1
        return self.core.receive(data, peer, now)

    def options(self, data: bytes, peer: Peer, now: float) -> list[Output] | None:
        """Outputs for a plain OPTIONS, or None (nothing changed) when the full path must take it."""
        size = len(data)
        # One CRLF CRLF, at the very end: no body, no LF-only or mixed line ends (RFC 3261 7.5), no NUL.
        if size > MAX_FAST_SIZE or data.find(_END) != size - 4 or b"\x00" in data:
            return None
        text = data[: size - 4].decode("latin-1")
        lines = text.split("\r\n")
        count = len(lines)
        if count > MAX_FAST_LINES or text.count("\n") != count - 1 or text.count("\r") != count - 1:
            return None
        start = lines[0].split(" ")
        if len(start) != 3 or start[0] != "OPTIONS" or start[2] != "SIP/2.0":
            return None  # extra spaces, another version spelling: the parser's tolerance rules decide
        uri_info = self._uri(start[1])
        if uri_info is None:
            return None
        # Comprehensions rather than a loop body (as message.parse_message): one partition and one
        # dict lookup per line. A name not in _NAMES, a line without colon or a folded line (leading
        # SP/HT) gives None and the full path.
        split = [line.partition(":") for line in lines[1:]]
        found = [_NAMES.get(name) if colon else None for name, colon, _ in split]
        if None in found:
            return None
        names = cast(list[str], found)
        values = [value.strip(" \t") for _, _, value in split]
        # strict=False: both lists come from `split`, so their lengths are equal (and strict zip costs
        # a third of this function's time).
        fields = dict(zip(names, values, strict=False))
        if names.count("Via") == 1:
            vias = [fields["Via"]]
        else:
            vias = [value for name, value in zip(names, values, strict=False) if name == "Via"]
        # Only Via may repeat; a repeated single header is left to the parser's conflict rules.
        if len(names) - len(fields) != len(vias) - 1 or "" in vias or not fields.keys() >= _MANDATORY:
            return None  # (an empty Via entry is dropped by the parser's list split)
        if fields.get("Content-Length", "0") != "0":
            return None
        number, _, cseq_method = fields["CSeq"].partition(" ")
        if cseq_method != "OPTIONS" or not (number.isascii() and number.isdigit()) or len(number) > 10:
            return None
        if int(number) > MAX_CSEQ:
            return None
        max_forwards = fields.get("Max-Forwards")
        if max_forwards is not None and not (
            max_forwards.isascii() and max_forwards.isdigit() and len(max_forwards) <= 2
        ):
            return None
        return self._answer(data, peer, now, uri_info[1], vias, fields)

    def _uri(self, uri: str) -> tuple[bool, str | None] | None:
        """(valid, user) for a Request-URI, remembered; None when the grammar refuses it."""
        info = self._uris.get(uri)
        if info is None:
            info = (REQUEST_URI_RE.fullmatch(uri) is not None, uri_user(uri))
            if len(self._uris) >= MAX_URI_CACHE:
                self._uris.clear()
            self._uris[uri] = info
        return info if info[0] else None

    def _answer(
        self, data: bytes, peer: Peer, now: float, user: str | None, vias: list[str], fields: dict[str, str]
    ) -> list[Output] | None:
        """HoneypotCore._options for a parsed plain OPTIONS (same reply, same event, same counts)."""
        core = self.core
        persona = core.persona
        status = 200
        if user and persona.unknown_user == "404" and not core.policy.exists(user):
            status = 404  # as core._options: chan_pjsip answers OPTIONS for a missing endpoint with 404
        first_via = vias[0]  # the branch is read from the first Via line, as core._handle does
        if ("," in first_via) if len(vias) == 1 else any("," in via for via in vias):
            vias = [item for via in vias for item in split_header_values(via)]
            if not vias:
                return None
        vias = fill_top_via(vias, peer)
        from_value = fields["From"]
        to_value = fields["To"]
        call_id = fields["Call-ID"]
        user_agent = fields.get("User-Agent")
        tag = self.tag()
        head = "\r\n".join(
            [
                f"SIP/2.0 {status} {REASONS[status]}",
                *[f"Via: {via}" for via in vias],
                f"From: {from_value}",
                f"To: {with_to_tag(to_value, tag)}",
                f"Call-ID: {call_id}",
                f"CSeq: {fields['CSeq']}",
                "",
            ]
        )
        reply: bytes | None = None
        if peer.transport == "udp":
            # responses.bounded_reply: never answer with more than MAX_AMPLIFICATION times the request.
            limit = len(data) * MAX_AMPLIFICATION
            for minimal in (False, True):
                candidate = (head + self._tails[(status, minimal)]).encode("latin-1", "backslashreplace")
                if len(candidate) <= limit:
                    reply = candidate
                    break
        else:
            reply = (head + self._tails[(status, False)]).encode("latin-1", "backslashreplace")
        tool = recognise(
            user_agent=user_agent,
            from_tag=param_after_uri(from_value, TAG),
            # recognise() reads the branch only when there is no User-Agent (svmap -c): skip the search.
            branch=None if user_agent else param_after_uri(first_via, BRANCH),
            method="OPTIONS",
            to_user=uri_user(to_value),
        )
        out: list[Output] = []
        if peer.transport != "udp":
            assert reply is not None
            out.append(Reply(reply))
        elif not core.limiter.allow(peer.ip, now) or reply is None:
            core.dropped_replies += 1  # in this order, as core._reply: a too-large reply still spent a token
        else:
            out.append(Reply(reply))
        # core._record: a repeat within the aggregation window only bumps a count.
        key = (peer.ip, "probe", "OPTIONS", user_agent, tool, peer.transport, user, None, None)
        if not core.aggregator.hit(key, now):
            event = core.make_event(
                "probe",
                peer,
                now,
                method="OPTIONS",
                user_agent=user_agent,
                tool=tool,
                call_id=call_id or None,
                raw=bound_raw(data),
                username=user,
            )
            out += [Emit(e) for e in core.aggregator.add(event, now)]
        return out
