"""DTMF as RTP telephone-events (RFC 4733, which replaced RFC 2833).

A key press is sent as a run of RTP packets that all carry the event's start timestamp: updates
with a growing duration while the key is held, then the final packet with the E bit, repeated
three times in case of loss (RFC 4733 2.5.1.4). `DtmfCollector` turns such runs into one digit each.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass
from typing import Final

from sipwarden.sip.errors import LocalProtocolError, RemoteProtocolError

__all__ = ["DTMF_DIGITS", "DtmfCollector", "TelephoneEvent", "parse_telephone_event", "serialize_telephone_event"]

#: RFC 4733 3.2 table 7: events 0-15 are the DTMF keys.
DTMF_DIGITS: Final = "0123456789*#ABCD"
#: The payload is exactly one 32-bit word (RFC 4733 2.3).
EVENT_PAYLOAD_LEN: Final = 4
#: How many past event timestamps the collector remembers, to ignore reordered late packets of an
#: event already reported. Only the last few events can still be in flight on a call.
RECENT_EVENTS: Final = 16
#: A long event restarts at exactly old timestamp + old duration (RFC 4733 2.5.1.3). One 20 ms
#: packet (160 units at 8 kHz) of slack tells that from a new press of the same key after a lost
#: end, which comes only after an inter-digit pause (ITU-T Q.24: at least 40 ms).
CONTINUATION_SLACK: Final = 160

_EVENT = struct.Struct("!BBH")


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """One telephone-event payload (RFC 4733 2.3)."""

    event: int
    end: bool
    volume: int  # power level in -dBm0, 0..63
    duration: int  # in RTP timestamp units since the event began

    @property
    def digit(self) -> str | None:
        """The DTMF key (0-9 * # A-D) or None for other events (flash, fax tones...)."""
        return DTMF_DIGITS[self.event] if self.event < len(DTMF_DIGITS) else None


def parse_telephone_event(payload: bytes) -> TelephoneEvent:
    """Parse an RTP payload of type telephone-event; RemoteProtocolError if it is not 4 bytes."""
    if len(payload) != EVENT_PAYLOAD_LEN:
        raise RemoteProtocolError(f"telephone-event payload of {len(payload)} bytes, expected {EVENT_PAYLOAD_LEN}")
    event, flags, duration = _EVENT.unpack(payload)
    # The R bit (0x40) is reserved: senders set it to zero, receivers ignore it (RFC 4733 2.3).
    return TelephoneEvent(event=event, end=bool(flags & 0x80), volume=flags & 0x3F, duration=duration)


def serialize_telephone_event(ev: TelephoneEvent) -> bytes:
    """The 4-byte payload for `ev`; LocalProtocolError on out-of-range fields."""
    if not 0 <= ev.event <= 255 or not 0 <= ev.volume <= 63 or not 0 <= ev.duration <= 0xFFFF:
        raise LocalProtocolError(f"telephone-event field out of range: {ev!r}")
    return _EVENT.pack(ev.event, (0x80 if ev.end else 0) | ev.volume, ev.duration)


class DtmfCollector:
    """Sans-I/O: feed each telephone-event with its RTP timestamp, get each digit once.

    A new digit is reported on the first packet of a new event timestamp. Later packets of the same
    event (updates, the three redundant end packets, reordered stragglers) are ignored, and so is
    the continuation of an event longer than the 16-bit duration, which restarts with a new
    timestamp but the same event and no end seen (RFC 4733 2.5.1.3).
    """

    def __init__(self) -> None:
        self._recent: deque[int] = deque(maxlen=RECENT_EVENTS)
        self._event: int | None = None
        self._ended = True
        self._duration = 0

    def feed(self, timestamp: int, ev: TelephoneEvent) -> str | None:
        """The digit this packet starts, or None (repeat, continuation or not a DTMF key)."""
        if self._recent and timestamp == self._recent[-1]:
            self._ended = self._ended or ev.end
            self._duration = max(self._duration, ev.duration)
            return None
        if timestamp in self._recent:
            return None  # a late packet of an event already reported
        continuation = (
            not self._ended
            and ev.event == self._event
            and (timestamp - self._recent[-1]) % 2**32 <= self._duration + CONTINUATION_SLACK
        )
        self._recent.append(timestamp)
        self._event, self._ended, self._duration = ev.event, ev.end, ev.duration
        return None if continuation else ev.digit
