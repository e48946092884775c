"""Line envelopes: timestamps, syslog/journald prefixes, ANSI colours and JSON log formatters.

A PBX log line is an envelope (date, host, program, level, source file) around a message. Patterns
only look at the message; this module finds where it starts and what time the envelope carries.
Nothing here reads the clock: the reference time for year-less dates is a parameter.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Final

#: Month abbreviations as syslog (RFC 3164 4.1.2) and Asterisk's default `%b %e %T` write them.
MONTHS: Final = {
    m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}

#: A year-less date more than this far in the future of the reference time belongs to last year
#: (a December line read in January: syslog has no year, RFC 3164 4.1.2).
YEAR_ROLLOVER_SLACK: Final = timedelta(days=2)

#: JSON envelopes larger than this are not decoded (a log line is not a document).
MAX_JSON_LINE: Final = 65536

# One leading date, in the forms the four PBX families and their log transports write:
#   [2012-02-13 17:21:54]  [2012-02-13 17:21:54.123]  [Jan 18 17:39:50]   (Asterisk file/console)
#   Nov  4 18:30:40 host prog[pid]:                                        (BSD syslog, RFC 3164)
#   2016-09-25T18:57:58.150982+02:00 host prog[pid]:                       (RFC 5424 / rsyslog)
#   2013-12-31 17:39:54.767815 [WARNING]   08-03 07:56:53.026292 [WARN]    (FreeSWITCH, with or without year)
#   <uuid> 2023-01-01 12:00:00.123456 [WARNING]                            (FreeSWITCH with a call UUID)
_DATE_RE: Final = re.compile(
    r"(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12} )?\[?"
    r"(?:(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})[T ]"
    r"|(?P<bmon>[A-Z][a-z]{2}) +(?P<bd>\d{1,2}) "
    r"|(?P<mmo>\d{2})-(?P<md>\d{2}) )"
    r"(?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})(?:[.,](?P<frac>\d{1,9}))?"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})?"
)

# ANSI SGR colour codes, raw (ESC) or as rsyslog escapes control characters (`#033`).
_ANSI_RE: Final = re.compile(r"(?:\x1b|#033)\[[0-9;]*[A-Za-z]")


def strip_ansi(line: str) -> str:
    """Remove terminal colour codes (Asterisk console output), raw or escaped as `#033[`."""
    if "\x1b" in line or "#033[" in line:
        return _ANSI_RE.sub("", line)
    return line


@dataclass(frozen=True, slots=True)
class TimeContext:
    """How to complete a date the line leaves incomplete: the zone of local times, the year."""

    tz: tzinfo = UTC
    year_hint: int | None = None
    #: The time of the newest line that can exist (file mtime, or now); used for the year and as
    #: the time of lines that carry no date at all (journald short output).
    reference: datetime | None = None


def _year_for(month: int, day: int, ctx: TimeContext) -> int:
    if ctx.year_hint is not None:
        return ctx.year_hint
    ref = ctx.reference or datetime.now(UTC)
    year = ref.year
    try:
        candidate = datetime(year, month, day, tzinfo=ref.tzinfo or UTC)
    except ValueError:  # 29 February in a common year
        return year
    if candidate - ref > YEAR_ROLLOVER_SLACK:
        year -= 1
    return year


def parse_leading_time(line: str, ctx: TimeContext) -> datetime | None:
    """The date at the start of `line` as aware UTC, or None when the line starts without one."""
    m = _DATE_RE.match(line)
    if m is None:
        return None
    if m.group("y") is None and ctx.reference is None and ctx.year_hint is None:
        return _date_of.__wrapped__(m.group(0), ctx)  # the year depends on the clock: not cached
    return _date_of(m.group(0), ctx)


#: Distinct date strings remembered: log lines come in bursts that share their second.
DATE_CACHE_SIZE: Final = 4096


@functools.lru_cache(maxsize=DATE_CACHE_SIZE)
def _date_of(text: str, ctx: TimeContext) -> datetime | None:
    m = _DATE_RE.match(text)
    if m is None:  # pragma: no cover - `text` is a match of the same regex
        return None
    g = m.group
    try:
        if g("y"):
            year, month, day = int(g("y")), int(g("mo")), int(g("d"))
        elif g("bmon"):
            month = MONTHS.get(g("bmon"), 0)
            day = int(g("bd"))
            year = _year_for(month, day, ctx)
        else:
            month, day = int(g("mmo")), int(g("md"))
            year = _year_for(month, day, ctx)
        frac = g("frac") or "0"
        micro = int(frac[:6].ljust(6, "0"))
        zone: tzinfo = ctx.tz
        tzs = g("tz")
        if tzs:
            zone = UTC if tzs == "Z" else datetime.strptime(tzs.replace(":", ""), "%z").tzinfo or UTC
        ts = datetime(year, month, day, int(g("h")), int(g("mi")), int(g("s")), micro, tzinfo=zone)
    except ValueError:
        return None
    return ts.astimezone(UTC)


class LeadingTimes:
    """`parse_leading_time` for one `TimeContext`, remembering the dates it has read.

    A log repeats the same second on many lines; one parser asks for thousands of dates per second,
    and a plain dict keyed by the date text is cheaper than `_date_of`'s cache keyed by text and
    context (hashing the context costs more than the lookup).
    """

    def __init__(self, ctx: TimeContext) -> None:
        self.ctx = ctx
        # Without a year hint or a reference, a year-less date depends on the clock: not kept.
        self._keep_yearless = ctx.reference is not None or ctx.year_hint is not None
        self._known: dict[str, datetime | None] = {}

    def parse(self, line: str) -> datetime | None:
        """The date at the start of `line` as aware UTC, or None (see `parse_leading_time`)."""
        m = _DATE_RE.match(line)
        if m is None:
            return None
        text = m.group(0)
        known = self._known
        if text in known:
            return known[text]
        ts = _date_of.__wrapped__(text, self.ctx)
        if self._keep_yearless or m.group("y") is not None:
            if len(known) >= DATE_CACHE_SIZE:
                known.clear()
            known[text] = ts
        return ts


def parse_epoch_time(value: str) -> datetime | None:
    """Asterisk's old EventTV (`1368439853-500975`: seconds-microseconds) or a plain epoch."""
    sec, _, usec = value.partition("-")
    try:
        return datetime.fromtimestamp(int(sec), UTC) + timedelta(microseconds=int(usec or 0))
    except (ValueError, OverflowError, OSError):
        return None


def parse_iso_time(value: str, tz: tzinfo = UTC) -> datetime | None:
    """ISO-8601 with an optional `+0300`-style zone (Asterisk's new EventTV); None if invalid."""
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=tz)
    return ts.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Unwrapped:
    """A JSON envelope opened: the text line inside and the time the envelope carries."""

    text: str
    ts: datetime | None
    cursor: str | None = None  # journald cursor, to resume from


def unwrap_json(line: str, ctx: TimeContext) -> Unwrapped | None:
    """Open a JSON log line: Asterisk's `[json]` formatter or `journalctl -o json`; None otherwise."""
    if len(line) > MAX_JSON_LINE:
        return None
    try:
        doc: Any = json.loads(line)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    logmsg = doc.get("logmsg")
    if isinstance(logmsg, dict):
        # Asterisk logger.c format_log_json: {"hostname", "timestamp", "identifiers": {"lwp",
        # "callid"}, "logmsg": {"location": {"filename", "function", "line"}, "level", "message"}}.
        loc: Any = logmsg.get("location") or {}
        ids: Any = doc.get("identifiers") or {}
        if not isinstance(loc, dict) or not isinstance(ids, dict):
            return None
        text = "{}[{}]{}: {}:{} {}: {}".format(
            logmsg.get("level", ""),
            ids.get("lwp", 0),
            ids.get("callid", "") or "",
            loc.get("filename", ""),
            loc.get("line", 0),
            loc.get("function", ""),
            str(logmsg.get("message", "")).rstrip("\n"),
        )
        stamp = doc.get("timestamp")
        ts = parse_leading_time(str(stamp), ctx) if stamp is not None else None
        return Unwrapped(text, ts)
    message = doc.get("MESSAGE")
    if message is None:
        return None
    if isinstance(message, list):  # journald writes non-UTF-8 messages as byte arrays
        try:
            message = bytes(int(b) & 0xFF for b in message).decode("utf-8", "replace")
        except (TypeError, ValueError):
            return None
    ts = None
    realtime = doc.get("__REALTIME_TIMESTAMP")
    if realtime is not None:
        try:
            ts = datetime.fromtimestamp(int(realtime) / 1_000_000, UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            ts = None
    cursor = doc.get("__CURSOR")
    return Unwrapped(str(message).rstrip("\n"), ts, str(cursor) if cursor is not None else None)
