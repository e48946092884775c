"""Build responses the way a real UAS does (RFC 3261 8.2.6): echo what must be echoed, add what a
persona adds, and never answer with much more than was asked (amplification bound).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from sipwarden.sensors.honeypot.outputs import Peer
from sipwarden.sensors.honeypot.personas import Persona
from sipwarden.sip.errors import LocalProtocolError
from sipwarden.sip.message import Request

#: A UDP reply may be at most this many times the request's size (a reflector's gain). Above it the
#: reply is cut to the headers RFC 3261 8.2.6.2 requires, or dropped. DNS RRL and the SIP
#: amplification write-ups use the same order of magnitude.
MAX_AMPLIFICATION: Final = 3.0

REASONS: Final[dict[int, str]] = {
    100: "Trying",
    180: "Ringing",
    183: "Session Progress",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    481: "Call/Transaction Does Not Exist",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    500: "Server Internal Error",
}


def response_vias(request: Request, peer: Peer) -> list[str]:
    """The request's Via values, the top one with `received` and `rport` filled in.

    RFC 3261 18.2.1: add `received` when the sent-by host differs from the packet's source;
    RFC 3581 4: fill an empty `rport` with the source port (and then always add `received`).
    Done on the text of the top value (split at `;`, which no Via parameter may contain) because
    this runs for every reply of an OPTIONS flood.
    """
    return fill_top_via(request.headers.get_all("Via"), peer)  # list headers come split (Headers.get_all)


def fill_top_via(values: list[str], peer: Peer) -> list[str]:
    """`values` (Via entries, topmost first) with `received`/`rport` of the top one filled in (see above)."""
    if not values:
        return values
    head, *params = values[0].split(";")
    names = [p.split("=", 1)[0].strip().lower() for p in params]
    sent_by = head.strip().rpartition(" ")[2]
    host = sent_by.rpartition("]")[0].lstrip("[") if sent_by.startswith("[") else sent_by.partition(":")[0]
    if "rport" not in names and host == peer.ip:
        return values
    kept = [p for p, n in zip(params, names, strict=True) if n not in ("rport", "received")]
    if "rport" in names:
        kept.append(f"rport={peer.port}")
    kept.append(f"received={peer.ip}")
    values[0] = ";".join([head, *kept])
    return values


def with_to_tag(to_value: str, tag: str) -> str:
    """The To value with `;tag=` added unless it already has one (RFC 3261 8.2.6.2)."""
    if ";tag=" in to_value.replace(" ", "").lower():
        return to_value
    return f"{to_value};tag={tag}"


def build_response(
    request: Request,
    peer: Peer,
    persona: Persona,
    status: int,
    *,
    to_tag: str | None,
    extra: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
    minimal: bool = False,
) -> bytes:
    """Serialize the answer to `request`. `minimal` keeps only the headers a response must carry."""
    headers = request.headers
    pairs: list[tuple[str, str]] = [("Via", v) for v in response_vias(request, peer)]
    from_value = headers.get("From") or ""
    to_value = headers.get("To") or ""
    if to_tag is not None and status != 100:
        to_value = with_to_tag(to_value, to_tag)
    pairs += [
        ("From", from_value),
        ("To", to_value),
        ("Call-ID", headers.get("Call-ID") or ""),
        ("CSeq", headers.get("CSeq") or ""),
    ]
    if not minimal:
        pairs.append((persona.agent_header, persona.agent))
        pairs.extend(extra)
        if status in (200, 405) or request.method == "OPTIONS":
            pairs += [("Allow", persona.allow), ("Supported", persona.supported)]
        if request.method == "OPTIONS" and status == 200:
            pairs.append(("Accept", persona.accept))
    else:
        pairs.extend((k, v) for k, v in extra if k in {"WWW-Authenticate", "Contact"})
        body = b""
    if body:
        pairs.append(("Content-Type", content_type or "application/sdp"))
    pairs.append(("Content-Length", str(len(body))))
    return _serialize(status, pairs, body)


def _serialize(status: int, pairs: list[tuple[str, str]], body: bytes) -> bytes:
    """Response bytes. Like message.serialize_response, without building a Headers object: every
    name here is canonical already, and this runs for every reply of a flood."""
    lines = [f"SIP/2.0 {status} {REASONS.get(status, 'Unknown')}"]
    lines += [f"{name}: {value}" for name, value in pairs]
    lines.append("\r\n")
    text = "\r\n".join(lines)
    # Echoed values come from a parsed request and cannot hold line breaks; check anyway, once.
    if text.count("\n") != len(lines) or text.count("\r") != len(lines) or "\x00" in text:
        raise LocalProtocolError("CR, LF or NUL inside a response header value")
    return text.encode("latin-1", "backslashreplace") + body


def bounded_reply(request_size: int, build: Callable[[bool], bytes]) -> bytes | None:
    """The full reply if within MAX_AMPLIFICATION of `request_size`, else the minimal one, else None."""
    limit = request_size * MAX_AMPLIFICATION
    full = build(False)
    if len(full) <= limit:
        return full
    small = build(True)
    return small if len(small) <= limit else None
