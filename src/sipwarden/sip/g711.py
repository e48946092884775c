"""G.711 µ-law and A-law (ITU-T G.711) without audioop, which Python 3.13 removed (PEP 594).

Decoding uses 256-entry tables; encoding uses 65,536-entry tables built once on first use, so both
directions are a table lookup per sample. Sample values match the classic Sun Microsystems
reference code (the one audioop and SoX use): µ-law decodes to +/-32124, A-law to +/-32256.
PCM is 16-bit signed little-endian, the layout of WAV files.
"""

from __future__ import annotations

import array
import math
import sys
from collections.abc import Callable, Sequence
from functools import cache
from typing import Final

__all__ = ["alaw_decode", "alaw_encode", "tone", "ulaw_decode", "ulaw_encode"]

_ULAW_BIAS: Final = 0x84  # G.711 µ-law adds 33 (in 14-bit units) so every segment starts at a power of two
_ULAW_CLIP: Final = 8159  # largest 14-bit magnitude µ-law can code before the bias is added
_SEG_ULAW_END: Final = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
_SEG_ALAW_END: Final = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def _segment(value: int, ends: Sequence[int]) -> int:
    for seg, end in enumerate(ends):
        if value <= end:
            return seg
    return len(ends)


def _ulaw_to_linear(code: int) -> int:
    u = ~code & 0xFF  # µ-law codes are sent inverted (G.711 table 2a)
    t = (((u & 0x0F) << 3) + _ULAW_BIAS) << ((u & 0x70) >> 4)
    return _ULAW_BIAS - t if u & 0x80 else t - _ULAW_BIAS


def _alaw_to_linear(code: int) -> int:
    a = code ^ 0x55  # even bits are inverted on the line (G.711 table 1a)
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


def _linear_to_ulaw(sample: int) -> int:
    value = sample >> 2  # work in 14 bits
    mask = 0xFF
    if value < 0:
        value, mask = -value, 0x7F
    value = min(value, _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    seg = _segment(value, _SEG_ULAW_END)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((value >> (seg + 1)) & 0x0F)) ^ mask


def _linear_to_alaw(sample: int) -> int:
    value = sample >> 3  # work in 13 bits
    if value >= 0:
        mask = 0xD5
    else:
        mask, value = 0x55, -value - 1
    seg = _segment(value, _SEG_ALAW_END)
    if seg >= 8:
        return 0x7F ^ mask
    quant = (value >> 1) if seg < 2 else (value >> seg)
    return ((seg << 4) | (quant & 0x0F)) ^ mask


def _pcm_table(decode: Callable[[int], int]) -> tuple[bytes, ...]:
    return tuple(decode(code).to_bytes(2, "little", signed=True) for code in range(256))


_ULAW_PCM: Final = _pcm_table(_ulaw_to_linear)
_ALAW_PCM: Final = _pcm_table(_alaw_to_linear)


@cache
def _encode_table(alaw: bool) -> bytes:
    """Code for every 16-bit sample, indexed by the sample as an unsigned 16-bit number."""
    encode = _linear_to_alaw if alaw else _linear_to_ulaw
    return bytes(encode(u - 0x10000 if u & 0x8000 else u) for u in range(0x10000))


def _samples(pcm16le: bytes) -> array.array[int]:
    if len(pcm16le) % 2:
        raise ValueError("16-bit PCM must have an even number of bytes")
    samples = array.array("H")
    samples.frombytes(pcm16le)
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def ulaw_decode(data: bytes) -> bytes:
    """µ-law codes -> 16-bit little-endian PCM."""
    return b"".join(_ULAW_PCM[b] for b in data)


def alaw_decode(data: bytes) -> bytes:
    """A-law codes -> 16-bit little-endian PCM."""
    return b"".join(_ALAW_PCM[b] for b in data)


def ulaw_encode(pcm16le: bytes) -> bytes:
    """16-bit little-endian PCM -> µ-law codes (ValueError on an odd byte count)."""
    return bytes(map(_encode_table(False).__getitem__, _samples(pcm16le)))


def alaw_encode(pcm16le: bytes) -> bytes:
    """16-bit little-endian PCM -> A-law codes (ValueError on an odd byte count)."""
    return bytes(map(_encode_table(True).__getitem__, _samples(pcm16le)))


#: Longest tone one call may generate: a minute is longer than any prompt or ringback cycle.
MAX_TONE_MS: Final = 60_000


def tone(freqs: Sequence[float], ms: int, *, rate: int = 8000, amplitude: float = 0.3) -> bytes:
    """`ms` milliseconds of the sum of sine waves at `freqs`, as 16-bit little-endian PCM.

    Ringback is 425 Hz (Europe, ITU-T E.180) or 440+480 Hz (North America); a beep is 1000 Hz.
    `amplitude` is the peak as a fraction of full scale, shared between the frequencies.
    """
    if not 0 <= ms <= MAX_TONE_MS:
        raise ValueError(f"tone length must be 0..{MAX_TONE_MS} ms")
    if rate <= 0 or not 0.0 <= amplitude <= 1.0 or not freqs:
        raise ValueError("tone needs a positive rate, amplitude in 0..1 and at least one frequency")
    count = rate * ms // 1000
    peak = amplitude * 32767 / len(freqs)
    steps = [2 * math.pi * f / rate for f in freqs]
    samples = array.array("h", (round(peak * sum(math.sin(step * n) for step in steps)) for n in range(count)))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()
