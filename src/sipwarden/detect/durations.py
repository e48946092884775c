"""Durations ("90s", "10m", "1h", "7d") and rates ("5/1m": five events within one minute) in settings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

_UNITS: Final[dict[str, float]] = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(.+)$")


def parse_duration(value: object) -> float:
    """Seconds from a number or a text such as "90s", "10m", "1h", "7d"; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a text such as '10m'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value.lower())):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError(f"not a duration: {value!r} (use seconds or a text such as '90s', '10m', '1h', '7d')")
    if seconds <= 0:
        raise ValueError(f"a duration must be positive: {value!r}")
    return seconds


@dataclass(frozen=True, slots=True)
class Rate:
    """`count` events within `seconds`: the threshold of a counting rule."""

    count: int
    seconds: float

    def __str__(self) -> str:
        return f"{self.count}/{format_duration(self.seconds)}"


def parse_rate(value: object) -> Rate:
    """A Rate from "COUNT/DURATION" (e.g. "5/1m"); ValueError otherwise."""
    if isinstance(value, Rate):
        return value
    m = _RATE.match(value) if isinstance(value, str) else None
    if m is None:
        raise ValueError(f"not a rate: {value!r} (use COUNT/DURATION such as '5/1m')")
    count = int(m.group(1))
    if count < 1:
        raise ValueError(f"a rate needs a count of at least 1: {value!r}")
    return Rate(count, parse_duration(m.group(2)))


def format_duration(seconds: float) -> str:
    """The shortest exact text for `seconds` ("1h", "90s")."""
    for unit in ("w", "d", "h", "m"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
