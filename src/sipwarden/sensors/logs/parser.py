"""The log parser core: lines in, Events out. No files, no sockets; time comes from the lines.

Speed comes from the prefilter: every pattern names a trigger substring, and a line that contains
no trigger is never looked at again. `LineParser.scan_text` applies the triggers to a whole block
of text with `str.find` (C speed), so noise lines cost nothing in Python.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from sipwarden.events import Event, EventSource
from sipwarden.sensors.logs import asterisk, asterisk_security, freeswitch, kamailio
from sipwarden.sensors.logs.patterns import Family, Pattern, check_patterns
from sipwarden.sensors.logs.prefix import (
    TimeContext,
    parse_epoch_time,
    parse_iso_time,
    parse_leading_time,
    strip_ansi,
    unwrap_json,
)

FORMATS: Final = ("asterisk", "freeswitch", "kamailio", "opensips")

#: Every pattern, in one table (STYLE.md, practice 5: plugins are listed in one place).
PATTERNS: Final[tuple[Pattern, ...]] = (
    asterisk.PATTERNS + asterisk_security.PATTERNS + freeswitch.PATTERNS + kamailio.PATTERNS
)
check_patterns(PATTERNS)

FAMILY_OF: Final[dict[str, Family]] = {
    "asterisk": "asterisk",
    "freeswitch": "freeswitch",
    "kamailio": "kamailio",
    "opensips": "kamailio",
}
ENVELOPES: Final[dict[Family, re.Pattern[str]]] = {
    "asterisk": asterisk.ENVELOPE,
    "freeswitch": freeswitch.ENVELOPE,
    "kamailio": kamailio.ENVELOPE,
}

#: Words of lines that look like refusals; such a line that no pattern explains is "missed".
RELEVANT_WORDS: Final = (
    "failed",
    "Failed",
    "failure",
    "FAIL",
    "reject",
    "Reject",
    "denied",
    "Denied",
    "BLOCK",
    "blocked",
)

_BYTE_ARRAY_MESSAGE: Final = re.compile(r'"MESSAGE"\s*:\s*\[')

#: How many lines format detection reads from the start of a file or stream.
SNIFF_LINES: Final = 200

_SNIFFERS: Final[dict[str, re.Pattern[str]]] = {
    "asterisk": re.compile(
        r"(?:^|\] |: )(?:NOTICE|WARNING|VERBOSE|SECURITY|ERROR|DEBUG|DTMF) ?\[\d+\]|\"logmsg\"|asterisk\[\d+\]"
    ),
    "freeswitch": re.compile(
        r"\[(?:WARNING|NOTICE|DEBUG|INFO|ERR|CRIT|WARN|CONSOLE)\] (?:\[\w+\] )?\[?\w+\.c:\d+|freeswitch\["
    ),
    "kamailio": re.compile(r"kamailio\[\d+\]|<script>: |<core> \[|^ *\d+\(\d+\) [A-Z]+: "),
    "opensips": re.compile(r"opensips\[\d+\]|[A-Z]+:core:\w+: "),
}


@dataclass(frozen=True, slots=True)
class ParseResult:
    """One line the parser looked at: its event (None for informational or missed lines)."""

    line_no: int
    raw: str
    event: Event | None
    pattern_id: str | None  # None: the line looks relevant but no pattern explains it


def detect_format(lines: Iterable[str]) -> str | None:
    """Guess the PBX family of a log from its first lines (one of FORMATS), or None."""
    score: Counter[str] = Counter()
    for i, line in enumerate(lines):
        if i >= SNIFF_LINES:
            break
        text = strip_ansi(line)
        for fmt, rx in _SNIFFERS.items():
            if rx.search(text):
                score[fmt] += 1
    if not score:
        return None
    # OpenSIPS and Kamailio share a syntax; the program name decides between them.
    return score.most_common(1)[0][0]


@dataclass
class Stats:
    """Counters of one parse: lines read, matches per pattern, missed lines (bounded list)."""

    lines: int = 0
    matched: Counter[str] = field(default_factory=Counter)
    events: int = 0
    malformed: int = 0
    missed: int = 0


class LineParser:
    """Parse PBX log lines of one format (or of every family when `fmt` is None)."""

    def __init__(
        self,
        fmt: str | None,
        *,
        sensor: str = "",
        time: TimeContext | None = None,
        report_missed: bool = False,
    ) -> None:
        if fmt is not None and fmt not in FAMILY_OF:
            raise ValueError(f"unknown log format {fmt!r}; expected one of {', '.join(FORMATS)} or auto")
        self.fmt = fmt
        self.sensor = sensor
        self.time = time or TimeContext()
        self.report_missed = report_missed
        self.stats = Stats()
        families = [FAMILY_OF[fmt]] if fmt else list(ENVELOPES)
        self._families = families
        by_trigger: dict[str, list[Pattern]] = {}
        for p in PATTERNS:
            if p.family in families:
                by_trigger.setdefault(p.trigger, []).append(p)
        self._by_trigger = {t: tuple(ps) for t, ps in by_trigger.items()}
        self._triggers = tuple(self._by_trigger)

    def parse_line(self, line: str, line_no: int = 0) -> ParseResult | None:
        """Parse one line (newline optional). None when the line is noise."""
        self.stats.lines += 1
        return self._parse(line, line_no)

    def scan_text(self, text: str, first_line_no: int = 1) -> Iterator[ParseResult]:
        """Parse a block of whole lines fast: only lines containing a trigger reach Python code."""
        self.stats.lines += text.count("\n") + (0 if text.endswith("\n") or not text else 1)
        needles = self._triggers + (RELEVANT_WORDS if self.report_missed else ())
        starts: set[int] = set()
        find, rfind = text.find, text.rfind
        for needle in needles:
            i = find(needle)
            while i != -1:
                start = rfind("\n", 0, i) + 1
                starts.add(start)
                end = find("\n", i)
                if end == -1:
                    break
                i = find(needle, end)
        line_no, prev = first_line_no, 0
        for start in sorted(starts):
            line_no += text.count("\n", prev, start)
            prev = start
            end = find("\n", start)
            result = self._parse(text[start : end if end != -1 else len(text)], line_no)
            if result is not None:
                yield result

    # -- internals ----------------------------------------------------------------------------

    def _parse(self, line: str, line_no: int) -> ParseResult | None:
        raw = line[:-1] if line.endswith("\n") else line
        text = raw.rstrip("\r")
        env_ts = None
        if text.startswith("{") and _BYTE_ARRAY_MESSAGE.search(text):
            # journald writes a message that is not UTF-8 as an array of numbers: no trigger
            # can be seen before the entry is opened.
            opened = unwrap_json(text, self.time)
            if opened is not None:
                text, env_ts = opened.text, opened.ts
        candidates = [t for t in self._triggers if t in text]
        if not candidates:
            return self._missed(raw, line_no)
        if text.startswith("{"):
            opened = unwrap_json(text, self.time)
            if opened is not None:
                text, env_ts = opened.text, opened.ts
        text = strip_ansi(text)
        for family in self._families:
            env = ENVELOPES[family].match(text)
            message = text[env.end() :] if env else text
            source_file = (env.groupdict().get("file") or "") if env else ""
            for trigger in candidates:
                for pattern in self._by_trigger[trigger]:
                    if pattern.family != family or (pattern.files and not source_file.endswith(pattern.files)):
                        continue
                    found = pattern.find(message)
                    if found is None:
                        continue
                    self.stats.matched[pattern.id] += 1
                    if found.kind is None:
                        return ParseResult(line_no, raw, None, pattern.id)
                    ts = self._time(found.ts_text, env_ts, text)
                    detail = {"pattern": pattern.id, "reason": found.reason, **found.detail}
                    kind = found.kind
                    fields = dict(found.fields)
                    if found.error is not None:
                        kind = "malformed"
                        detail["error"] = found.error
                        fields = {k: v for k, v in fields.items() if k not in ("src_ip", "src_port")}
                        self.stats.malformed += 1
                    event = Event(
                        ts=ts,
                        kind=kind,
                        source=self._source(family, text),
                        sensor=self.sensor,
                        raw=raw,
                        detail=detail,
                        **fields,
                    )
                    self.stats.events += 1
                    return ParseResult(line_no, raw, event, pattern.id)
        return self._missed(raw, line_no)

    def _missed(self, raw: str, line_no: int) -> ParseResult | None:
        if self.report_missed and any(w in raw for w in RELEVANT_WORDS):
            self.stats.missed += 1
            return ParseResult(line_no, raw, None, None)
        return None

    def _time(self, ts_text: str | None, env_ts: datetime | None, text: str) -> datetime:
        if ts_text:
            ts = parse_iso_time(ts_text, self.time.tz) if "T" in ts_text else parse_epoch_time(ts_text)
            if ts is not None:
                return ts
        if env_ts is not None:
            return env_ts
        ts = parse_leading_time(text, self.time)
        if ts is not None:
            return ts
        # journald short output carries no date: the newest time the line can have.
        return self.time.reference or datetime.now(UTC)

    def _source(self, family: Family, text: str) -> EventSource:
        if family != "kamailio":
            return family
        if self.fmt == "opensips" or (self.fmt is None and "opensips" in text[:120]):
            return "opensips"
        return "kamailio"
