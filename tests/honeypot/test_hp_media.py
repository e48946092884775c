"""Call audio: recording to WAV within bounds, DTMF, and the prompt we play."""

from __future__ import annotations

import array
import wave
from pathlib import Path

from sipwarden.sensors.honeypot.media import (
    PACKET_SAMPLES,
    DiskQuota,
    MediaSession,
    WavRecorder,
    prompt_pcm,
    recording_path,
)
from sipwarden.sip.dtmf import TelephoneEvent, serialize_telephone_event
from sipwarden.sip.g711 import alaw_decode, alaw_encode, tone
from sipwarden.sip.rtp import RtpPacket, parse_rtp, serialize_rtp


def _audio_packets(seconds: float, *, pt: int = 8) -> list[bytes]:
    pcm = tone((700.0,), int(seconds * 1000), amplitude=0.5)
    payload = alaw_encode(pcm)
    return [
        serialize_rtp(
            RtpPacket(pt, i, i * PACKET_SAMPLES, 1234, payload[i * PACKET_SAMPLES : (i + 1) * PACKET_SAMPLES])
        )
        for i in range(len(payload) // PACKET_SAMPLES)
    ]


def _peak(path: Path) -> tuple[float, int]:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        frames = wav.readframes(wav.getnframes())
        samples = array.array("h", frames)
        return wav.getnframes() / 8000, max(abs(s) for s in samples)


def test_caller_audio_is_recorded_as_wav(tmp_path: Path) -> None:
    quota = DiskQuota(tmp_path, 10_000_000)
    recorder = WavRecorder(tmp_path / "call.wav", max_seconds=60, quota=quota)
    session = MediaSession(8, 101, recorder, ssrc=42)
    for packet in _audio_packets(2.0):
        assert session.receive(packet) is None
    info = session.finish()
    assert info.path == str(tmp_path / "call.wav")
    assert info.seconds == 2.0 and info.codec == "PCMA" and info.packets == 100
    seconds, peak = _peak(tmp_path / "call.wav")
    assert seconds == 2.0
    assert peak > 10_000  # a 0.5 full-scale tone, not silence


def test_recording_stops_at_its_length_bound(tmp_path: Path) -> None:
    recorder = WavRecorder(tmp_path / "long.wav", max_seconds=1, quota=DiskQuota(tmp_path, 10_000_000))
    session = MediaSession(8, None, recorder, ssrc=1)
    for packet in _audio_packets(3.0):
        session.receive(packet)
    info = session.finish()
    assert info.seconds == 1.0 and info.truncated and info.packets == 150


def test_disk_quota_is_shared_and_enforced(tmp_path: Path) -> None:
    quota = DiskQuota(tmp_path, 16000 * 2)  # two seconds of audio in all
    sessions = [
        MediaSession(8, None, WavRecorder(tmp_path / f"{i}.wav", max_seconds=60, quota=quota), ssrc=i) for i in range(3)
    ]
    for session in sessions:
        for packet in _audio_packets(1.5):
            session.receive(packet)
    infos = [s.finish() for s in sessions]
    assert infos[0].seconds == 1.5 and not infos[0].truncated
    assert infos[1].truncated and infos[1].seconds < 1.5
    assert infos[2].path is None and not (tmp_path / "2.wav").exists()  # nothing fit: no empty file kept
    assert quota.used <= quota.limit


def test_existing_recordings_count_against_the_quota(tmp_path: Path) -> None:
    (tmp_path / "old.wav").write_bytes(b"x" * 5000)
    assert DiskQuota(tmp_path, 10_000).used == 5000


def test_dtmf_digits_are_collected_once_each() -> None:
    session = MediaSession(0, 101, None, ssrc=7)
    digits = []
    timestamp = 1000
    for seq, key in enumerate([1, 2, 11, 0]):  # 1 2 # 0
        for step, end in ((160, False), (320, False), (480, True), (480, True), (480, True)):
            packet = RtpPacket(
                101, seq * 10 + step // 160, timestamp, 7, serialize_telephone_event(TelephoneEvent(key, end, 10, step))
            )
            digit = session.receive(serialize_rtp(packet))
            if digit:
                digits.append(digit)
        timestamp += 2000
    assert "".join(digits) == "12#0" == session.finish().digits


def test_garbage_rtp_is_ignored() -> None:
    session = MediaSession(0, 101, None, ssrc=7)
    for junk in (b"", b"\x00", b"\x80" * 3, b"\xff" * 40, serialize_rtp(RtpPacket(101, 1, 1, 1, b"abc"))):
        assert session.receive(junk) is None
    assert session.finish().packets == 0


def test_prompt_is_ringback_then_beep_in_20ms_packets() -> None:
    session = MediaSession(8, None, None, ssrc=99)
    packets = [parse_rtp(session.next_packet()) for _ in range(400)]
    assert all(p.payload_type == 8 and len(p.payload) == PACKET_SAMPLES for p in packets)
    assert [p.sequence - packets[0].sequence for p in packets[:5]] == [0, 1, 2, 3, 4]
    assert packets[1].timestamp - packets[0].timestamp == PACKET_SAMPLES
    assert packets[0].marker and not packets[1].marker
    audio = b"".join(alaw_decode(p.payload) for p in packets)
    assert len(audio) >= len(prompt_pcm())
    ring = array.array("h", audio[: 8000 * 2])  # first second: ringback tone
    assert max(abs(s) for s in ring) > 3000
    tail = array.array("h", audio[len(prompt_pcm()) :])  # after the prompt: silence
    assert max(abs(s) for s in tail) < 100


def test_recording_path_cannot_escape_the_directory(tmp_path: Path) -> None:
    path = recording_path(tmp_path, "../../etc/passwd\x00;rm -rf", 1700000000.0)
    assert path.parent == tmp_path and "/" not in path.name and path.name.endswith(".wav")
