"""PBX log sensors: parsers for Asterisk, FreeSWITCH, Kamailio and OpenSIPS logs, and tailers.

The public API:

* `detect_format(lines)` -> one of `FORMATS` or None
* `parse_lines(lines, fmt="auto", *, sensor, year_hint, tz)` -> iterator of `ParseResult`
* `parse_file(path, fmt="auto", **kw)` -> iterator of `ParseResult` (fast block scanning)
* `LogFollower(paths, state_path=...)` -> `async for event in follower.events()` (rotation-safe tail)
* `PATTERNS`: every pattern with its labelled samples (docs/logs.md)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sipwarden.lazy import lazy_names
from sipwarden.sensors.logs.parser import FORMATS, PATTERNS, LineParser, ParseResult, detect_format
from sipwarden.sensors.logs.reading import make_parser, parse_file, parse_lines

if TYPE_CHECKING:
    from sipwarden.sensors.logs.follow import LogFollower

__all__ = [
    "FORMATS",
    "PATTERNS",
    "LineParser",
    "LogFollower",
    "ParseResult",
    "detect_format",
    "make_parser",
    "parse_file",
    "parse_lines",
]


# The tailer (asyncio, inotify, journald) loads on first use (PEP 562): `sipwarden parse` reads
# whole files and starts faster without it.
__getattr__ = lazy_names(__name__, {"LogFollower": "sipwarden.sensors.logs.follow"})
