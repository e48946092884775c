"""Header names, URIs, name-addr, Via, CSeq and list splitting (sip/headers.py)."""

from __future__ import annotations

import pytest

from sipwarden.sip.errors import RemoteProtocolError
from sipwarden.sip.headers import (
    COMPACT_FORMS,
    NameAddr,
    SipUri,
    Via,
    canonical_name,
    from_wire_text,
    parse_cseq,
    parse_name_addr,
    parse_uri,
    parse_via,
    split_header_values,
    to_wire_text,
)


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("i", "Call-ID"),
        ("I", "Call-ID"),
        ("call-id", "Call-ID"),
        ("CALL-ID", "Call-ID"),
        ("Call-Id", "Call-ID"),
        ("www-authenticate", "WWW-Authenticate"),
        ("cseq", "CSeq"),
        ("v", "Via"),
        ("m", "Contact"),
        ("l", "Content-Length"),
        ("x", "Session-Expires"),
        ("user-agent", "User-Agent"),
        ("x-asterisk-hangupcause", "X-Asterisk-Hangupcause"),
        ("P-ASSERTED-IDENTITY", "P-Asserted-Identity"),
        ("z", "Z"),
    ],
)
def test_canonical_name(name: str, canonical: str) -> None:
    assert canonical_name(name) == canonical


def test_every_compact_form_maps_to_its_own_canonical_name() -> None:
    required = {"v", "f", "t", "i", "m", "l", "c", "k", "s", "e", "o", "r", "b", "u", "x"}
    assert required <= COMPACT_FORMS.keys()
    for short, long in COMPACT_FORMS.items():
        assert canonical_name(short) == long
        assert canonical_name(long.lower()) == long


URIS: list[tuple[str, SipUri]] = [
    ("sip:alice@example.com", SipUri("sip", "alice", None, "example.com")),
    ("SIP:alice@example.com", SipUri("sip", "alice", None, "example.com")),
    ("sips:bob:secret@192.0.2.4:5061", SipUri("sips", "bob", "secret", "192.0.2.4", 5061)),
    ("sip:example.com", SipUri("sip", None, None, "example.com")),
    (
        "sip:100@[2001:db8::1]:5060;transport=tcp;lr",
        SipUri("sip", "100", None, "2001:db8::1", 5060, (("transport", "tcp"), ("lr", None))),
    ),
    ("sip:[::1]", SipUri("sip", None, None, "::1")),
    (
        "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
        SipUri("sip", "alice", None, "atlanta.com", headers="subject=project%20x&priority=urgent"),
    ),
    (
        "tel:+1-201-555-0123;phone-context=example.com",
        SipUri("tel", "+1-201-555-0123", None, "", None, (("phone-context", "example.com"),)),
    ),
    ("sip:alice;day=tuesday@atlanta.com", SipUri("sip", "alice;day=tuesday", None, "atlanta.com")),
    ("sip:0046701234567@pbx.local:5080", SipUri("sip", "0046701234567", None, "pbx.local", 5080)),
]


@pytest.mark.parametrize(("text", "expected"), URIS)
def test_parse_uri(text: str, expected: SipUri) -> None:
    assert parse_uri(text) == expected


@pytest.mark.parametrize(("text", "expected"), URIS)
def test_uri_round_trip(text: str, expected: SipUri) -> None:
    assert parse_uri(str(expected)) == expected


def test_uri_str_brackets_ipv6() -> None:
    assert str(SipUri("sip", "100", None, "2001:db8::1", 5060)) == "sip:100@[2001:db8::1]:5060"
    assert str(SipUri("sip", None, None, "::1")) == "sip:[::1]"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "alice@example.com",  # no scheme
        "http://example.com/",  # not a SIP URI
        "sip:",
        "sip:alice@",
        "sip:@example.com",
        "sip:alice@exa mple.com",
        "sip:alice@example.com:99999",
        "sip:alice@example.com:50x",
        "sip:alice@[2001:db8::1",
        "sip:alice@[not-v6]:5060",
        "sip:alice@[::1]junk",
        "sip:a<b@example.com",
        "sip:alice@example.com;" + ";".join(f"p{i}" for i in range(100)),  # over MAX_PARAMS
        "sip:alice@example.com;=x",
        "tel:",
        "sip:alice@example.com:\u00b2",  # a digit to str.isdigit, not to SIP
    ],
)
def test_bad_uris_are_remote_errors(text: str) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_uri(text)


NAME_ADDRS: list[tuple[str, NameAddr]] = [
    (
        '"Bob" <sip:bob@biloxi.com>;tag=a6c85cf',
        NameAddr("Bob", SipUri("sip", "bob", None, "biloxi.com"), (("tag", "a6c85cf"),)),
    ),
    ("Bob <sip:bob@h>", NameAddr("Bob", SipUri("sip", "bob", None, "h"))),
    ("<sip:bob@h>", NameAddr(None, SipUri("sip", "bob", None, "h"))),
    # Without <>, parameters belong to the header (RFC 3261 20): tag is a header param here.
    ("sip:a@b;tag=x", NameAddr(None, SipUri("sip", "a", None, "b"), (("tag", "x"),))),
    (
        "<sip:a@b;transport=udp>;expires=60",
        NameAddr(None, SipUri("sip", "a", None, "b", None, (("transport", "udp"),)), (("expires", "60"),)),
    ),
    ('"with \\"quotes\\" and \\\\" <sip:x@y>', NameAddr('with "quotes" and \\', SipUri("sip", "x", None, "y"))),
    ('"" <sip:x@y>', NameAddr("", SipUri("sip", "x", None, "y"))),
    ('"sipvicious" <sip:100@1.1.1.1>', NameAddr("sipvicious", SipUri("sip", "100", None, "1.1.1.1"))),
    ("<sip:100@[2001:db8::5]:5062>", NameAddr(None, SipUri("sip", "100", None, "2001:db8::5", 5062))),
    ("<tel:+4930123456>", NameAddr(None, SipUri("tel", "+4930123456", None, ""))),
]


@pytest.mark.parametrize(("text", "expected"), NAME_ADDRS)
def test_parse_name_addr(text: str, expected: NameAddr) -> None:
    assert parse_name_addr(text) == expected


@pytest.mark.parametrize(("text", "expected"), NAME_ADDRS)
def test_name_addr_round_trip(text: str, expected: NameAddr) -> None:
    assert parse_name_addr(str(expected)) == expected


def test_name_addr_tag_and_params() -> None:
    value = parse_name_addr('"A" <sip:a@b>;TAG=abc;expires=3600;+sip.instance="<urn:uuid:1>"')
    assert value.tag == "abc"
    assert value.param("Expires") == "3600"
    assert value.param("+sip.instance") == '"<urn:uuid:1>"'
    assert value.with_params(tag="new").tag == "new"
    assert parse_name_addr("<sip:a@b>").tag is None
    assert parse_name_addr("<sip:a@b>").with_params(tag="t1") == parse_name_addr("<sip:a@b>;tag=t1")


def test_wildcard_contact() -> None:
    star = parse_name_addr(" * ")
    assert star.is_wildcard
    assert str(star) == "*"
    assert not parse_name_addr("<sip:a@b>").is_wildcard


@pytest.mark.parametrize(
    "text",
    [
        "",
        '"unterminated <sip:a@b>',
        '"Bob" sip:bob@h',
        "<sip:bob@h",
        "<sip:bob@h> junk",
        "Bell, Alexander <sip:a@b>",
        "sip:a@b?Route=x",
        "<http://example.com>",
        "<sip:a@b>;;=",
    ],
)
def test_bad_name_addrs_are_remote_errors(text: str) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_name_addr(text)


VIAS: list[tuple[str, Via]] = [
    (
        "SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK776asdhds;rport",
        Via("SIP/2.0", "UDP", "192.0.2.7", 5060, (("branch", "z9hG4bK776asdhds"), ("rport", None))),
    ),
    ("SIP/2.0/TCP client.example.com", Via("SIP/2.0", "TCP", "client.example.com")),
    ("sip/2.0/udp host", Via("SIP/2.0", "UDP", "host")),
    (
        "SIP/2.0/UDP [2001:db8::9]:5070;branch=z9hG4bKx",
        Via("SIP/2.0", "UDP", "2001:db8::9", 5070, (("branch", "z9hG4bKx"),)),
    ),
    ("SIP / 2.0 / TLS h : 5061 ; branch = z9", Via("SIP/2.0", "TLS", "h", 5061, (("branch", "z9"),))),
    ("SIP/2.0/UDP h:5060;branch=z9 ;rport", Via("SIP/2.0", "UDP", "h", 5060, (("branch", "z9"), ("rport", None)))),
    ("SIP/2.0/UDP h:5060;branch=z9;;", Via("SIP/2.0", "UDP", "h", 5060, (("branch", "z9"),))),
    ("  SIP/2.0/UDP h  ", Via("SIP/2.0", "UDP", "h")),
    ("SIP/2.0/udp h;Branch=B", Via("SIP/2.0", "UDP", "h", None, (("Branch", "B"),))),
    (
        'SIP/2.0/UDP h;branch=z9;x="a;b"',
        Via("SIP/2.0", "UDP", "h", None, (("branch", "z9"), ("x", '"a;b"'))),
    ),
]


@pytest.mark.parametrize(("text", "expected"), VIAS)
def test_parse_via(text: str, expected: Via) -> None:
    assert parse_via(text) == expected


@pytest.mark.parametrize(("text", "expected"), VIAS)
def test_via_round_trip(text: str, expected: Via) -> None:
    assert parse_via(str(expected)) == expected


def test_via_str_and_with_params() -> None:
    via = parse_via("SIP/2.0/UDP [2001:db8::9]:5070;branch=z9hG4bKx;rport")
    assert str(via) == "SIP/2.0/UDP [2001:db8::9]:5070;branch=z9hG4bKx;rport"
    answered = via.with_params(received="2001:db8::1", rport="5070")
    assert str(answered) == "SIP/2.0/UDP [2001:db8::9]:5070;branch=z9hG4bKx;rport=5070;received=2001:db8::1"
    assert answered.branch == "z9hG4bKx"
    assert via.has_param("RPORT") and via.param("rport") is None
    assert not via.has_param("received")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "SIP/2.0 host",
        "SIP/2.0/UDP",
        "SIP/2.0/UDP ",
        "SIP/2.0/UDP;branch=x",
        "SIP/2.0/ host",
        "SIP//UDP host",
        "SIP/2.0/UDP host:port",
        "SIP/2.0/UDP [::1",
        "SIP/2.0/UDP h:65536",
        "SIP/2.0/UDP h:5060;=x",
        "SIP/2.0/UDP h;bad name=1",
        ";",
    ],
)
def test_bad_vias_are_remote_errors(text: str) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_via(text)


@pytest.mark.parametrize(
    ("value", "parts"),
    [
        ("INVITE, ACK,OPTIONS", ["INVITE", "ACK", "OPTIONS"]),
        ("single", ["single"]),
        ("", []),
        (" , ,", []),
        ('"Doe, John" <sip:j@d>, <sip:x@y;a=b,c>', ['"Doe, John" <sip:j@d>', "<sip:x@y;a=b,c>"]),
        ('"a \\" , b" <sip:q@r>, sip:s@t', ['"a \\" , b" <sip:q@r>', "sip:s@t"]),
        ("SIP/2.0/UDP a;branch=1, SIP/2.0/TCP b", ["SIP/2.0/UDP a;branch=1", "SIP/2.0/TCP b"]),
    ],
)
def test_split_header_values(value: str, parts: list[str]) -> None:
    assert split_header_values(value) == parts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 INVITE", (1, "INVITE")),
        ("  4711   REGISTER ", (4711, "REGISTER")),
        ("0009\tOPTIONS", (9, "OPTIONS")),
        ("2147483647 BYE", (2**31 - 1, "BYE")),
    ],
)
def test_parse_cseq(text: str, expected: tuple[int, str]) -> None:
    assert parse_cseq(text) == expected


@pytest.mark.parametrize(
    "text", ["", "INVITE", "1", "-1 INVITE", "2147483648 INVITE", "1 IN VITE", "x INVITE", "1 <INVITE>", "1" * 30]
)
def test_bad_cseq_is_remote_error(text: str) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_cseq(text)


def test_wire_text_round_trip() -> None:
    text = "Zoë «Ünïcödé» 大停電"
    wire = to_wire_text(text)
    assert wire.encode("latin-1") == text.encode("utf-8")
    assert from_wire_text(wire) == text
    assert from_wire_text("caf\xe9") == "caf\ufffd"  # a latin-1 byte that is not UTF-8


def test_long_hostile_values_split_and_unescape_correctly() -> None:
    # Values near the message size limit go through the regex scanners, not a per-character loop.
    entries = ['"a,b;c" <sip:x@y;p=1,2>'] * 2500
    assert split_header_values(", ".join(entries)) == entries
    display = 'a"\\' * 5000
    quoted = '"' + display.replace("\\", "\\\\").replace('"', '\\"') + '" <sip:x@y>'
    assert parse_name_addr(quoted).display == display
    assert split_header_values('"' + "x, " * 10000) == ['"' + ("x, " * 10000).rstrip()]  # unterminated quote
    params = parse_name_addr("<sip:x@y>;a=" + '"' + ";" * 20000 + '"' + ";b").params
    assert [name for name, _ in params] == ["a", "b"]
