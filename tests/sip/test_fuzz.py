"""Property tests: hostile bytes never make the SIP core raise anything but RemoteProtocolError.

Each input goes through everything a honeypot would touch: parse, every convenience property,
every structured header, serialize back, and the stream framer.
"""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipwarden.sip.errors import RemoteProtocolError
from sipwarden.sip.framing import StreamFramer
from sipwarden.sip.headers import parse_name_addr, parse_uri, parse_via
from sipwarden.sip.message import Headers, Request, Response, parse_message, response_to, serialize_message

SEEDS = [
    b"OPTIONS sip:100@192.0.2.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-1;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "sipvicious" <sip:100@1.1.1.1>;tag=663738\r\n'
    b'To: "sipvicious" <sip:100@1.1.1.1>\r\n'
    b"Call-ID: 1234567890@198.51.100.7\r\n"
    b"CSeq: 1 OPTIONS\r\n"
    b"Contact: <sip:100@198.51.100.7:5060>\r\n"
    b"User-Agent: friendly-scanner\r\n"
    b"Content-Length: 0\r\n\r\n",
    b"INVITE sip:900441234567@[2001:db8::1] SIP/2.0\r\n"
    b"v: SIP/2.0/TCP [2001:db8::7]:5070;branch=z9hG4bK-2, SIP/2.0/UDP h;branch=z9\r\n"
    b"f: Bob <sip:bob@h>;tag=2\r\n"
    b"t: sip:900441234567@h\r\n"
    b"i: inv@h\r\n"
    b"CSeq: 2 INVITE\r\n"
    b"m: *\r\n"
    b"c: application/sdp\r\n"
    b"l: 10\r\n\r\n"
    b"v=0\r\ns=-\r\n",
    b"SIP/2.0 401 Unauthorized\r\n"
    b"Via: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK-1\r\n"
    b"From: <sip:a@b>;tag=1\r\nTo: <sip:100@h>;tag=s\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n"
    b'WWW-Authenticate: Digest realm="x", nonce="y"\r\n'
    b"Content-Length: 0\r\n\r\n",
]

INSERTS = [b"\x00", b"\r", b"\n", b"\r\n", b"\r\n\r\n", b" ", b"\t", b":", b";", b",", b"<", b">", b'"', b"\\"]
INSERTS += [b"99999999999999999999999", b"-1", b"\xff\xfe", b"%00", b"[", b"]", b"@", b"/", b"\r\n "]


def exercise(data: bytes) -> None:
    """Everything a server does with a datagram; only RemoteProtocolError may escape."""
    try:
        msg = parse_message(data)
    except RemoteProtocolError:
        return
    assert isinstance(msg, Request | Response)
    for attribute in (
        "call_id",
        "cseq",
        "from_",
        "to",
        "vias",
        "contact",
        "user_agent",
        "content_type",
        "max_forwards",
    ):
        with contextlib.suppress(RemoteProtocolError):
            getattr(msg, attribute)
    for name in ("Route", "Record-Route", "Contact", "Via", "Allow", "Supported"):
        for value in msg.headers.get_all(name):
            for parse in (parse_name_addr, parse_via):
                with contextlib.suppress(RemoteProtocolError):
                    parse(value)
    if isinstance(msg, Request):
        with contextlib.suppress(RemoteProtocolError):
            parse_uri(msg.uri)
        try:
            reply = response_to(msg, 200, "OK", to_tag="t")
        except RemoteProtocolError:
            pass
        else:
            # What the parser accepted, and a reply built from it, must serialize (no injection).
            serialize_message(reply)
    again = parse_message(serialize_message(msg))  # serialize sets Content-Length from the body
    assert again.headers.without("Content-Length") == msg.headers.without("Content-Length")
    assert again.body == msg.body


def frame(data: bytes, chunk: int) -> None:
    framer = StreamFramer()
    try:
        for start in range(0, len(data), chunk):
            framer.receive_data(data[start : start + chunk])
            for _ in range(len(data) + 1):
                message = framer.next_message()
                if message is None:
                    break
                exercise(message)
    except RemoteProtocolError:
        pass


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate"]))
        pos = draw(st.integers(0, len(data)))
        if op == "flip" and pos < len(data):
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[pos:pos] = draw(st.sampled_from(INSERTS))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[pos:]
        elif op == "duplicate":
            data[pos:pos] = data[max(0, pos - 40) : pos]
    return bytes(data)


FUZZ = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=600))
def test_arbitrary_bytes(data: bytes) -> None:
    exercise(data)
    frame(data, 7)


@FUZZ
@given(mutated())
def test_mutated_messages(data: bytes) -> None:
    exercise(data)


@settings(max_examples=500, deadline=None)
@given(mutated(), st.integers(1, 64))
def test_mutated_streams(data: bytes, chunk: int) -> None:
    frame(data + data, chunk)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_structured_parsers_on_any_text(text: str) -> None:
    for parse in (parse_uri, parse_name_addr, parse_via):
        with contextlib.suppress(RemoteProtocolError):
            parse(text)


_TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
_tokens = st.text(_TOKEN_CHARS, min_size=1, max_size=12)
_hosts = st.text("abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=12)
# Header text: any latin-1 character but CR, LF and NUL, without the outer whitespace the parser strips.
_values = st.text(st.characters(min_codepoint=1, max_codepoint=255, exclude_characters="\r\n"), max_size=40).map(
    lambda v: v.strip(" \t")
)


@st.composite
def requests(draw: st.DrawFn) -> Request:
    method = draw(_tokens)
    mandatory = [
        ("Via", f"SIP/2.0/UDP {draw(_hosts)};branch=z9hG4bK{draw(_tokens)}"),
        ("From", f"<sip:{draw(_tokens)}@example.com>;tag={draw(_tokens)}"),
        ("To", f"<sip:{draw(_tokens)}@example.com>"),
        ("Call-ID", draw(_tokens)),
        ("CSeq", f"{draw(st.integers(0, 2**31 - 1))} {method}"),
    ]
    # "X-" keeps generated names clear of the single-valued headers the parser checks for conflicts.
    extra = draw(st.lists(st.tuples(_tokens.map(lambda t: "X-" + t), _values), max_size=8))
    body = draw(st.binary(max_size=200))
    return Request(method, f"sip:{draw(_tokens)}@example.com", Headers.from_pairs(mandatory + extra), body)


@settings(max_examples=800, deadline=None)
@given(requests())
def test_parse_of_serialize_is_identity(req: Request) -> None:
    again = parse_message(serialize_message(req))
    assert isinstance(again, Request)
    assert (again.method, again.uri, again.version, again.body) == (req.method, req.uri, req.version, req.body)
    assert again.headers.without("Content-Length") == req.headers
    assert again.cseq == req.cseq and again.to.uri == req.to.uri and again.vias == req.vias
