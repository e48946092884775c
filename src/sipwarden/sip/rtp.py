"""RTP packets (RFC 3550 5.1): parse and serialize the fixed header, CSRCs, extension and padding.

The honeypot records what callers send and plays a prompt back; it needs the payload type,
sequence, timestamp and payload of each datagram. Header extensions (RFC 3550 5.3.1, RFC 8285)
are validated and skipped; padding is validated and stripped.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from sipwarden.sip.errors import LocalProtocolError, RemoteProtocolError

__all__ = ["RTP_HEADER_LEN", "RTP_VERSION", "RtpPacket", "is_rtcp", "parse_rtp", "serialize_rtp"]

RTP_VERSION: Final = 2
#: The fixed header: V/P/X/CC, M/PT, sequence, timestamp, SSRC (RFC 3550 5.1).
RTP_HEADER_LEN: Final = 12
#: CC is four bits (RFC 3550 5.1), so at most 15 contributing sources.
MAX_CSRCS: Final = 15

_FIXED = struct.Struct("!BBHII")
_EXTENSION = struct.Struct("!HH")


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet, without padding or header extension."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False
    csrcs: tuple[int, ...] = ()


def is_rtcp(data: bytes) -> bool:
    """True for an RTCP packet multiplexed on the RTP port (RFC 5761 4: packet types 192-223)."""
    return len(data) >= 2 and data[0] >> 6 == RTP_VERSION and 192 <= data[1] <= 223


def parse_rtp(data: bytes) -> RtpPacket:
    """Parse one datagram; RemoteProtocolError on a bad version, truncation or padding/extension abuse."""
    if len(data) < RTP_HEADER_LEN:
        raise RemoteProtocolError(f"RTP packet of {len(data)} bytes is shorter than the header")
    first, second, sequence, timestamp, ssrc = _FIXED.unpack_from(data)
    if first >> 6 != RTP_VERSION:
        raise RemoteProtocolError(f"RTP version {first >> 6}, expected {RTP_VERSION}")
    padding, extension, csrc_count = bool(first & 0x20), bool(first & 0x10), first & 0x0F
    end = len(data)
    if padding:
        # RFC 3550 5.1: the last octet counts the padding octets, itself included.
        pad = data[-1]
        if pad == 0:
            raise RemoteProtocolError("RTP padding count of zero")
        end -= pad
    offset = RTP_HEADER_LEN + 4 * csrc_count
    if offset > end:
        raise RemoteProtocolError("RTP packet truncated in the CSRC list or padding overlaps the header")
    csrcs = struct.unpack_from(f"!{csrc_count}I", data, RTP_HEADER_LEN)
    if extension:
        # RFC 3550 5.3.1: 16-bit profile, 16-bit length in 32-bit words (header excluded).
        if offset + _EXTENSION.size > end:
            raise RemoteProtocolError("RTP header extension truncated")
        _, words = _EXTENSION.unpack_from(data, offset)
        offset += _EXTENSION.size + 4 * words
        if offset > end:
            raise RemoteProtocolError("RTP header extension longer than the packet")
    return RtpPacket(
        payload_type=second & 0x7F,
        sequence=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        payload=bytes(data[offset:end]),
        marker=bool(second & 0x80),
        csrcs=csrcs,
    )


def serialize_rtp(pkt: RtpPacket) -> bytes:
    """The datagram for `pkt` (no padding, no extension); LocalProtocolError on out-of-range fields."""
    if not 0 <= pkt.payload_type <= 127:
        raise LocalProtocolError(f"RTP payload type {pkt.payload_type} out of range")
    if not 0 <= pkt.sequence <= 0xFFFF:
        raise LocalProtocolError(f"RTP sequence {pkt.sequence} out of range")
    if not 0 <= pkt.timestamp <= 0xFFFFFFFF or not 0 <= pkt.ssrc <= 0xFFFFFFFF:
        raise LocalProtocolError("RTP timestamp and SSRC are 32-bit unsigned")
    if len(pkt.csrcs) > MAX_CSRCS or not all(0 <= c <= 0xFFFFFFFF for c in pkt.csrcs):
        raise LocalProtocolError("RTP carries at most 15 32-bit CSRCs")
    first = (RTP_VERSION << 6) | len(pkt.csrcs)
    second = (0x80 if pkt.marker else 0) | pkt.payload_type
    header = _FIXED.pack(first, second, pkt.sequence, pkt.timestamp, pkt.ssrc)
    return header + struct.pack(f"!{len(pkt.csrcs)}I", *pkt.csrcs) + pkt.payload
