"""The Event and Decision records: the one vocabulary every part of sipwarden speaks.

Sensors (honeypot, log tailers, CDR readers) turn the outside world into `Event`s; detection turns
Events into `Decision`s; the store, the NDJSON stream, the hub and the UI all carry these two records
with the same field names (see docs/design.md, "The Event record").
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args

#: Every kind of event a sensor may emit. Keep in step with docs/design.md.
EventKind = Literal[
    "probe",  # OPTIONS or other scanning request
    "register",  # REGISTER seen (before any credentials)
    "auth_failure",  # credentials offered and refused
    "unknown_user",  # account does not exist
    "acl_denied",  # refused by an address ACL
    "auth_success",  # credentials accepted (a crack, on the honeypot)
    "call_attempt",  # INVITE with a dialled target
    "call_rejected",  # call refused (PBX logs) or challenged
    "call_answered",  # the honeypot answered a call
    "call_ended",  # BYE, CANCEL or timeout ended an answered call
    "recording",  # audio of a call stored to a file
    "dtmf",  # digits sent during a call
    "malformed",  # bytes or a log line that could not be parsed
    "flood",  # many identical requests, aggregated (see `count`)
    "fraud_call",  # a call record that looks like toll fraud
    "blocked",  # a PBX-side filter (pike, secfilter) blocked the source
]
EVENT_KINDS: Final[frozenset[str]] = frozenset(get_args(EventKind))

EventSource = Literal["honeypot", "asterisk", "freeswitch", "kamailio", "opensips", "cdr", "hub", "import"]
EVENT_SOURCES: Final[frozenset[str]] = frozenset(get_args(EventSource))

#: Bound on the `raw` field: a SIP message or a log line, never a whole flood. 8 KiB holds any sane
#: SIP request (RFC 3261 18.1.1 asks UDP messages to stay under the path MTU, ~1300 bytes).
MAX_RAW_CHARS: Final = 8192

DecisionScope = Literal["ip", "range", "number", "account"]
DecisionAction = Literal["ban", "watch", "notice"]


# ULID text (https://github.com/ulid/spec): Crockford's base32, 10 digits of milliseconds since the
# epoch (48 bits) then 16 digits of randomness (80 bits).
_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS: Final = 80
#: The last two digits (10 bits) of the randomness come from this table; the other 24 characters
#: of an id are re-encoded only when those two digits wrap, once per 1,024 ids.
_LOW_BITS: Final = 10
_LOW_DIGITS: Final = tuple(a + b for a in _CROCKFORD for b in _CROCKFORD)


def _base32(value: int, digits: int) -> str:
    out = []
    for _ in range(digits):
        out.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(out))


class _MonotonicUlid:
    """ULIDs in the spec's monotonic mode: a fresh random 80-bit value in each new millisecond, plus
    one for every further id in the same millisecond (or while the clock steps back).

    Ids made by one process sort in the order they were made, and an id costs an addition and a
    string join, not 10 random bytes and 26 base32 digits (a log parser makes one per line it
    recognises). Ids of different processes stay apart by their random start: two processes would
    have to draw starts less than a millisecond's worth of ids apart out of 2**80.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._ms = -1
        self._random = 0
        self._prefix = ""  # the first 24 characters of the last id

    def _reseed(self, ms: int) -> None:
        self._ms = ms
        self._random = int.from_bytes(os.urandom(_RANDOM_BITS // 8), "big")
        self._encode_prefix()

    def _encode_prefix(self) -> None:
        self._prefix = _base32(self._ms, 10) + _base32(self._random >> _LOW_BITS, 14)

    def next_id(self) -> str:
        """The next id: greater than every id this generator made before."""
        now = time.time_ns() // 1_000_000
        with self._lock:
            if now > self._ms:
                self._reseed(now)
            else:
                self._random += 1
                if self._random >> _RANDOM_BITS:
                    # 2**80 ids in one millisecond cannot happen; the spec would fail, this takes
                    # the next millisecond so that the order still holds.
                    self._reseed(self._ms + 1)
                elif not self._random & ((1 << _LOW_BITS) - 1):
                    self._encode_prefix()
            return self._prefix + _LOW_DIGITS[self._random & ((1 << _LOW_BITS) - 1)]


_ULIDS: Final = _MonotonicUlid()
# A forked child draws its own random start: it must not continue the parent's sequence.
os.register_at_fork(after_in_child=_ULIDS._reset)


def new_id() -> str:
    """A sortable unique id (ULID, 26 characters, time-ordered; monotonic within a process)."""
    return _ULIDS.next_id()


def utcnow() -> datetime:
    """The current time, timezone-aware UTC. Only I/O layers call this; cores take time as a parameter."""
    return datetime.now(UTC)


def bound_raw(raw: str | bytes | None) -> str | None:
    """Make `raw` safe to store: text (undecodable bytes escaped) no longer than MAX_RAW_CHARS."""
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw[: MAX_RAW_CHARS * 4].decode("utf-8", "backslashreplace")
    # NUL cannot be stored in PostgreSQL text columns; keep it visible instead of dropping it.
    raw = raw.replace("\x00", "\\x00")
    return raw[:MAX_RAW_CHARS]


def _iso(ts: datetime) -> str:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_ts(value: str | datetime) -> datetime:
    """Parse an ISO-8601 time (a trailing `Z` allowed) into aware UTC."""
    if isinstance(value, datetime):
        ts = value
    else:
        ts = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Event:
    """One thing a sensor saw. Times are UTC; addresses are text as seen (IPv4 or IPv6)."""

    ts: datetime
    kind: EventKind
    source: EventSource
    sensor: str = ""
    src_ip: str | None = None
    src_port: int | None = None
    dst_ip: str | None = None
    dst_port: int | None = None
    transport: str | None = None  # udp, tcp, tls, ws, wss
    method: str | None = None
    user_agent: str | None = None
    tool: str | None = None  # recognised attack tool, e.g. "sipvicious/svcrack"
    username: str | None = None
    password: str | None = None  # password tried, when it can be known
    target: str | None = None  # dialled string as sent
    target_e164: str | None = None
    target_country: str | None = None  # ISO 3166-1 alpha-2
    call_id: str | None = None
    raw: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    count: int = 1  # >1 when identical events were aggregated (floods)
    id: str = field(default_factory=new_id)

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {self.kind!r}")
        if self.source not in EVENT_SOURCES:
            raise ValueError(f"unknown event source {self.source!r}")
        if self.count < 1:
            raise ValueError("count must be at least 1")
        if self.ts.tzinfo is None:
            object.__setattr__(self, "ts", self.ts.replace(tzinfo=UTC))
        if self.raw is not None and len(self.raw) > MAX_RAW_CHARS:
            object.__setattr__(self, "raw", bound_raw(self.raw))

    def replace(self, **changes: Any) -> Event:
        """A copy with some fields changed (events are immutable)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping with the DESIGN field names (`ts` as ISO-8601 UTC with `Z`)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "ts":
                value = _iso(value)
            elif f.name == "detail":
                value = dict(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        """Build an Event from `to_dict` output; unknown keys raise ValueError naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown event field(s): {', '.join(unknown)}")
        kwargs = dict(data)
        if "ts" not in kwargs or "kind" not in kwargs or "source" not in kwargs:
            raise ValueError("an event needs at least ts, kind and source")
        kwargs["ts"] = parse_ts(kwargs["ts"])
        if kwargs.get("detail") is None:
            kwargs["detail"] = {}
        if kwargs.get("id") is None:
            kwargs.pop("id", None)
        if kwargs.get("count") is None:
            kwargs.pop("count", None)
        return cls(**kwargs)


@dataclass(frozen=True, slots=True)
class Decision:
    """What detection or a person concluded about an address, range, number or account."""

    ts: datetime
    scope: DecisionScope
    value: str
    action: DecisionAction
    scenario: str
    reason: str
    until: datetime | None = None  # None: no expiry
    origin: str = "local"  # local, manual, hub:<name>
    event_ids: tuple[str, ...] = ()
    id: str = field(default_factory=new_id)

    def __post_init__(self) -> None:
        if self.scope == "ip":
            # Only a real address can become a ban target (STYLE.md, practice 3).
            object.__setattr__(self, "value", str(ipaddress.ip_address(self.value)))
        elif self.scope == "range":
            object.__setattr__(self, "value", str(ipaddress.ip_network(self.value, strict=False)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping (times ISO-8601 UTC)."""
        return {
            "id": self.id,
            "ts": _iso(self.ts),
            "scope": self.scope,
            "value": self.value,
            "action": self.action,
            "scenario": self.scenario,
            "reason": self.reason,
            "until": _iso(self.until) if self.until else None,
            "origin": self.origin,
            "event_ids": list(self.event_ids),
            "evidence": len(self.event_ids),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        """Inverse of `to_dict` (the derived `evidence` count is ignored)."""
        until = data.get("until")
        return cls(
            id=data.get("id") or new_id(),
            ts=parse_ts(data["ts"]),
            scope=data["scope"],
            value=data["value"],
            action=data["action"],
            scenario=data["scenario"],
            reason=data.get("reason", ""),
            until=parse_ts(until) if until else None,
            origin=data.get("origin", "local"),
            event_ids=tuple(data.get("event_ids", ())),
        )
