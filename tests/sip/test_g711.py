"""G.711 codecs against the ITU-T reference values and, where Python still has it, audioop."""

from __future__ import annotations

import array
import math
import struct
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipwarden.sip.g711 import MAX_TONE_MS, alaw_decode, alaw_encode, tone, ulaw_decode, ulaw_encode

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop  # an independent C implementation; removed in Python 3.13
    except ImportError:  # pragma: no cover - depends on the Python version
        audioop = None  # type: ignore[assignment]

ALL_CODES = bytes(range(256))
ALL_SAMPLES = array.array("h", range(-32768, 32768)).tobytes()


def pcm(*samples: int) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


def unpcm(data: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(data) // 2}h", data)


def test_reference_values() -> None:
    # µ-law: 0xFF and 0x7F are the two zeros, 0x00/0x80 the extremes (G.711 table 2a, Sun reference)
    assert unpcm(ulaw_decode(b"\xff\x7f\x00\x80")) == (0, 0, -32124, 32124)
    # A-law: 0xD5/0x55 are the smallest magnitudes, 0x2A/0xAA the extremes (G.711 table 1a)
    assert unpcm(alaw_decode(b"\xd5\x55\x2a\xaa")) == (8, -8, -32256, 32256)
    assert ulaw_encode(pcm(0, 32767, -32768)) == b"\xff\x80\x00"
    assert alaw_encode(pcm(0, 32767, -32768)) == b"\xd5\xaa\x2a"


def test_decode_encode_is_identity_on_codes() -> None:
    assert alaw_encode(alaw_decode(ALL_CODES)) == ALL_CODES
    # µ-law has two codes for zero; 0x7F (negative zero) comes back as 0xFF
    assert ulaw_encode(ulaw_decode(ALL_CODES)) == ALL_CODES.replace(b"\x7f", b"\xff")


def test_decoding_is_monotonic() -> None:
    # Codes sorted by the value they stand for must decode in order: a check on every segment.
    for decode in (ulaw_decode, alaw_decode):
        values = sorted(unpcm(decode(ALL_CODES)))
        assert len(set(values)) >= 255
        assert values[0] < 0 < values[-1]


@pytest.mark.skipif(audioop is None, reason="audioop was removed in Python 3.13")
def test_matches_audioop_on_every_sample() -> None:
    assert audioop is not None
    assert ulaw_decode(ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)
    assert alaw_decode(ALL_CODES) == audioop.alaw2lin(ALL_CODES, 2)
    assert ulaw_encode(ALL_SAMPLES) == audioop.lin2ulaw(ALL_SAMPLES, 2)
    assert alaw_encode(ALL_SAMPLES) == audioop.lin2alaw(ALL_SAMPLES, 2)


@given(st.lists(st.integers(-32768, 32767), max_size=200))
def test_quantisation_error_is_bounded(samples: list[int]) -> None:
    # G.711 keeps about 12-13 bits: error below 1/16 of the magnitude plus a small floor
    for encode, decode in ((ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)):
        back = unpcm(decode(encode(pcm(*samples))))
        for s, b in zip(samples, back, strict=True):
            assert abs(s - b) <= abs(s) / 16 + 1024 * (abs(s) > 32000) + 40


def test_odd_length_pcm_is_refused() -> None:
    with pytest.raises(ValueError):
        ulaw_encode(b"\x00")
    with pytest.raises(ValueError):
        alaw_encode(b"\x00\x00\x00")


def _power_at(samples: tuple[int, ...], freq: float, rate: int) -> float:
    """Goertzel power of one frequency: how DTMF and tone detectors look for a tone."""
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


def test_tone_length_amplitude_and_frequency() -> None:
    beep = unpcm(tone([1000], 100))
    assert len(beep) == 800
    assert max(abs(s) for s in beep) == pytest.approx(0.3 * 32767, rel=0.01)
    assert _power_at(beep, 1000, 8000) > 100 * _power_at(beep, 1400, 8000)
    ring = unpcm(tone([440, 480], 200, amplitude=0.5))
    assert len(ring) == 1600
    assert max(abs(s) for s in ring) <= 0.5 * 32767 + 1
    for f in (440, 480):
        assert _power_at(ring, f, 8000) > 100 * _power_at(ring, 700, 8000)
    assert len(tone([425], 20, rate=16000)) == 2 * 320
    assert tone([425], 0) == b""


def test_tone_survives_g711() -> None:
    beep = tone([1000], 40)
    back = unpcm(ulaw_decode(ulaw_encode(beep)))
    assert _power_at(back, 1000, 8000) > 100 * _power_at(back, 1700, 8000)


@pytest.mark.parametrize(
    ("freqs", "ms", "kwargs"),
    [
        ([], 10, {}),
        ([425], -1, {}),
        ([425], MAX_TONE_MS + 1, {}),
        ([425], 10, {"amplitude": 1.5}),
        ([425], 10, {"rate": 0}),
    ],
)
def test_tone_refuses_bad_arguments(freqs: list[float], ms: int, kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        tone(freqs, ms, **kwargs)  # type: ignore[arg-type]
