"""Parsing and serializing whole messages (sip/message.py)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sipwarden.sip.errors import LocalProtocolError, RemoteProtocolError
from sipwarden.sip.headers import to_wire_text
from sipwarden.sip.limits import MAX_HEADER_LINE, MAX_HEADERS, MAX_MESSAGE_SIZE, MAX_START_LINE
from sipwarden.sip.message import (
    Headers,
    Request,
    Response,
    parse_message,
    response_to,
    serialize_message,
    serialize_request,
    serialize_response,
)

# What SIPVicious svmap sends, with our own addresses (documentation ranges).
OPTIONS = (
    b"OPTIONS sip:100@192.0.2.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-2345-1-0;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "sipvicious" <sip:100@1.1.1.1>;tag=6637386435626533313363340131353633343637313139\r\n'
    b'To: "sipvicious" <sip:100@1.1.1.1>\r\n'
    b"Call-ID: 1234567890abcdef@198.51.100.7\r\n"
    b"CSeq: 1 OPTIONS\r\n"
    b"Contact: <sip:100@198.51.100.7:5060>\r\n"
    b"User-Agent: friendly-scanner\r\n"
    b"Accept: application/sdp\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def parse_request(data: bytes) -> Request:
    msg = parse_message(data)
    assert isinstance(msg, Request)
    return msg


def make(*headers: str, start: str = "OPTIONS sip:100@192.0.2.1 SIP/2.0", body: bytes = b"") -> bytes:
    """A request with the mandatory headers plus ``headers``; no Content-Length unless given."""
    base = [
        "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-1",
        "From: <sip:a@198.51.100.7>;tag=1",
        "To: <sip:100@192.0.2.1>",
        "Call-ID: abc@198.51.100.7",
        "CSeq: 1 " + start.split(" ")[0],
    ]
    return ("\r\n".join([start, *base, *headers]) + "\r\n\r\n").encode("latin-1") + body


def test_scanner_options_fields() -> None:
    msg = parse_request(OPTIONS)
    assert (msg.method, msg.uri, msg.version) == ("OPTIONS", "sip:100@192.0.2.1", "SIP/2.0")
    assert msg.call_id == "1234567890abcdef@198.51.100.7"
    assert msg.cseq == (1, "OPTIONS")
    assert msg.user_agent == "friendly-scanner"
    assert msg.max_forwards == 70
    assert msg.from_.display == "sipvicious" and msg.from_.tag == "6637386435626533313363340131353633343637313139"
    assert msg.to.tag is None
    (via,) = msg.vias
    assert (via.host, via.port, via.branch, via.has_param("rport")) == ("198.51.100.7", 5060, "z9hG4bK-2345-1-0", True)
    contact = msg.contact
    assert contact is not None and contact.uri.port == 5060
    assert msg.content_type is None
    assert msg.body == b""


def test_serialize_of_parse_is_byte_exact_for_canonical_input() -> None:
    assert serialize_message(parse_message(OPTIONS)) == OPTIONS


def test_compact_forms_are_expanded() -> None:
    data = (
        b"INVITE sip:200@192.0.2.1 SIP/2.0\r\n"
        b"v: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK-9\r\n"
        b"f: <sip:a@b>;tag=9\r\n"
        b"t: <sip:200@192.0.2.1>\r\n"
        b"i: compact@198.51.100.7\r\n"
        b"CSeq: 2 INVITE\r\n"
        b"m: <sip:a@198.51.100.7>\r\n"
        b"k: 100rel, timer\r\n"
        b"s: hello\r\n"
        b"c: application/sdp\r\n"
        b"l: 4\r\n"
        b"\r\nv=0\r\n"
    )
    msg = parse_request(data)
    names = [name for name, _ in msg.headers]
    assert names == [
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "Supported",
        "Subject",
        "Content-Type",
        "Content-Length",
    ]
    assert msg.headers.get("i") == msg.headers.get("call-id") == "compact@198.51.100.7"
    assert msg.headers.get_all("k") == ["100rel", "timer"]
    assert msg.content_type == "application/sdp"
    assert msg.body == b"v=0\r"  # l: 4 cuts the body after four bytes
    again = parse_request(serialize_request(msg))
    assert again == msg


def test_repeated_and_comma_separated_headers() -> None:
    data = make(
        "Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK-2, SIP/2.0/TCP [2001:db8::3]:5070;branch=z9hG4bK-3",
        "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>",
        "Route: <sip:p3.example.com;lr>",
        "Allow: INVITE, ACK, CANCEL",
        "Allow: OPTIONS",
        'Contact: "Doe, J" <sip:j@192.0.2.9>, <sip:k@192.0.2.10>;expires=60',
        "Date: Sat, 13 Nov 2010 23:29:00 GMT",
        "X-Custom: a, b",
    )
    msg = parse_request(data)
    assert [(v.host, v.port) for v in msg.vias] == [
        ("198.51.100.7", 5060),
        ("10.0.0.2", None),
        ("2001:db8::3", 5070),
    ]
    assert msg.headers.get_all("route") == [
        "<sip:p1.example.com;lr>",
        "<sip:p2.example.com;lr>",
        "<sip:p3.example.com;lr>",
    ]
    assert msg.headers.get_all("Allow") == ["INVITE", "ACK", "CANCEL", "OPTIONS"]
    assert msg.headers.get_all("Contact") == ['"Doe, J" <sip:j@192.0.2.9>', "<sip:k@192.0.2.10>;expires=60"]
    assert msg.headers.get_all("Date") == ["Sat, 13 Nov 2010 23:29:00 GMT"]  # not a list header
    assert msg.headers.get_all("X-Custom") == ["a, b"]
    assert msg.headers.get("Route") == "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>"
    contact = msg.contact
    assert contact is not None and contact.display == "Doe, J"


def test_ipv6_in_request_uri_via_and_contact() -> None:
    data = make(
        "Contact: <sip:100@[2001:db8::7]:5062;transport=udp>",
        start="REGISTER sip:[2001:db8::1]:5060 SIP/2.0",
    ).replace(b"198.51.100.7:5060", b"[2001:db8::7]:5062")
    msg = parse_request(data)
    assert msg.uri == "sip:[2001:db8::1]:5060"
    assert (msg.vias[0].host, msg.vias[0].port) == ("2001:db8::7", 5062)
    contact = msg.contact
    assert contact is not None
    assert (contact.uri.host, contact.uri.port, contact.uri.param("transport")) == ("2001:db8::7", 5062, "udp")
    assert str(contact) == "<sip:100@[2001:db8::7]:5062;transport=udp>"


@pytest.mark.parametrize(
    ("extra", "tail", "body"),
    [
        ("Content-Length: 5", b"hello", b"hello"),
        ("Content-Length: 5", b"hello and more", b"hello"),  # datagram longer: truncated (RFC 3261 18.3)
        ("Content-Length: 0", b"ignored", b""),
        ("Content-Length: 000005", b"hello", b"hello"),
        (None, b"rest of the datagram", b"rest of the datagram"),  # no Content-Length: the rest
        (None, b"", b""),
    ],
)
def test_body_by_content_length(extra: str | None, tail: bytes, body: bytes) -> None:
    data = make(*([extra] if extra else []), body=tail)
    assert parse_request(data).body == body


@pytest.mark.parametrize(
    ("extra", "tail", "hint"),
    [
        ("Content-Length: 6", b"hello", 400),  # shorter than announced
        ("Content-Length: -1", b"", 400),
        ("Content-Length: 1e3", b"", 400),
        ("Content-Length: \u00b2", b"", 400),
        ("Content-Length: 99999999999999999999999999", b"", 413),
        ("Content-Length: 65536", b"", 413),
    ],
)
def test_bad_content_length(extra: str, tail: bytes, hint: int) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(make(extra, body=tail))
    assert info.value.error_status_hint == hint


def test_lf_only_line_ends_and_folding_and_leading_crlf() -> None:
    data = b"\r\n\r\n" + OPTIONS.replace(b"\r\n", b"\n").replace(
        b"User-Agent: friendly-scanner", b"User-Agent: friendly-\n\tscanner"
    )
    msg = parse_request(data)
    assert msg.user_agent == "friendly- scanner"
    assert msg.call_id == "1234567890abcdef@198.51.100.7"
    assert msg.body == b""


def test_mixed_line_ends() -> None:
    data = OPTIONS.replace(b"CSeq: 1 OPTIONS\r\n", b"CSeq: 1 OPTIONS\n").replace(b"\r\n\r\n", b"\n\r\n")
    assert parse_request(data).cseq == (1, "OPTIONS")


def test_header_only_datagram_without_blank_line() -> None:
    msg = parse_request(OPTIONS.removesuffix(b"\r\n"))
    assert msg.call_id == "1234567890abcdef@198.51.100.7"
    assert parse_request(OPTIONS.removesuffix(b"\r\n\r\n")).body == b""


def test_response_fields() -> None:
    data = (
        b"SIP/2.0 401 Unauthorized\r\n"
        b"Via: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK-1;received=198.51.100.7\r\n"
        b"From: <sip:a@b>;tag=1\r\n"
        b"To: <sip:100@192.0.2.1>;tag=srv\r\n"
        b"Call-ID: abc\r\n"
        b"CSeq: 1 REGISTER\r\n"
        b'WWW-Authenticate: Digest realm="asterisk", nonce="1a2b", algorithm=MD5\r\n'
        b"Content-Length: 0\r\n\r\n"
    )
    msg = parse_message(data)
    assert isinstance(msg, Response)
    assert (msg.status, msg.reason) == (401, "Unauthorized")
    assert msg.to.tag == "srv"
    assert msg.headers.get_all("www-authenticate") == ['Digest realm="asterisk", nonce="1a2b", algorithm=MD5']
    assert serialize_message(msg) == data


@pytest.mark.parametrize(
    ("data", "hint"),
    [
        (b"", 400),
        (b"\r\n\r\n", 400),
        (b"OPTIONS\r\n\r\n", 400),
        (b"hello world\r\n\r\n", 400),
        (make(start="OPTIONS sip:a@b SIP/3.0"), 505),
        (make(start="OPTIONS sip:a@b HTTP/1.1"), 400),
        (make(start="OPTIONS sip:a@b sip/2.0"), None),  # case-insensitive "SIP": accepted
        (make(start="OPT IONS sip:a@b SIP/2.0"), 400),
        (make(start="OPTIONS a@b SIP/2.0"), 400),
        (make(start="OPTIONS sip:a@b\x01 SIP/2.0"), 400),
        (make(start="OPT<ONS sip:a@b SIP/2.0"), 400),
        (b"SIP/2.0 99 Too Low\r\n\r\n", 400),
        (b"SIP/2.0 700 Too High\r\n\r\n", 400),
        (b"SIP/2.0 2OO OK\r\n\r\n", 400),
        (b"SIP/2.0\r\n\r\n", 400),
        (b"SIP/9.9 200 OK\r\n\r\n", 505),
        (make("Bad Header: x"), 400),
        (make("NoColonHere"), 400),
        (make(" folded-junk"), 400),  # a continuation line joins CSeq: "1 OPTIONS folded-junk"
        (make("X-Nul: a\x00b"), 400),
        (make("X-Cr: a\rb"), 400),
        (make("Max-Forwards: 256"), 400),
        (make("Max-Forwards: seventy"), 400),
        (make("Call-ID: other"), 400),  # a second, different Call-ID
        (make("Call-ID: abc@198.51.100.7"), None),  # an identical repeat is harmless
        (make(start="OPTIONS sip:a@b SIP/2.0").replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE"), 400),
        (make().replace(b"Via:", b"X-Via:"), 400),  # mandatory Via missing
        (make(start="INVITE sip:" + "a" * MAX_START_LINE + " SIP/2.0"), 414),
        (make("X-Long: " + "a" * MAX_HEADER_LINE), 513),
        (make(*[f"X-{i}: v" for i in range(MAX_HEADERS)]), 513),
        (make(body=b"x" * MAX_MESSAGE_SIZE), 513),
    ],
)
def test_bad_messages_get_a_status_hint(data: bytes, hint: int | None) -> None:
    if hint is None:
        parse_message(data)
        return
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(data)
    assert info.value.error_status_hint == hint


def test_non_utf8_header_bytes_survive_a_round_trip() -> None:
    data = make("User-Agent: \xff\xfe sc\xe4nner \x80", "Content-Length: 0")
    msg = parse_request(data)
    assert msg.user_agent == "\xff\xfe sc\xe4nner \x80"
    assert serialize_message(msg) == data


def test_headers_api() -> None:
    headers = Headers.from_pairs([("v", "SIP/2.0/UDP a"), ("call-id", "x"), ("X-A", "1"), ("x-a", "2")])
    assert headers.items() == [("Via", "SIP/2.0/UDP a"), ("Call-ID", "x"), ("X-A", "1"), ("X-A", "2")]
    assert len(headers) == 4
    assert list(headers) == headers.items()
    assert headers.get("CALL-ID") == "x" and headers.get("i") == "x"
    assert headers.get("x-a") == "1"
    assert headers.get_all("X-A") == ["1", "2"]
    assert headers.get("Missing") is None and headers.get_all("Missing") == []
    assert "call-id" in headers and "Missing" not in headers
    replaced = headers.with_header("x-a", "3")
    assert replaced.get_all("X-A") == ["3"]
    assert replaced.items()[2] == ("X-A", "3")
    assert headers.with_header("New", "n").items()[-1] == ("New", "n")
    assert headers.without("x-a").items() == [("Via", "SIP/2.0/UDP a"), ("Call-ID", "x")]
    assert Headers.from_pairs(headers.items()) == headers
    assert Headers(headers.pairs) == headers  # built the same way from the same pairs


def test_serialize_sets_content_length_from_body() -> None:
    req = Request("MESSAGE", "sip:a@b", Headers.from_pairs([("Content-Length", "999"), ("To", "<sip:a@b>")]), b"hi")
    assert serialize_request(req) == b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 2\r\nTo: <sip:a@b>\r\n\r\nhi"
    resp = Response(200, "OK", Headers.from_pairs([("l", "1"), ("l", "1")]))
    assert serialize_response(resp) == b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"


@pytest.mark.parametrize(
    "msg",
    [
        Request("OPTIONS", "sip:a@b", Headers.from_pairs([("X-Injected", "a\r\nVia: evil")])),
        Request("OPTIONS", "sip:a@b", Headers.from_pairs([("X-Lf", "a\nb")])),
        Request("OPTIONS", "sip:a@b", Headers.from_pairs([("X-Nul", "a\x00b")])),
        Request("OPTIONS", "sip:a@b", Headers.from_pairs([("Bad Name", "v")])),
        Request("OPTIONS", "sip:a@b", Headers.from_pairs([("X-Uni", "大")])),
        Request("OPTIONS", "sip:a@b\r\nX: y", Headers()),
        Request("OPT IONS", "sip:a@b", Headers()),
        Request("OPTIONS", "sip:a@b", Headers(), version="SIP/2.0\r\n"),
        Response(200, "OK\r\nVia: evil", Headers()),
        Response(1000, "Nope", Headers()),
    ],
)
def test_building_invalid_messages_is_a_local_error(msg: Request | Response) -> None:
    with pytest.raises(LocalProtocolError):
        serialize_message(msg)


def test_to_wire_text_lets_unicode_through() -> None:
    resp = Response(404, to_wire_text("Nicht gefunden – ünbekannt"), Headers())
    data = serialize_response(resp)
    assert data.startswith("SIP/2.0 404 Nicht gefunden – ünbekannt\r\n".encode())


def test_response_to_copies_dialog_headers() -> None:
    data = make(
        "Record-Route: <sip:p1.example.com;lr>",
        "User-Agent: friendly-scanner",
        start="INVITE sip:100@192.0.2.1 SIP/2.0",
    )
    req = parse_request(data)
    ringing = response_to(req, 180, "Ringing", to_tag="hp1", headers=[("contact", "<sip:100@192.0.2.1>")])
    assert [name for name, _ in ringing.headers] == ["Via", "From", "To", "Call-ID", "CSeq", "Record-Route", "Contact"]
    assert ringing.to.tag == "hp1"
    assert ringing.headers.get("Via") == req.headers.get("Via")
    busy = response_to(req, 486, "Busy Here", to_tag="hp1")
    assert "Record-Route" not in busy.headers
    again = parse_message(serialize_response(busy))
    assert isinstance(again, Response) and again.cseq == (1, "INVITE") and again.to.tag == "hp1"


def test_response_to_keeps_an_existing_to_tag() -> None:
    req = parse_request(make().replace(b"To: <sip:100@192.0.2.1>", b"To: <sip:100@192.0.2.1>;tag=dialog"))
    assert response_to(req, 200, "OK", to_tag="other").to.tag == "dialog"
    assert response_to(req, 200, "OK").to.tag == "dialog"
    plain = parse_request(make())
    assert response_to(plain, 100, "Trying").to.tag is None


def test_missing_headers_on_built_messages_raise_remote_errors() -> None:
    empty = Response(200, "OK", Headers())
    for attribute in ("call_id", "cseq", "from_", "to"):
        with pytest.raises(RemoteProtocolError):
            getattr(empty, attribute)
    assert empty.vias == [] and empty.contact is None and empty.max_forwards is None


# --- what real tools send ---------------------------------------------------------------------------


class _Responder:
    """A loopback UDP endpoint that parses every datagram and answers it, recording what it saw."""

    def __init__(self, status: int, reason: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.status, self.reason = status, reason
        self.seen: list[Request] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        for _ in range(10_000):  # bounded: the tools send a few dozen datagrams
            if self._stop.is_set():
                return
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            try:
                msg = parse_message(data)
            except RemoteProtocolError as exc:
                self.errors.append(f"{exc}: {data[:200]!r}")
                continue
            if isinstance(msg, Request):
                self.seen.append(msg)
                if msg.method != "ACK":
                    reply = response_to(msg, self.status, self.reason, to_tag="t0")
                    self.sock.sendto(serialize_response(reply), addr)

    def __enter__(self) -> _Responder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def _tool(argv: list[str]) -> None:
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed")
    subprocess.run(argv, capture_output=True, timeout=60, check=False)


def _venv_tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


@pytest.mark.tools
def test_svmap_options_parse() -> None:
    with _Responder(200, "OK") as peer:
        _tool([_venv_tool("sipvicious_svmap"), "127.0.0.1", "-p", str(peer.port)])
    assert not peer.errors
    assert peer.seen, "svmap sent nothing"
    msg = peer.seen[0]
    assert msg.method == "OPTIONS"
    assert msg.user_agent is not None and msg.user_agent.lower().startswith("friendly-scanner")
    assert msg.vias[0].branch is not None
    assert msg.from_.tag is not None and msg.cseq[1] == "OPTIONS"


@pytest.mark.tools
def test_svwar_register_enumeration_parses() -> None:
    with _Responder(404, "Not Found") as peer:
        _tool([_venv_tool("sipvicious_svwar"), "-e100-103", "-p", str(peer.port), "127.0.0.1"])
    assert not peer.errors
    users = {m.to.uri.user for m in peer.seen}
    assert {"100", "101", "102", "103"} <= users
    assert {m.method for m in peer.seen} <= {"REGISTER", "OPTIONS", "INVITE", "ACK"}


@pytest.mark.tools
def test_sipsak_options_parse() -> None:
    with _Responder(200, "OK") as peer:
        _tool(["sipsak", "-s", f"sip:100@127.0.0.1:{peer.port}"])
    assert not peer.errors
    (msg,) = peer.seen
    assert msg.method == "OPTIONS" and msg.to.uri.user == "100"
    assert msg.contact is not None and msg.max_forwards is not None
