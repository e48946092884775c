"""RFC 4475 torture messages, written from the RFC's descriptions, and what this parser does with each.

The honeypot must still log an attacker who sends garbage, so the parser is tolerant where a message
stays usable (extra spaces in the start line, odd escapes, unknown schemes) and strict where it is
ambiguous or unusable (body length, duplicated single-valued headers, bad versions, CSeq mismatch).
Structured headers are parsed on access, so some defects surface only when a property is read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sipwarden.sip.errors import RemoteProtocolError
from sipwarden.sip.headers import from_wire_text, parse_name_addr, parse_uri
from sipwarden.sip.message import Request, Response, parse_message

SDP = (
    "v=0\n"
    "o=mhandley 29739 7272939 IN IP4 192.0.2.1\n"
    "s=-\n"
    "c=IN IP4 192.0.2.1\n"
    "t=0 0\n"
    "m=audio 49217 RTP/AVP 0 12\n"
    "m=video 3227 RTP/AVP 31\n"
    "a=rtpmap:31 LPC\n"
)


def wire(text: str, body: str | bytes = b"", *, encoding: str = "utf-8") -> bytes:
    """Message text with LF line ends -> CRLF bytes; ``{cl}`` becomes the body length."""
    raw_body = body if isinstance(body, bytes) else body.replace("\n", "\r\n").encode(encoding)
    head = text.replace("{cl}", str(len(raw_body))).replace("\n", "\r\n").encode(encoding)
    return head + b"\r\n" + raw_body


def req(data: bytes) -> Request:
    msg = parse_message(data)
    assert isinstance(msg, Request)
    return msg


def resp(data: bytes) -> Response:
    msg = parse_message(data)
    assert isinstance(msg, Response)
    return msg


# --- 3.1.1 Valid messages ----------------------------------------------------------------------

WSINV = wire(
    "INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\n"
    "TO :\n"
    " sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\n"
    'from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>\n'
    "  ;\n"
    "  tag = 98asjd8\n"
    "MaX-fOrWaRdS: 0068\n"
    "Call-ID: wsinv.ndaksdj@192.0.2.1\n"
    "Content-Length   : {cl}\n"
    "cseq: 0009\n"
    "  INVITE\n"
    "Via  : SIP  /   2.0\n"
    " /UDP\n"
    "    192.0.2.2;branch=390skdjuw\n"
    "s :\n"
    "NewFangledHeader:   newfangled value\n"
    " continued newfangled value\n"
    "UnknownHeaderWithUnusualValue: ;;,,;;,;\n"
    "Content-Type: application/sdp\n"
    "Route:\n"
    " <sip:services.example.com;lr;unknownwith=value;unknown-no-value>\n"
    "v:  SIP  / 2.0  / TCP     spindle.example.com   ;\n"
    "  branch  =   z9hG4bK9ikj8  ,\n"
    " SIP  /    2.0   / UDP  192.168.255.111   ; branch=\n"
    " z9hG4bK30239\n"
    'm:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =\n'
    "      newvalue ;\n"
    "  secondparam ; q = 0.33\n",
    SDP,
)


def test_wsinv_short_tortuous_invite() -> None:
    msg = req(WSINV)
    assert msg.method == "INVITE"
    assert msg.uri == "sip:vivekg@chair-dnrc.example.com;unknownparam"
    assert msg.to.uri.user == "vivekg" and msg.to.tag == "1918181833n"
    assert msg.from_.display == 'J Rosenberg \\"' and msg.from_.tag == "98asjd8"
    assert msg.max_forwards == 68
    assert msg.cseq == (9, "INVITE")
    assert msg.headers.get("Subject") == ""
    assert msg.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert msg.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    vias = msg.vias
    assert [(v.transport, v.host, v.branch) for v in vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    contact = msg.contact
    assert contact is not None
    assert contact.display == 'Quoted string ""'
    assert contact.params == (("newparam", "newvalue"), ("secondparam", None), ("q", "0.33"))
    assert parse_name_addr(msg.headers.get_all("Route")[0]).uri.param("unknownwith") == "value"
    assert msg.body == SDP.replace("\n", "\r\n").encode()


def _intmeth(to_escapes: str) -> bytes:
    return wire(
        "!interesting-Method0123456789_*+`.%indeed'~ "
        "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
        "@example.com SIP/2.0\n"
        "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\n"
        f'To: "{to_escapes}" <sip:1_unusual.URI~(to-be!sure)&isn\'t+it$/crazy?,/;;*@example.com>\n'
        "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>"
        ";fromParam''~+*_!.-%=\"\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439\""
        ";tag=_token~1'+`*%!-.\n"
        "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\n"
        "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\n"
        "Max-Forwards: 255\n"
        "extensionHeader-!.%*+_`'~:\ufeff\u5927\u505c\u96fb\n"
        "Content-Length: 0\n"
    )


def test_intmeth_wide_range_of_valid_characters() -> None:
    # The RFC's To display name escapes BEL, NUL and DEL; the NUL is tested separately below.
    msg = req(_intmeth("BEL:\\\x07 DEL:\\\x7f"))
    assert msg.method == "!interesting-Method0123456789_*+`.%indeed'~"
    uri = parse_uri(msg.uri)
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert uri.host == "example.com"
    assert msg.to.display == "BEL:\x07 DEL:\x7f"
    assert msg.from_.display == "token1~` token2'+_ token3*%!.-"
    assert msg.from_.tag == "_token~1'+`*%!-."
    assert from_wire_text(msg.from_.param("fromParam''~+*_!.-%") or "") == '"работающий"'
    assert msg.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert msg.cseq == (139122385, msg.method)
    assert from_wire_text(msg.headers.get("extensionHeader-!.%*+_`'~") or "") == "\ufeff大停電"


def test_intmeth_with_raw_nul_is_refused() -> None:
    # A raw NUL in header text is refused by policy even inside a quoted-pair: text stores such as
    # PostgreSQL cannot hold it and C consumers truncate at it. The datagram is still logged raw.
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(_intmeth("BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f"))
    assert info.value.error_status_hint == 400


def test_esc01_valid_use_of_escapes() -> None:
    msg = req(
        wire(
            "INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0\n"
            "To: sip:%75se%72@example.com\n"
            "From: <sip:I%20have%20spaces@example.net>;tag=938\n"
            "Max-Forwards: 87\n"
            "i: esc01.239409asdfakjkn23onasd0-3234\n"
            "CSeq: 234234 INVITE\n"
            "Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw\n"
            "C: application/sdp\n"
            "Contact:\n"
            "  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>\n"
            "Content-Length: {cl}\n",
            SDP,
        )
    )
    assert parse_uri(msg.uri).user == "sips%3Auser%40example.com"
    assert msg.to.uri.user == "%75se%72"
    assert msg.from_.uri.user == "I%20have%20spaces"
    assert msg.call_id == "esc01.239409asdfakjkn23onasd0-3234"
    assert msg.content_type == "application/sdp"
    contact = msg.contact
    assert contact is not None
    assert contact.uri.params == (("%6C%72", None), ("n%61me", "v%61lue%25%34%31"))


def test_esc02_escaped_method_and_header_name_are_not_unescaped() -> None:
    msg = req(
        wire(
            "RE%47IST%45R sip:registrar.example.com SIP/2.0\n"
            'To: "%Z%45" <sip:resource@example.com>\n'
            'From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23\n'
            "Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf\n"
            "Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234\n"
            "CSeq: 29344 RE%47IST%45R\n"
            "Max-Forwards: 70\n"
            "Contact: <sip:alias1@host1.example.com>\n"
            "C%6Fntact: <sip:alias2@host2.example.com>\n"
            "Contact: <sip:alias3@host3.example.com>\n"
            "l: 0\n"
        )
    )
    assert msg.method == "RE%47IST%45R"  # an extension method, not REGISTER
    assert msg.to.display == "%Z%45"
    assert msg.vias[0].branch == "z9hG4bK209%fzsnel234"
    assert [parse_name_addr(c).uri.user for c in msg.headers.get_all("Contact")] == ["alias1", "alias3"]
    assert msg.headers.get("C%6fntact") == "<sip:alias2@host2.example.com>"


def test_escnull_escaped_nulls_in_uris_stay_escaped() -> None:
    msg = req(
        wire(
            "REGISTER sip:example.com SIP/2.0\n"
            "To: sip:null-%00-null@example.com\n"
            "From: sip:null-%00-null@example.com;tag=839923423\n"
            "Max-Forwards: 70\n"
            "Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd\n"
            "CSeq: 14398234 REGISTER\n"
            "Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw\n"
            "Contact: <sip:%00@host5.example.com>\n"
            "Contact: <sip:%00%00@host5.example.com>\n"
            "L:0\n"
        )
    )
    assert msg.to.uri.user == "null-%00-null"
    assert [parse_name_addr(c).uri.user for c in msg.headers.get_all("Contact")] == ["%00", "%00%00"]
    assert msg.body == b""


def test_lwsdisp_no_space_between_display_name_and_uri() -> None:
    msg = req(
        wire(
            "OPTIONS sip:user@example.com SIP/2.0\n"
            "To: sip:user@example.com\n"
            "From: caller<sip:caller@example.com>;tag=323\n"
            "Max-Forwards: 70\n"
            "Call-ID: lwsdisp.1234abcd@funky.example.com\n"
            "CSeq: 60 OPTIONS\n"
            "Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw\n"
            "l: 0\n"
        )
    )
    assert msg.from_.display == "caller"
    assert msg.from_.uri.user == "caller"
    assert msg.from_.tag == "323"


def test_longreq_long_values_and_many_vias() -> None:
    long = "long" * 20
    names = ["Via", "v", "V", "Via", "ViA", "VIa", "VIA", "via", "viA", "vIa", "vIA", "V ", "v ", "V  ", "v  "]
    names += ["Via ", "Via  "] + ["Via"] * 16
    vias = "".join(f"{name}: SIP/2.0/TCP sip{33 - i}.example.com\n" for i, name in enumerate(names))
    msg = req(
        wire(
            "INVITE sip:user@example.com SIP/2.0\n"
            f'To: "I have a user name of {"extreme" * 10} proportion"<sip:user@example.com:6000;'
            f"unknownparam1=very{long}value;{'name' * 25}=shortvalue;very{long}ParameterNameWithNoValue>\n"
            f"F: sip:{'amazinglylongcallername' * 5}@example.net;tag={'1298' * 40};"
            f"unknownheaderparam{'name' * 20}=unknownheaderparam{'value' * 15};unknownValueless{'paramname' * 10}\n"
            f"Call-ID: longreq.one{'really' * 20}longcallid\n"
            "CSeq: 3882340 INVITE\n"
            f"Unknown-{'Long' * 20}-Name: unknown-{long}-value; unknown-{long}-parameter-name = unknown-{long}-value\n"
            + vias
            + f"Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch=very{long * 3}branchvalue\n"
            "Max-Forwards: 70\n"
            f"Contact: <sip:{'amazinglylongcallername' * 5}@host5.example.net>\n"
            "Content-Type: application/sdp\n"
            "l: {cl}\n",
            SDP,
        )
    )
    assert msg.to.uri.port == 6000
    assert msg.to.uri.param(f"very{long}ParameterNameWithNoValue") is None
    assert msg.from_.tag == "1298" * 40
    assert len(msg.vias) == 34
    assert msg.vias[0].host == "sip33.example.com"
    assert msg.vias[-1].branch == f"very{long * 3}branchvalue"
    assert msg.headers.get(f"unknown-{'long' * 20}-name") is not None
    assert len(msg.body) == len(SDP) + SDP.count("\n")


def test_dblreq_only_the_first_request_of_a_datagram_counts() -> None:
    first = wire(
        "REGISTER sip:example.com SIP/2.0\n"
        "To: sip:j.user@example.com\n"
        "From: sip:j.user@example.com;tag=43251j3j324\n"
        "Max-Forwards: 8\n"
        "I: dblreq.0ha0isndaksdj99sdfafnl3lk233412\n"
        "Contact: sip:j.user@host.example.com\n"
        "CSeq: 8 REGISTER\n"
        "Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492\n"
        "Content-Length: 0\n"
    )
    second = wire(
        "INVITE sip:joe@example.com SIP/2.0\n"
        "t: sip:joe@example.com\n"
        "From: sip:caller@example.net;tag=141334\n"
        "Max-Forwards: 8\n"
        "Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15\n"
        "CSeq: 8 INVITE\n"
        "Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234\n"
        "Content-Type: application/sdp\n"
        "Content-Length: {cl}\n",
        SDP,
    )
    msg = req(first + b"\r\n" + second)
    assert msg.method == "REGISTER"
    assert msg.body == b""


def test_semiuri_semicolon_in_user_part_and_folded_accept() -> None:
    msg = req(
        wire(
            "OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0\n"
            "To: sip:j_user@example.com\n"
            "From: sip:caller@example.org;tag=33242\n"
            "Max-Forwards: 3\n"
            "Call-ID: semiuri.0ha0isndaksdj\n"
            "CSeq: 8 OPTIONS\n"
            "Accept: application/sdp, application/pkcs7-mime,\n"
            "        multipart/mixed, multipart/signed,\n"
            "        message/sip, message/sipfrag\n"
            "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw\n"
            "l: 0\n"
        )
    )
    uri = parse_uri(msg.uri)
    assert (uri.user, uri.host, uri.params) == ("user;par=u%40example.net", "example.com", ())
    assert msg.headers.get_all("Accept") == [
        "application/sdp",
        "application/pkcs7-mime",
        "multipart/mixed",
        "multipart/signed",
        "message/sip",
        "message/sipfrag",
    ]


def test_transports_unknown_transport_tokens() -> None:
    msg = req(
        wire(
            "OPTIONS sip:user@example.com SIP/2.0\n"
            "To: sip:user@example.com\n"
            "From: <sip:caller@example.com>;tag=323\n"
            "Max-Forwards: 70\n"
            "Call-ID:  transports.kijh4akdnaqjkwendsasfdj\n"
            "Accept: application/sdp\n"
            "CSeq: 60 OPTIONS\n"
            "Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw\n"
            "Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf\n"
            "Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj\n"
            "Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en\n"
            "Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee\n"
            "l: 0\n"
        )
    )
    assert [v.transport for v in msg.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    assert msg.call_id == "transports.kijh4akdnaqjkwendsasfdj"


def test_mpart01_binary_multipart_body_is_kept_byte_exact() -> None:
    boundary = "7a9cbec02ceef655"
    binary = bytes(range(256)) * 2  # every byte value, including NUL, CR and LF
    body = (
        (
            f"--{boundary}\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n\r\nHello\r\n"
            f"--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        ).encode()
        + binary
        + f"\r\n--{boundary}--\r\n".encode()
    )
    msg = req(
        wire(
            "MESSAGE sip:kumiko@example.org SIP/2.0\n"
            "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport\n"
            "Max-Forwards: 70\n"
            "Route: <sip:127.0.0.1:5080>\n"
            "Identity: r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuLIK0YWVKZhKv9Mj8UeXqkMVbnVq37CD+813gvYjcBUaZngQ=\n"
            "Contact: <sip:fluffy@127.0.0.1:5070>\n"
            "To: <sip:kumiko@example.org>\n"
            "From: <sip:fluffy@example.com>;tag=2fb0dcc9\n"
            "Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..\n"
            "CSeq: 1 MESSAGE\n"
            "Content-Transfer-Encoding: binary\n"
            f"Content-Type: multipart/mixed;boundary={boundary}\n"
            "Date: Sat, 15 Oct 2005 04:44:56 GMT\n"
            "User-Agent: SIPimp.org/0.2.5 (curses)\n"
            "Content-Length: {cl}\n",
            body,
        )
    )
    assert msg.body == body
    assert msg.vias[0].has_param("rport") and msg.vias[0].port == 5070
    assert msg.user_agent == "SIPimp.org/0.2.5 (curses)"
    assert msg.headers.get("Date") == "Sat, 15 Oct 2005 04:44:56 GMT"  # not split on its comma


def test_unreason_utf8_reason_phrase() -> None:
    reason = "= 2**3 * 5**2 но сто девяносто девять - простое"
    msg = resp(
        wire(
            f"SIP/2.0 200 {reason}\n"
            "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\n"
            "Call-ID: unreason.1234ksdfak3j2erwedfsASdf\n"
            "CSeq: 35 INVITE\n"
            "From: sip:user@example.com;tag=11141343\n"
            "To: sip:user@example.edu;tag=2229\n"
            "Content-Length: {cl}\n"
            "Content-Type: application/sdp\n"
            "Contact: <sip:user@host198.example.com>\n",
            SDP,
        )
    )
    assert msg.status == 200
    assert from_wire_text(msg.reason) == reason
    assert msg.cseq == (35, "INVITE")


def test_noreason_empty_reason_phrase() -> None:
    msg = resp(
        wire(
            "SIP/2.0 100 \n"
            "Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\n"
            "Call-ID: noreason.asndj203insdf99223ndf\n"
            "CSeq: 35 INVITE\n"
            "From: <sip:user@example.com>;tag=39ansfi3\n"
            "To: <sip:user@example.edu>;tag=902jndnke3\n"
            "Content-Length: 0\n"
            "Contact: <sip:user@host105.example.com>\n"
        )
    )
    assert (msg.status, msg.reason) == (100, "")


# --- 3.1.2 Invalid messages: accepted with a defect on access, or refused --------------------


def _request(start: str, *headers: str, body: str = "", cl: str = "{cl}") -> bytes:
    return wire(start + "\n" + "".join(h + "\n" for h in headers) + f"Content-Length: {cl}\n", body)


_BASE = (
    "To: sip:user@example.com",
    "From: sip:caller@example.net;tag=93334",
    "Max-Forwards: 70",
    "Call-ID: torture.aksdj",
    "Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234",
)


def _refused(hint: int) -> Callable[[bytes], None]:
    def check(data: bytes) -> None:
        with pytest.raises(RemoteProtocolError) as info:
            parse_message(data)
        assert info.value.error_status_hint == hint

    return check


def _broken_on_access(attribute: str) -> Callable[[bytes], None]:
    def check(data: bytes) -> None:
        msg = parse_message(data)  # the message itself is usable: the honeypot can log it
        with pytest.raises(RemoteProtocolError):
            getattr(msg, attribute)

    return check


def _accepted(**expected: Any) -> Callable[[bytes], None]:
    def check(data: bytes) -> None:
        msg = parse_message(data)
        for attribute, value in expected.items():
            assert getattr(msg, attribute) == value, attribute

    return check


INVALID: list[tuple[str, bytes, Callable[[bytes], None]]] = [
    (
        "badinv01: Via full of empty parameters",
        _request(
            "INVITE sip:user@example.com SIP/2.0",
            "To: sip:j.user@example.com",
            "From: sip:caller@example.net;tag=134161461246",
            "Max-Forwards: 7",
            "Call-ID: badinv01.0ha0isndaksdjasdf3234nas",
            "CSeq: 8 INVITE",
            "Via: SIP/2.0/UDP 192.0.2.15;;,;,,",
            'Contact: "Joe" <sip:joe@example.org>;;;;',
            "Content-Type: application/sdp",
            body=SDP,
        ),
        _broken_on_access("vias"),
    ),
    (
        "clerr: Content-Length larger than the body",
        _request("INVITE sip:user@example.com SIP/2.0", "CSeq: 8 INVITE", *_BASE, body=SDP, cl="9999"),
        _refused(400),
    ),
    (
        "ncl: negative Content-Length",
        _request("INVITE sip:user@example.com SIP/2.0", "CSeq: 0 INVITE", *_BASE, body=SDP, cl="-999"),
        _refused(400),
    ),
    (
        "mcl01: two different Content-Lengths",
        wire(
            "OPTIONS sip:user@example.com SIP/2.0\n" + "".join(h + "\n" for h in _BASE) + "CSeq: 15932 OPTIONS\n"
            "Content-Length: 13\nMax-Forwards: 60\nContent-Length: 5\nContent-Type: text/plain\n",
            "There's no way to know how many octets are supposed to be here.\n",
        ),
        _refused(400),
    ),
    (
        "scalar02: CSeq beyond 2**32 and Max-Forwards 300",
        _request(
            "REGISTER sip:example.com SIP/2.0",
            "Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3",
            "To: <sip:user@example.com>",
            "From: <sip:user@example.com>;tag=239232jh3",
            "CSeq: 36893488147419103232 REGISTER",
            "Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32",
            "Max-Forwards: 300",
            "Expires: 1" + "0" * 100,
            "Contact: <sip:user@host129.example.com>\n  ;expires=280297596632815",
        ),
        _refused(400),
    ),
    (
        "scalar02 variant: only Max-Forwards 300",
        _request("OPTIONS sip:example.com SIP/2.0", "CSeq: 1 OPTIONS", *_BASE[:2], "Max-Forwards: 300", *_BASE[3:]),
        _refused(400),
    ),
    (
        "scalarlg: response with a huge CSeq",
        wire(
            "SIP/2.0 503 Service Unavailable\n"
            "Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129\n"
            "To: <sip:user@example.com>\n"
            "From: <sip:other@example.net>;tag=2easdjfejw\n"
            "CSeq: 9292394834772304023312 OPTIONS\n"
            "Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r\n"
            "Retry-After: 949302838503028349304023988\n"
            'Warning: 1812 overture "In Progress"\n'
            "Content-Length: 0\n"
        ),
        _broken_on_access("cseq"),
    ),
    (
        "quotbal: unterminated quoted display name",
        _request(
            "INVITE sip:user@example.com SIP/2.0",
            'To: "Mr. J. User <sip:j.user@example.com>',
            *_BASE[1:],
            "CSeq: 8 INVITE",
            body=SDP,
        ),
        _broken_on_access("to"),
    ),
    (
        "ltgtruri: Request-URI in angle brackets",
        _request("INVITE <sip:user@example.com> SIP/2.0", "CSeq: 1 INVITE", *_BASE, body=SDP),
        _refused(400),
    ),
    (
        "lwsruri: whitespace inside the Request-URI",
        _request("INVITE sip:user@example.com; lr SIP/2.0", "CSeq: 2130706432 INVITE", *_BASE, body=SDP),
        _refused(400),
    ),
    (
        "lwsstart: extra spaces between start-line elements are tolerated",
        _request("INVITE  sip:user@example.com  SIP/2.0", "CSeq: 1893884 INVITE", *_BASE, body=SDP),
        _accepted(method="INVITE", uri="sip:user@example.com", version="SIP/2.0"),
    ),
    (
        "trws: trailing spaces after the version are tolerated",
        _request("OPTIONS sip:remote-target@example.com SIP/2.0  ", "CSeq: 238923 OPTIONS", *_BASE),
        _accepted(method="OPTIONS", uri="sip:remote-target@example.com"),
    ),
    (
        "escruri: escaped headers in the Request-URI are kept for the record",
        _request("INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0", "CSeq: 149209342 INVITE", *_BASE),
        _accepted(uri="sip:user@example.com?Route=%3Csip:example.com%3E"),
    ),
    (
        "baddate: non-GMT Date is not our concern",
        _request(
            "INVITE sip:user@example.com SIP/2.0",
            "CSeq: 1392934 INVITE",
            *_BASE,
            "Date: Fri, 01 Jan 2010 16:00:00 EST",
            body=SDP,
        ),
        _accepted(method="INVITE"),
    ),
    (
        "regbadct: Contact URI with ?headers outside <>",
        _request(
            "REGISTER sip:example.com SIP/2.0",
            "CSeq: 1 REGISTER",
            *_BASE,
            "Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E",
        ),
        _broken_on_access("contact"),
    ),
    (
        "baddn: unquoted display name with a comma",
        _request(
            "OPTIONS sip:t.watson@example.org SIP/2.0",
            "From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
            *_BASE[0:1],
            *_BASE[2:],
            "CSeq: 3923239 OPTIONS",
        ),
        _broken_on_access("from_"),
    ),
    (
        "badvers: SIP/7.0",
        _request("OPTIONS sip:t.watson@example.org SIP/7.0", "CSeq: 1 OPTIONS", *_BASE),
        _refused(505),
    ),
    (
        "mismatch01: OPTIONS with an INVITE CSeq",
        _request("OPTIONS sip:user@example.com SIP/2.0", "CSeq: 8 INVITE", *_BASE),
        _refused(400),
    ),
    (
        "mismatch02: unknown method with an INVITE CSeq",
        _request("NEWMETHOD sip:user@example.com SIP/2.0", "CSeq: 8 INVITE", *_BASE, body=SDP),
        _refused(400),
    ),
    (
        "bigcode: status code 4294967301",
        wire(
            "SIP/2.0 4294967301 better not break the receiver\n"
            "Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\n"
            "Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i\n"
            "CSeq: 353494 INVITE\n"
            "From: <sip:user@example.com>;tag=39ansfi3\n"
            "To: <sip:user@example.edu>;tag=902jndnke3\n"
            "Content-Length: 0\n"
        ),
        _refused(400),
    ),
    (
        "insuf: missing From, To, Call-ID",
        wire(
            "INVITE sip:user@example.com SIP/2.0\n"
            "CSeq: 193942 INVITE\n"
            "Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf\n"
            "Content-Type: application/sdp\n"
            "l: {cl}\n",
            SDP,
        ),
        _refused(400),
    ),
    (
        "multi01: two different Call-IDs and CSeqs",
        _request(
            "INVITE sip:user@company.com SIP/2.0",
            *_BASE,
            "CSeq: 5 INVITE",
            "Call-ID: multi01.98asdh@192.0.2.2",
            "CSeq: 59 INVITE",
        ),
        _refused(400),
    ),
    (
        "unksm2: unknown URI schemes in To and From",
        _request(
            "REGISTER sip:example.com SIP/2.0",
            "To: isbn:2983792873",
            "From: <http://www.example.com>;tag=3234233",
            *_BASE[2:],
            "CSeq: 234902 REGISTER",
        ),
        _broken_on_access("to"),
    ),
    (
        "novelsc: novel Request-URI scheme is accepted",
        _request("OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0", "CSeq: 3923423 OPTIONS", *_BASE),
        _accepted(uri="soap.beep://192.0.2.103:3002"),
    ),
]


@pytest.mark.parametrize(("name", "data", "check"), INVALID, ids=[case[0].split(":")[0] for case in INVALID])
def test_invalid_torture_messages(name: str, data: bytes, check: Callable[[bytes], None]) -> None:
    check(data)


def test_zeromf_max_forwards_zero_is_valid() -> None:
    data = _request("OPTIONS sip:user@example.com SIP/2.0", "CSeq: 39234321 OPTIONS", *_BASE[:2], *_BASE[3:])
    msg = req(data.replace(b"Content-Length", b"Max-Forwards: 0\r\nContent-Length"))
    assert msg.max_forwards == 0


def test_badaspec_spaces_inside_angle_brackets_are_tolerated() -> None:
    msg = req(
        _request(
            "OPTIONS sip:user@example.org SIP/2.0",
            'To: "Watson, Thomas" < sip:t.watson@example.org >',
            *_BASE[1:],
            "CSeq: 3923239 OPTIONS",
        )
    )
    assert msg.to.display == "Watson, Thomas"
    assert msg.to.uri.user == "t.watson"
