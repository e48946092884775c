"""RTP header parsing and serialization, on built packets and on SIPp's captured G.711 stream."""

from __future__ import annotations

import contextlib
import itertools
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipwarden.sip.errors import LocalProtocolError, RemoteProtocolError
from sipwarden.sip.g711 import alaw_decode
from sipwarden.sip.rtp import RtpPacket, is_rtcp, parse_rtp, serialize_rtp

SIPP_AUDIO = Path("/usr/share/sip-tester/g711a.pcap")  # shipped by the sip-tester package


def udp_payloads(path: Path) -> list[bytes]:
    """UDP payloads of a classic little-endian pcap file of Ethernet/IPv4 frames."""
    data = path.read_bytes()
    magic, _, _, _, _, _, linktype = struct.unpack_from("<IHHiIII", data)
    assert magic == 0xA1B2C3D4 and linktype == 1
    out, pos = [], 24
    while pos + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, pos + 8)[0]
        frame = data[pos + 16 : pos + 16 + caplen]
        pos += 16 + caplen
        if frame[12:14] != b"\x08\x00" or frame[23] != 17:  # IPv4, UDP
            continue
        ihl = (frame[14] & 0x0F) * 4
        udp = frame[14 + ihl :]
        length = struct.unpack_from("!H", udp, 4)[0]
        out.append(udp[8:length])
    return out


def test_round_trip_simple() -> None:
    pkt = RtpPacket(payload_type=0, sequence=65535, timestamp=0xFFFFFFFF, ssrc=0x12345678, payload=b"\xff" * 160)
    data = serialize_rtp(pkt)
    assert data[:12] == bytes.fromhex("8000ffffffffffff12345678")
    assert parse_rtp(data) == pkt


def test_marker_and_csrcs() -> None:
    pkt = RtpPacket(
        payload_type=101, sequence=1, timestamp=2, ssrc=3, payload=b"\x01\x0a\x00\xa0", marker=True, csrcs=(7, 8)
    )
    data = serialize_rtp(pkt)
    assert data[0] == 0x82 and data[1] == 0x80 | 101
    assert parse_rtp(data) == pkt


def test_padding_and_extension_are_stripped() -> None:
    header = bytes.fromhex("b0080001000000a0deadbeef")  # V=2 P=1 X=1, PT 8
    extension = bytes.fromhex("bede0001") + b"\x10\xaa\x00\x00"  # RFC 8285 one-byte header form
    data = header + extension + b"\xd5" * 160 + b"\x00\x00\x03"
    pkt = parse_rtp(data)
    assert pkt.payload == b"\xd5" * 160
    assert (pkt.payload_type, pkt.sequence, pkt.timestamp, pkt.ssrc) == (8, 1, 160, 0xDEADBEEF)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "shorter"),
        (b"\x80\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00", "shorter"),
        (bytes.fromhex("4000000100000000000000000000"), "version"),
        (bytes.fromhex("c000000100000000000000000000"), "version"),
        (bytes.fromhex("a00000010000000000000000aa00"), "padding count of zero"),
        (bytes.fromhex("a00000010000000000000000aaff"), "padding overlaps"),
        (bytes.fromhex("8f0000010000000000000000"), "CSRC"),
        (bytes.fromhex("900000010000000000000000be"), "extension truncated"),
        (bytes.fromhex("900000010000000000000000bede0009aabbccdd"), "extension longer"),
    ],
)
def test_bad_packets_raise_remote_error(data: bytes, why: str) -> None:
    with pytest.raises(RemoteProtocolError, match=why):
        parse_rtp(data)


@pytest.mark.parametrize(
    "pkt",
    [
        RtpPacket(payload_type=128, sequence=0, timestamp=0, ssrc=0, payload=b""),
        RtpPacket(payload_type=0, sequence=65536, timestamp=0, ssrc=0, payload=b""),
        RtpPacket(payload_type=0, sequence=0, timestamp=-1, ssrc=0, payload=b""),
        RtpPacket(payload_type=0, sequence=0, timestamp=0, ssrc=2**32, payload=b""),
        RtpPacket(payload_type=0, sequence=0, timestamp=0, ssrc=0, payload=b"", csrcs=tuple(range(16))),
    ],
)
def test_serialize_refuses_out_of_range(pkt: RtpPacket) -> None:
    with pytest.raises(LocalProtocolError):
        serialize_rtp(pkt)


def test_rtcp_detection() -> None:
    receiver_report = bytes.fromhex("80c90001deadbeef")  # RFC 3550 6.4.2, RC=0
    assert is_rtcp(receiver_report)
    assert not is_rtcp(serialize_rtp(RtpPacket(payload_type=0, sequence=0, timestamp=0, ssrc=0, payload=b"")))
    assert not is_rtcp(b"\x80")


@given(st.binary(max_size=64))
def test_parse_raises_only_remote_errors(data: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        pkt = parse_rtp(data)
        assert len(pkt.payload) <= len(data) - 12


@given(
    st.integers(0, 127),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.binary(max_size=200),
    st.booleans(),
    st.lists(st.integers(0, 0xFFFFFFFF), max_size=15),
)
def test_round_trip_property(
    pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool, csrcs: list[int]
) -> None:
    pkt = RtpPacket(pt, seq, ts, ssrc, payload, marker, tuple(csrcs))
    assert parse_rtp(serialize_rtp(pkt)) == pkt


@pytest.mark.skipif(not SIPP_AUDIO.exists(), reason="sip-tester is not installed (scripts/install-system-deps.sh)")
def test_sipp_captured_g711a_stream() -> None:
    packets = [parse_rtp(p) for p in udp_payloads(SIPP_AUDIO)]
    assert len(packets) > 100
    assert {p.payload_type for p in packets} == {8}
    assert len({p.ssrc for p in packets}) == 1
    for before, after in itertools.pairwise(packets):
        assert (after.sequence - before.sequence) % 65536 == 1
        assert (after.timestamp - before.timestamp) % 2**32 == len(before.payload)  # 8 kHz, 1 byte/sample
    assert all(serialize_rtp(p) == raw for p, raw in zip(packets, udp_payloads(SIPP_AUDIO), strict=True))
    pcm = alaw_decode(b"".join(p.payload for p in packets))
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    assert max(abs(s) for s in samples) > 1000  # it is speech, not silence
