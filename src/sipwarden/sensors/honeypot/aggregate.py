"""Fold floods of identical probes into one event with a `count`.

The first event of a kind from a source is passed on at once (detection sees it in real time);
identical ones that follow within `window` seconds are only counted, and `flush(now)` emits one
event carrying the count when the window closes. So the sum of `count` over emitted events equals
the number of requests exactly, while a flood of 10,000 OPTIONS/s costs one store row per window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sipwarden.events import Event, new_id

#: Distinct (source, method, user agent, kind...) keys held at once; at the bound every pending
#: count is flushed early, which keeps counts exact and memory bounded.
MAX_KEYS: Final = 20_000

#: Characters of `raw` kept for the count event of a window.
HELD_RAW_CHARS: Final = 512

#: Kinds that floods are made of. Calls, cracks, recordings and DTMF are always passed on singly.
AGGREGATED_KINDS: Final = frozenset({"probe", "register", "unknown_user", "auth_failure", "malformed", "flood"})

Key = tuple[str | None, ...]


@dataclass(slots=True)
class _Pending:
    opened: float
    first: Event
    count: int = 0
    last_ts: datetime | float | None = None  # a float is a `now` from `hit`


def aggregation_key(event: Event) -> Key:
    """What makes two events the same probe: source, kind, method, user agent, tool, transport,
    account, guess and target (in this order; `Aggregator.hit` callers build the same tuple)."""
    return (
        event.src_ip,
        event.kind,
        event.method,
        event.user_agent,
        event.tool,
        event.transport,
        event.username,
        event.password,
        event.target,
    )


class Aggregator:
    """`add(event, now)` returns the events to emit now; `flush(now)` returns closed windows."""

    def __init__(self, window: float, *, max_keys: int = MAX_KEYS) -> None:
        self.window = window
        self.max_keys = max_keys
        self._pending: dict[Key, _Pending] = {}

    def add(self, event: Event, now: float) -> list[Event]:
        """Pass `event` on, or count it against an open window of identical events."""
        if self.window <= 0 or event.kind not in AGGREGATED_KINDS:
            return [event]
        key = aggregation_key(event)
        pending = self._pending.get(key)
        if pending is not None and now - pending.opened < self.window:
            pending.count += event.count
            pending.last_ts = event.ts
            return []
        out: list[Event] = []
        if pending is not None:
            out.extend(self._close(pending))
        elif len(self._pending) >= self.max_keys:
            out.extend(self.flush_all())
        # The held copy keeps only the start of `raw`: the event itself went out whole just now, and
        # MAX_KEYS copies of 8 KiB each would be 160 MB.
        held = (
            event
            if event.raw is None or len(event.raw) <= HELD_RAW_CHARS
            else event.replace(raw=event.raw[:HELD_RAW_CHARS])
        )
        self._pending[key] = _Pending(opened=now, first=held)
        out.append(event)
        return out

    def hit(self, key: Key, now: float) -> bool:
        """Count one more event with `key` if its window is open (True); else the caller must `add` it."""
        pending = self._pending.get(key)
        if pending is None or now - pending.opened >= self.window:
            return False
        pending.count += 1
        pending.last_ts = now
        return True

    def flush(self, now: float) -> list[Event]:
        """Events for every window older than `window` seconds at time `now`."""
        out: list[Event] = []
        for key in [k for k, p in self._pending.items() if now - p.opened >= self.window]:
            out.extend(self._close(self._pending.pop(key)))
        return out

    def flush_all(self) -> list[Event]:
        """Close every window (at shutdown, or when the table is full)."""
        out: list[Event] = []
        for pending in self._pending.values():
            out.extend(self._close(pending))
        self._pending.clear()
        return out

    @staticmethod
    def _close(pending: _Pending) -> list[Event]:
        if pending.count == 0:
            return []
        last = pending.last_ts or pending.first.ts
        if isinstance(last, float):
            last = datetime.fromtimestamp(last, UTC)
        detail = dict(pending.first.detail)
        detail.update(aggregated=True, first_seen=_iso(pending.first.ts), last_seen=_iso(last))
        return [pending.first.replace(ts=last, count=pending.count, detail=detail, raw=pending.first.raw, id=new_id())]

    def __len__(self) -> int:
        return len(self._pending)


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")
