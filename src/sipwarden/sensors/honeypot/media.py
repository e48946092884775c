"""Audio of answered calls: the prompt we play, the caller's audio we record, the digits we hear.

No sockets here: `MediaSession` is fed RTP packets and asked for the next packet to send; the
asyncio layer (server.py) moves the bytes. Recordings are WAV (8 kHz, 16-bit mono, stdlib `wave`),
bounded per call and by a disk quota shared by all calls.
"""

from __future__ import annotations

import logging
import os
import re
import wave
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

from sipwarden.sip.dtmf import DtmfCollector, parse_telephone_event
from sipwarden.sip.errors import ProtocolError
from sipwarden.sip.g711 import alaw_decode, alaw_encode, tone, ulaw_decode, ulaw_encode
from sipwarden.sip.rtp import RtpPacket, parse_rtp, serialize_rtp

log = logging.getLogger(__name__)

SAMPLE_RATE: Final = 8000
#: 20 ms packets: the default packetization of G.711 (RFC 3551 4.5.14) that every PBX sends.
PACKET_SAMPLES: Final = 160
PACKET_SECONDS: Final = PACKET_SAMPLES / SAMPLE_RATE
#: Digits kept per call; a DTMF flood cannot grow memory.
MAX_DIGITS_PER_CALL: Final = 256

_SAFE_NAME: Final = re.compile(r"[^A-Za-z0-9._-]+")


def prompt_pcm() -> bytes:
    """The prompt: ringback (440+480 Hz, 2 s on, 1 s off, twice), then a voicemail beep, as PCM16."""
    return _prompt_pcm()


@cache
def _prompt_pcm() -> bytes:
    silence = b"\x00\x00" * SAMPLE_RATE
    ring = tone((440.0, 480.0), 2000, amplitude=0.2)
    beep = tone((1000.0,), 500, amplitude=0.3)
    return ring + silence + ring + silence + beep


class DiskQuota:
    """Bytes all recordings may use; `reserve(n)` says whether n more bytes fit."""

    def __init__(self, directory: Path, limit_bytes: int) -> None:
        self.directory = directory
        self.limit = limit_bytes
        self.used = sum(p.stat().st_size for p in directory.glob("*.wav")) if directory.is_dir() else 0

    def reserve(self, n: int) -> bool:
        """Account for n more bytes if they fit in the quota."""
        if self.used + n > self.limit:
            return False
        self.used += n
        return True


class WavRecorder:
    """Writes PCM16 audio of one call to a WAV file, at most `max_seconds` and within the quota."""

    def __init__(self, path: Path, *, max_seconds: int, quota: DiskQuota) -> None:
        self.path = path
        self.max_bytes = max_seconds * SAMPLE_RATE * 2
        self.quota = quota
        self.written = 0
        self.truncated = False
        path.parent.mkdir(parents=True, exist_ok=True)
        self._wav: wave.Wave_write | None = wave.open(str(path), "wb")  # noqa: SIM115 - closed in close()
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(SAMPLE_RATE)

    def write(self, pcm: bytes) -> None:
        """Append audio; silently stops at the length bound or when the disk quota is spent."""
        if self._wav is None or self.truncated:
            return
        chunk = pcm[: max(0, self.max_bytes - self.written)]
        if len(chunk) < len(pcm) or not self.quota.reserve(len(chunk)):
            # Past the length bound or the quota: keep what fits of this chunk, then stop for good.
            self.truncated = True
            if not chunk or not self.quota.reserve(len(chunk)):
                return
        self._wav.writeframes(chunk)
        self.written += len(chunk)

    @property
    def seconds(self) -> float:
        """Seconds of audio written so far."""
        return self.written / (SAMPLE_RATE * 2)

    def close(self) -> None:
        """Finish the WAV header; remove the file if nothing was recorded."""
        if self._wav is None:
            return
        self._wav.close()
        self._wav = None
        if self.written == 0:
            self.path.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    """What `MediaSession.finish` reports about the call's audio."""

    path: str | None
    seconds: float
    codec: str
    packets: int
    digits: str
    truncated: bool


def recording_path(directory: Path, call_id: str, now: float) -> Path:
    """A file name for a call's recording that a hostile Call-ID cannot steer outside `directory`."""
    safe = _SAFE_NAME.sub("_", call_id)[:64] or "call"
    return directory / f"{int(now)}-{safe}.wav"


class MediaSession:
    """One call's RTP: decode and record what arrives, collect DTMF, packetize the prompt."""

    def __init__(
        self, payload_type: int, dtmf_payload_type: int | None, recorder: WavRecorder | None, *, ssrc: int
    ) -> None:
        self.payload_type = payload_type
        self.dtmf_payload_type = dtmf_payload_type
        self.recorder = recorder
        self.ssrc = ssrc
        self.packets = 0
        self.digits = ""
        self._dtmf = DtmfCollector()
        self._decode = alaw_decode if payload_type == 8 else ulaw_decode
        encode = alaw_encode if payload_type == 8 else ulaw_encode
        self._prompt = encode(prompt_pcm())
        self._offset = 0
        self._seq = ssrc & 0xFFFF
        self._timestamp = (ssrc * 7) & 0xFFFFFFFF
        # G.711 silence: 0xFF in mu-law, 0xD5 in A-law (ITU-T G.711 tables 1a/2a).
        self._silence = (b"\xd5" if payload_type == 8 else b"\xff") * PACKET_SAMPLES

    def receive(self, data: bytes) -> str | None:
        """Take one RTP datagram; return a digit when a DTMF event completes (RFC 4733 2.5.1.4)."""
        try:
            packet = parse_rtp(data)
        except ProtocolError:
            return None
        if packet.payload_type == self.payload_type:
            self.packets += 1
            if self.recorder is not None:
                self.recorder.write(self._decode(packet.payload))
            return None
        if self.dtmf_payload_type is not None and packet.payload_type == self.dtmf_payload_type:
            try:
                event = parse_telephone_event(packet.payload)
            except ProtocolError:
                return None
            digit = self._dtmf.feed(packet.timestamp, event)
            if digit and len(self.digits) < MAX_DIGITS_PER_CALL:
                self.digits += digit
                return digit
        return None

    def next_packet(self) -> bytes:
        """The next 20 ms of the prompt (then silence) as an RTP datagram."""
        chunk = self._prompt[self._offset : self._offset + PACKET_SAMPLES]
        self._offset += PACKET_SAMPLES
        if len(chunk) < PACKET_SAMPLES:
            chunk = self._silence
        packet = RtpPacket(
            payload_type=self.payload_type,
            sequence=self._seq,
            timestamp=self._timestamp,
            ssrc=self.ssrc,
            payload=chunk,
            marker=self._offset == PACKET_SAMPLES,
        )
        self._seq = (self._seq + 1) & 0xFFFF
        self._timestamp = (self._timestamp + PACKET_SAMPLES) & 0xFFFFFFFF
        return serialize_rtp(packet)

    def finish(self) -> RecordingInfo:
        """Close the recording and report on it."""
        path: str | None = None
        seconds = 0.0
        truncated = False
        if self.recorder is not None:
            self.recorder.close()
            seconds = round(self.recorder.seconds, 3)
            truncated = self.recorder.truncated
            if self.recorder.written:
                path = os.fspath(self.recorder.path)
        codec = "PCMA" if self.payload_type == 8 else "PCMU"
        return RecordingInfo(path, seconds, codec, self.packets, self.digits, truncated)
