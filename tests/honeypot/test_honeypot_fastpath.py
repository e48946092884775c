"""The OPTIONS fast path gives byte-for-byte the answers, events and counts of the full path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipwarden.sensors.honeypot.core import HoneypotCore
from sipwarden.sensors.honeypot.fastpath import TAG_CHARS, FastPath, TagPool
from sipwarden.sensors.honeypot.outputs import Emit, Output, Peer, Reply
from sipwarden.sensors.honeypot.personas import PERSONAS
from sipwarden.sensors.honeypot.tools import FINGERPRINTS, Fingerprint, decode_sipvicious_tag, recognise

from .helpers import ATTACKER, make_core, sip_request

V6 = Peer("2001:db8::5", 5062, "udp", "2001:db8::1", 5060)
TCP = Peer("203.0.113.7", 40000, "tcp", "192.0.2.10", 5060)
SAME_HOST = Peer("10.0.0.5", 5062, "udp", "192.0.2.10", 5060)


def _lines(*lines: str, end: str = "\r\n") -> bytes:
    return (end.join(lines) + end + end).encode("latin-1")


def _options(via: str = "SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-1;rport", **kw: str) -> bytes:
    """An OPTIONS with one Via (or several, joined by newlines in `via`) and overridable headers."""
    headers = {
        "From": '"scan" <sip:100@192.0.2.10>;tag=f00d',
        "To": "<sip:100@192.0.2.10>",
        "Call-ID": "c1@203.0.113.7",
        "CSeq": "1 OPTIONS",
        "Max-Forwards": "70",
        "User-Agent": "friendly-scanner",
        "Content-Length": "0",
    } | {k.replace("_", "-"): v for k, v in kw.items()}
    vias = [f"Via: {v}" for v in via.split("\n")]
    uri = headers.pop("Uri", "sip:100@192.0.2.10")
    return _lines(f"OPTIONS {uri} SIP/2.0", *vias, *(f"{k}: {v}" for k, v in headers.items() if v != "<none>"))


# (name, request bytes, peer); every one of these must take the fast path.
FAST: list[tuple[str, bytes, Peer]] = [
    ("helpers request", sip_request("OPTIONS"), ATTACKER),
    ("unknown user gets 404", sip_request("OPTIONS", "sip:555@192.0.2.10", from_user="555"), ATTACKER),
    ("no user part", sip_request("OPTIONS", "sip:192.0.2.10"), ATTACKER),
    ("zero-padded user", _options(Uri="sip:0100@192.0.2.10"), ATTACKER),
    ("rport and received", _options(), ATTACKER),
    ("no rport, other host", _options(via="SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-2"), ATTACKER),
    ("no rport, same host", _options(via="SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-3"), SAME_HOST),
    ("rport, same host", _options(via="SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-3;rport"), SAME_HOST),
    ("old received replaced", _options(via="SIP/2.0/UDP 10.0.0.5;received=1.2.3.4;rport=9;branch=z9hG4bKx"), ATTACKER),
    ("IPv6 Via", _options(via="SIP/2.0/UDP [2001:db8::5]:5062;branch=z9hG4bK6;rport"), V6),
    ("IPv6 Via other host", _options(via="SIP/2.0/UDP [2001:db8::9]:5062;branch=z9hG4bK6"), V6),
    ("IPv6 Via no port", _options(via="SIP/2.0/UDP [2001:db8::5];branch=z9hG4bK6"), V6),
    (
        "two Via lines",
        _options(via="SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKa;rport\nSIP/2.0/UDP 10.9.9.9;branch=z9hG4bKb"),
        ATTACKER,
    ),
    ("comma-joined Vias", _options(via="SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKa, SIP/2.0/TCP 10.9.9.9;branch=b"), ATTACKER),
    (
        "compact forms",
        _lines(
            "OPTIONS sip:100@192.0.2.10 SIP/2.0",
            "v: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-4;rport",
            "f: <sip:100@192.0.2.10>;tag=abc",
            "t: <sip:100@192.0.2.10>",
            "i: compact@x",
            "CSeq: 7 OPTIONS",
            "l: 0",
        ),
        ATTACKER,
    ),
    (
        "lower-case names, no Max-Forwards, no User-Agent",
        _lines(
            "OPTIONS sip:100@192.0.2.10 SIP/2.0",
            "via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-1234567",
            "from: <sip:100@192.0.2.10>;tag=abc",
            "to: <sip:100@192.0.2.10>",
            "call-id: lower@x",
            "cseq: 2 OPTIONS",
        ),
        ATTACKER,
    ),
    ("To already tagged", _options(To="<sip:100@192.0.2.10>;tag=theirs"), ATTACKER),
    ("To tag with spaces", _options(To="<sip:100@192.0.2.10> ; TAG = x"), ATTACKER),
    ("svmap tag", _options(From="<sip:100@1.1.1.1>;tag=3230332e302e3131332e37013438363934", User_Agent="<none>"), ATTACKER),
    ("svwar tag", _options(From="<sip:100@1.1.1.1>;tag=313030013132333435", To="<sip:100@192.0.2.10>"), ATTACKER),
    ("sipp tag", _options(From="<sip:b@1.1.1.1>;tag=123SIPpTag0042", User_Agent="<none>"), ATTACKER),
    ("nmap tag", _options(From="<sip:nm@nm>;tag=root", User_Agent="<none>"), ATTACKER),
    ("sipvicious branch, no UA", _options(via="SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK-99", User_Agent="<none>"), ATTACKER),
    ("sipsak", _options(User_Agent="sipsak 0.9.8.1"), ATTACKER),
    ("SIPp UA", _options(User_Agent="SIPp/Linux"), ATTACKER),
    ("empty UA", _options(User_Agent=""), ATTACKER),
    ("latin-1 UA", _options(User_Agent="Gr\u00fc\u00dfe \u00ff"), ATTACKER),
    ("padded values", _options(CSeq="1 OPTIONS", Call_ID="\t spaced \t"), ATTACKER),
    ("Call-ID empty", _options(Call_ID=""), ATTACKER),
    ("extra known headers", _options(Accept="application/sdp", Contact="<sip:a@b>", Date="x"), ATTACKER),
    ("over TCP", _options(), TCP),
    ("tiny request: minimal reply", _lines("OPTIONS sip:x SIP/2.0", "v: a b", "f: c", "t: d", "i: e", "CSeq: 1 OPTIONS"), ATTACKER),
    ("big CSeq", _options(CSeq="2147483647 OPTIONS"), ATTACKER),
]  # fmt: skip

# Requests the fast path must leave to the full parser (which may accept or refuse them).
SLOW: list[tuple[str, bytes]] = [
    ("LF-only line ends", _lines("OPTIONS sip:100@x SIP/2.0", "Via: SIP/2.0/UDP a;branch=b", "From: <sip:a@b>",
                                 "To: <sip:a@b>", "Call-ID: c", "CSeq: 1 OPTIONS", end="\n")),
    ("folded header", _options(User_Agent="friendly\r\n scanner")),
    ("space before colon", _options().replace(b"Call-ID:", b"Call-ID :")),
    ("two spaces in start line", _options().replace(b"OPTIONS sip", b"OPTIONS  sip")),
    ("lower-case version", _options().replace(b"SIP/2.0\r\n", b"sip/2.0\r\n", 1)),
    ("bad version", _options().replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1)),
    ("body", _options(Content_Length="4") + b"abcd"),
    ("no Content-Length, trailing bytes", _options(Content_Length="<none>") + b"xyz"),
    ("Content-Length too big", _options(Content_Length="10")),
    ("Content-Length 00", _options(Content_Length="00")),
    ("conflicting To", _options() .replace(b"To: ", b"To: <sip:9@9>\r\nTo: ")),
    ("identical repeated Call-ID", _options().replace(b"Call-ID: c1@203.0.113.7", b"Call-ID: a\r\nCall-ID: a")),
    ("unknown header", _options(X_Scan="1")),
    ("Max-Forwards 070", _options(Max_Forwards="070")),
    ("Max-Forwards 999", _options(Max_Forwards="999")),
    ("CSeq odd spacing", _options(CSeq="1  OPTIONS")),
    ("CSeq other method", _options(CSeq="1 INVITE")),
    ("CSeq too big", _options(CSeq="2147483648 OPTIONS")),
    ("CSeq unicode digits", _options(CSeq="\u00b2 OPTIONS")),
    ("missing Call-ID", _options(Call_ID="<none>")),
    ("empty Via", _options(via="")),
    ("NUL byte", _options(User_Agent="a\x00b")),
    ("bare CR", _options(User_Agent="a\rb")),
    ("bad Request-URI", _options(Uri="sip:100@192.0.2.10 x")),
    ("Request-URI with space-free garbage", _options(Uri="<>")),
    ("leading CRLF", b"\r\n" + _options()),
    ("no end of headers", _options()[:-2]),
    ("BYE", sip_request("BYE")),
    ("too large", _options(User_Agent="x" * 5000)),
]  # fmt: skip


def _pair(**settings_: Any) -> tuple[FastPath, HoneypotCore]:
    """A fast path and a full core with identical configuration and deterministic tokens."""
    fast_core = make_core(**settings_)
    return FastPath(fast_core, tag=lambda: fast_core.token(4)), make_core(**settings_)


def _comparable(outputs: Sequence[Output]) -> list[Any]:
    out: list[Any] = []
    for item in outputs:
        if isinstance(item, Emit):
            out.append({k: v for k, v in item.event.to_dict().items() if k != "id"})
        else:
            out.append(item)
    return out


@pytest.mark.parametrize("persona", sorted(PERSONAS))
@pytest.mark.parametrize(("name", "data", "peer"), FAST, ids=[case[0] for case in FAST])
def test_fast_path_answers_like_the_full_path(name: str, data: bytes, peer: Peer, persona: str) -> None:
    fast, full = _pair(persona_name=persona)
    got = fast.options(data, peer, 1000.0)
    assert got is not None, f"{name}: expected the fast path to take it"
    want = full.receive(data, peer, 1000.0)
    assert _comparable(got) == _comparable(want)
    assert any(isinstance(item, Reply) for item in want) or full.dropped_replies == fast.core.dropped_replies == 1


@pytest.mark.parametrize(("name", "data"), SLOW, ids=[case[0] for case in SLOW])
def test_unusual_requests_fall_back_with_nothing_changed(name: str, data: bytes) -> None:
    fast, _ = _pair()
    assert fast.options(data, ATTACKER, 1000.0) is None
    assert len(fast.core.limiter) == 0 and len(fast.core.aggregator) == 0 and fast.core.dropped_replies == 0
    # Through `receive` the full path answers exactly as the core does.
    fast2, full2 = _pair()
    assert _comparable(fast2.receive(data, ATTACKER, 1000.0)) == _comparable(full2.receive(data, ATTACKER, 1000.0))
    assert fast2.full == 1 and fast2.fast == 0


def test_a_flood_is_counted_and_rate_limited_alike() -> None:
    """A sequence with repeats, a rate limit and window ends: identical outputs, counts add up."""
    fast, full = _pair(rate_per_source=1.0, rate_burst=3, aggregate_seconds=2.0)
    requests = [data for _, data, peer in FAST if peer is ATTACKER] * 3
    got: list[Output] = []
    want: list[Output] = []
    for i, data in enumerate(requests):
        now = 1000.0 + i * 0.1
        got += fast.receive(data, ATTACKER, now)
        want += full.receive(data, ATTACKER, now)
        if i % 10 == 0:
            got += fast.core.handle_timer(now)
            want += full.handle_timer(now)
    got += fast.core.close(2000.0)
    want += full.close(2000.0)
    assert _comparable(got) == _comparable(want)
    assert fast.fast == len(requests)
    events = [item.event for item in got if isinstance(item, Emit)]
    assert sum(event.count for event in events) == len(requests)
    assert fast.core.dropped_replies == full.dropped_replies > 0


OPTIONS_SAMPLE = _options()


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, len(OPTIONS_SAMPLE)), st.integers(0, 3), st.binary(min_size=0, max_size=3)),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_options_never_differ_from_the_full_path(edits: list[tuple[int, int, bytes]]) -> None:
    """Random cuts and insertions in an OPTIONS: whichever path takes it, outputs are the full path's."""
    data = OPTIONS_SAMPLE
    for at, cut, insert in edits:
        data = data[:at] + insert + data[at + cut :]
    fast, full = _pair()
    assert _comparable(fast.receive(data, ATTACKER, 1000.0)) == _comparable(full.receive(data, ATTACKER, 1000.0))


def test_tag_pool_gives_fresh_random_tags() -> None:
    pool = TagPool(size=4)
    tags = [pool() for _ in range(1000)]
    assert all(len(tag) == TAG_CHARS and int(tag, 16) >= 0 for tag in tags)
    assert len(set(tags)) > 990  # 32 random bits each: a repeat among 1000 is a ~1e-4 event


def _tool_by_tag_one_by_one(from_tag: str, fingerprints: Sequence[Fingerprint]) -> str | None:
    return next((fp.tool for fp in fingerprints if fp.field == "from_tag" and fp.pattern.search(from_tag)), None)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789abcdefnmortSIPpTag_\n", max_size=24))
def test_combined_tag_regex_picks_the_first_trait_in_table_order(from_tag: str) -> None:
    """One combined regex per group gives what trying the traits one by one in table order gives."""
    want = _tool_by_tag_one_by_one(from_tag, FINGERPRINTS)
    assert recognise(user_agent=None, from_tag=from_tag, branch=None, method="OPTIONS") in (
        want,
        # a hex tag that decodes as a SIPVicious one is named by that first
        *(["sipvicious/svmap", "sipvicious/svwar"] if decode_sipvicious_tag(from_tag) else []),
    )
