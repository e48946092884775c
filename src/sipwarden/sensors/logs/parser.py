"""The log parser core: lines in, Events out. No files, no sockets; time comes from the lines.

Speed comes from the prefilter: every pattern names a trigger substring, and a line that contains
no trigger is never looked at again. `LineParser.scan_text` applies the triggers to a whole block
of text with `str.find` (C speed), so noise lines cost nothing in Python.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from sipwarden.events import Event, EventKind, EventSource
from sipwarden.sensors.logs import asterisk, asterisk_security, freeswitch, kamailio
from sipwarden.sensors.logs.needles import NeedleSearch, find_lines
from sipwarden.sensors.logs.patterns import Family, Found, Pattern, check_patterns
from sipwarden.sensors.logs.prefix import (
    LeadingTimes,
    TimeContext,
    parse_epoch_time,
    parse_iso_time,
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


#: What `LineParser` needs to build the Event of a recognised line when it is first asked for.
_Draft = tuple["LineParser", "Pattern", "Found", EventKind, Family, str, str, "datetime | None"]


class ParseResult:
    """One line the parser looked at: its event (None for informational or missed lines).

    `kind` is the kind of the event, known at once. The Event itself (its id, its time and two
    dozen fields) is built when `event` is first read: a summary that counts patterns and kinds,
    as `sipwarden parse` prints, does not pay for Events nobody reads, which is half the cost of
    a recognised line. Read-only, like a frozen dataclass.
    """

    __slots__ = ("_draft", "_event", "kind", "line_no", "pattern_id", "raw")

    line_no: int
    raw: str
    pattern_id: str | None  # None: the line looks relevant but no pattern explains it
    kind: EventKind | None  # the kind of `event`; None when the line has no event
    _event: Event | None
    _draft: _Draft | None

    def __init__(self, line_no: int, raw: str, event: Event | None, pattern_id: str | None) -> None:
        _set_line_no(self, line_no)
        _set_raw(self, raw)
        _set_pattern_id(self, pattern_id)
        _set_kind(self, event.kind if event is not None else None)
        _set_event(self, event)
        _set_draft(self, None)

    @classmethod
    def drafted(cls, line_no: int, raw: str, pattern_id: str, kind: EventKind, draft: _Draft) -> ParseResult:
        """A result whose Event is built from `draft` on first use."""
        result = cls.__new__(cls)
        _set_line_no(result, line_no)
        _set_raw(result, raw)
        _set_pattern_id(result, pattern_id)
        _set_kind(result, kind)
        _set_event(result, None)
        _set_draft(result, draft)
        return result

    @property
    def event(self) -> Event | None:
        """The Event this line stands for (built once, on first use), or None."""
        draft = self._draft
        if draft is not None:
            _set_event(self, draft[0].build_event(*draft[1:]))
            _set_draft(self, None)
        return self._event

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"ParseResult is read-only (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"ParseResult is read-only (cannot delete {name!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ParseResult):
            return NotImplemented
        return (self.line_no, self.raw, self.event, self.pattern_id) == (
            other.line_no,
            other.raw,
            other.event,
            other.pattern_id,
        )

    __hash__ = None  # type: ignore[assignment]  # equal results compare their events: like a dataclass

    def __repr__(self) -> str:
        return (
            f"ParseResult(line_no={self.line_no!r}, raw={self.raw!r}, event={self.event!r}, "
            f"pattern_id={self.pattern_id!r})"
        )


def _setter(name: str) -> Callable[[ParseResult, Any], None]:
    # The attributes are set through their slot descriptors: `__setattr__` refuses every change.
    setter: Callable[[ParseResult, Any], None] = ParseResult.__dict__[name].__set__
    return setter


_set_line_no = _setter("line_no")
_set_raw = _setter("raw")
_set_pattern_id = _setter("pattern_id")
_set_kind = _setter("kind")
_set_event = _setter("_event")
_set_draft = _setter("_draft")


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
        # The order in which a line's patterns are tried: family by family (each with its own
        # envelope), then trigger by trigger in table order, then pattern by pattern.
        self._plan = tuple(
            (
                ENVELOPES[family],
                "file" in ENVELOPES[family].groupindex,
                family,
                {t: tuple(p for p in ps if p.family == family) for t, ps in self._by_trigger.items()},
            )
            for family in families
        )
        self._times = LeadingTimes(self.time)
        needles = self._triggers + (RELEVANT_WORDS if report_missed else ())
        self._needles = needles
        self._search = NeedleSearch(tuple(n.encode("utf-8") for n in needles))

    def parse_line(self, line: str, line_no: int = 0) -> ParseResult | None:
        """Parse one line (newline optional). None when the line is noise."""
        self.stats.lines += 1
        return self._parse(line, line_no)

    def scan_text(self, text: str, first_line_no: int = 1) -> Iterator[ParseResult]:
        """Parse a block of whole lines fast: only lines containing a trigger reach Python code."""
        self.stats.lines += text.count("\n") + (0 if text.endswith("\n") or not text else 1)
        line_no, prev = first_line_no, 0
        count, parse = text.count, self._parse
        for start, end in find_lines(text, self._needles):
            line_no += count("\n", prev, start)
            prev = start
            result = parse(text[start:end], line_no)
            if result is not None:
                yield result

    def scan_bytes(self, data: bytes, first_line_no: int = 1, end: int | None = None) -> Iterator[ParseResult]:
        """`scan_text` of `data[:end]` decoded as UTF-8 (undecodable bytes escaped), with the same results.

        A block of pure ASCII is searched as bytes (`NeedleSearch`): only the lines holding a trigger are decoded,
        and lines are counted with `bytes.replace`, which runs on memchr/memcpy; `count("\\n")`
        tests byte by byte and cost as much as every trigger search together. Any other block is
        decoded first: an escaped undecodable byte (`\\xad`) is text a trigger could match.
        """
        size = len(data) if end is None else end
        if not data.isascii():  # (bytes after `end` are read again with the next block: harmless here)
            yield from self.scan_text(data[:size].decode("utf-8", "backslashreplace"), first_line_no)
            return
        stats, parse = self.stats, self._parse
        line_no, prev = first_line_no, 0
        for start, stop in self._search.lines(data):
            if start >= size:
                break
            gap = data[prev:start]
            newlines = len(gap) - len(gap.replace(b"\n", b""))
            stats.lines += newlines
            line_no += newlines
            prev = start
            result = parse(data[start:stop].decode("ascii"), line_no)
            if result is not None:
                yield result
        stats.lines += data.count(b"\n", prev, size) + (0 if size == 0 or data[size - 1] == 0x0A else 1)

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
        if "\x1b" in text or "#033[" in text:
            text = strip_ansi(text)
        for envelope, has_file, family, by_trigger in self._plan:
            env = envelope.match(text)
            if env is not None:
                message = text[env.end() :]
                source_file = (env.group("file") or "") if has_file else ""
            else:
                message, source_file = text, ""
            for trigger in candidates:
                for pattern in by_trigger[trigger]:
                    if pattern.files and not source_file.endswith(pattern.files):
                        continue
                    found = pattern.find(message)
                    if found is not None:
                        return self._found(pattern, found, family, text, raw, env_ts, line_no)
        return self._missed(raw, line_no)

    def _found(
        self,
        pattern: Pattern,
        found: Found,
        family: Family,
        text: str,
        raw: str,
        env_ts: datetime | None,
        line_no: int,
    ) -> ParseResult:
        self.stats.matched[pattern.id] += 1
        kind = found.kind
        if kind is None:
            return ParseResult(line_no, raw, None, pattern.id)
        if found.error is not None:
            kind = "malformed"
            self.stats.malformed += 1
        self.stats.events += 1
        return ParseResult.drafted(
            line_no, raw, pattern.id, kind, (self, pattern, found, kind, family, text, raw, env_ts)
        )

    def build_event(
        self,
        pattern: Pattern,
        found: Found,
        kind: EventKind,
        family: Family,
        text: str,
        raw: str,
        env_ts: datetime | None,
    ) -> Event:
        """The Event of a line `pattern` recognised (see `ParseResult.event`)."""
        detail = {"pattern": pattern.id, "reason": found.reason}
        if found.detail:
            detail.update(found.detail)
        fields = found.fields
        if found.error is not None:
            detail["error"] = found.error
            fields = {k: v for k, v in fields.items() if k not in ("src_ip", "src_port")}
        return Event(
            ts=self._time(found.ts_text, env_ts, text),
            kind=kind,
            source=self._source(family, text),
            sensor=self.sensor,
            raw=raw,
            detail=detail,
            **fields,
        )

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
        ts = self._times.parse(text)
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
