"""RFC 4733 telephone-events and the digit collector, on built packets and SIPp's captured DTMF."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipwarden.sip.dtmf import DtmfCollector, TelephoneEvent, parse_telephone_event, serialize_telephone_event
from sipwarden.sip.errors import LocalProtocolError, RemoteProtocolError
from sipwarden.sip.rtp import parse_rtp

SIPP_SHARE = Path("/usr/share/sip-tester")  # shipped by the sip-tester package
SIPP_DTMF = {"0": "0", "1": "1", "2": "2", "3": "3", "4": "4", "5": "5", "6": "6", "7": "7", "8": "8", "9": "9", "star": "*", "pound": "#"}  # fmt: skip


def udp_payloads(path: Path) -> list[bytes]:
    """UDP payloads of a classic little-endian pcap file of Ethernet/IPv4 frames."""
    data = path.read_bytes()
    out, pos = [], 24
    while pos + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, pos + 8)[0]
        frame = data[pos + 16 : pos + 16 + caplen]
        pos += 16 + caplen
        if frame[12:14] == b"\x08\x00" and frame[23] == 17:  # IPv4, UDP
            udp = frame[14 + (frame[14] & 0x0F) * 4 :]
            out.append(udp[8 : struct.unpack_from("!H", udp, 4)[0]])
    return out


def key_press(event: int, start: int, packets: int = 6, step: int = 160) -> list[tuple[int, TelephoneEvent]]:
    """The packets a sender emits for one key press: updates, then three end packets (RFC 4733 2.5.1)."""
    run = [(start, TelephoneEvent(event, False, 10, step * i)) for i in range(packets)]
    end = TelephoneEvent(event, True, 10, step * packets)
    return run + [(start, end)] * 3


def collect(feed: list[tuple[int, TelephoneEvent]]) -> str:
    collector = DtmfCollector()
    return "".join(d for ts, ev in feed if (d := collector.feed(ts, ev)) is not None)


def test_payload_layout() -> None:
    # RFC 4733 2.3: event 8 bits | E R volume(6) | duration 16 bits
    ev = parse_telephone_event(bytes.fromhex("0b8a0640"))
    assert ev == TelephoneEvent(event=11, end=True, volume=10, duration=1600)
    assert ev.digit == "#"
    assert serialize_telephone_event(ev) == bytes.fromhex("0b8a0640")
    assert parse_telephone_event(bytes.fromhex("05ca0000")).volume == 10  # R bit ignored


def test_digits_of_every_event() -> None:
    digits = [TelephoneEvent(e, False, 0, 0).digit for e in range(17)]
    assert "".join(d for d in digits if d) == "0123456789*#ABCD"
    assert digits[16] is None  # flash


@pytest.mark.parametrize("payload", [b"", b"\x01\x80\x00", b"\x01\x80\x00\xa0\x00"])
def test_bad_payload_length(payload: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_telephone_event(payload)


@pytest.mark.parametrize(
    "ev", [TelephoneEvent(256, False, 0, 0), TelephoneEvent(1, False, 64, 0), TelephoneEvent(1, False, 0, 65536)]
)
def test_serialize_refuses_out_of_range(ev: TelephoneEvent) -> None:
    with pytest.raises(LocalProtocolError):
        serialize_telephone_event(ev)


@given(st.integers(0, 255), st.booleans(), st.integers(0, 63), st.integers(0, 0xFFFF))
def test_round_trip(event: int, end: bool, volume: int, duration: int) -> None:
    ev = TelephoneEvent(event, end, volume, duration)
    assert parse_telephone_event(serialize_telephone_event(ev)) == ev


def test_collector_reports_each_press_once() -> None:
    feed = key_press(1, 1000) + key_press(2, 3000) + key_press(2, 5000) + key_press(11, 7000)
    assert collect(feed) == "122#"


def test_collector_ignores_reordered_stragglers() -> None:
    first, second = key_press(4, 1000), key_press(5, 3000)
    feed = first[:3] + second[:2] + first[3:] + second[2:]
    assert collect(feed) == "45"


def test_collector_survives_lost_packets() -> None:
    # the start packets of a press are lost: the first update still reports it
    assert collect(key_press(7, 1000)[3:]) == "7"
    # all end packets of the first press are lost, then the same key is pressed after a pause
    feed = key_press(9, 1000)[:-3] + key_press(9, 1000 + 960 + 400)
    assert collect(feed) == "99"


def test_collector_long_event_continuation() -> None:
    # RFC 4733 2.5.1.3: an event longer than 0xFFFF units restarts at timestamp + duration
    long_part = [(1000, TelephoneEvent(0, False, 10, d)) for d in (0, 32000, 0xFFFF)]
    continuation = [
        (1000 + 0xFFFF, TelephoneEvent(0, False, 10, 160)),
        (1000 + 0xFFFF, TelephoneEvent(0, True, 10, 800)),
    ]
    assert collect(long_part + continuation) == "0"


def test_collector_timestamp_wraps() -> None:
    feed = key_press(3, 2**32 - 480) + key_press(3, 1000)
    assert collect(feed) == "33"


def test_collector_skips_non_dtmf_events() -> None:
    assert collect(key_press(16, 1000) + key_press(6, 3000)) == "6"


@pytest.mark.skipif(not SIPP_SHARE.exists(), reason="sip-tester is not installed (scripts/install-system-deps.sh)")
@pytest.mark.parametrize(("name", "digit"), sorted(SIPP_DTMF.items()))
def test_sipp_captured_dtmf(name: str, digit: str) -> None:
    collector = DtmfCollector()
    got = []
    packets = [parse_rtp(p) for p in udp_payloads(SIPP_SHARE / f"dtmf_2833_{name}.pcap")]
    assert len(packets) == 10  # 7 updates and the end packet three times
    for pkt in packets:
        assert pkt.payload_type == 101
        d = collector.feed(pkt.timestamp, parse_telephone_event(pkt.payload))
        if d is not None:
            got.append(d)
    assert got == [digit]
