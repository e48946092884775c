"""Bring existing data in: NDJSON files of sipwarden events, or a SentryPeer sensor's JSON log.

A bad line never stops an import: it is reported with its number and the reason, and every good
line is kept. Imported SentryPeer events get ids derived from their time and their `event_uuid`, so
importing the same file twice stores each event once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from ulid import ULID

from sipwarden.events import Event, EventKind, bound_raw, parse_ts
from sipwarden.intel import aggregates
from sipwarden.intel.numbers import normalize_dialled, target_from_uri_user
from sipwarden.store import Store
from sipwarden.store import intel_queries as q

ImportFormat = Literal["sipwarden", "sentrypeer"]
IMPORT_FORMATS: Final = ("sipwarden", "sentrypeer")

#: Longest line read: a SentryPeer line holds one SIP message (bounded by UDP, RFC 3261 18.1.1), so
#: a megabyte is garbage, not an event.
MAX_LINE_BYTES: Final = 1 << 20
#: Errors kept in a result (the count goes on); a file of garbage must not fill memory with messages.
MAX_ERRORS_KEPT: Final = 100
#: Events stored per transaction during an import.
IMPORT_BATCH: Final = 5000

#: SentryPeer `sip_method` -> event kind (SentryPeer records requests it received, unanswered).
_SENTRYPEER_KINDS: Final[dict[str, EventKind]] = {"INVITE": "call_attempt", "REGISTER": "register"}
#: Longest field value kept from a SentryPeer line (other than the SIP message).
MAX_FIELD_CHARS: Final = 512


@dataclass
class ImportResult:
    """What an import read: how many events, and the lines it could not use."""

    stored: int = 0  # events handed to the store (an id already stored is skipped there)
    smallest_id: str | None = None
    errors: list[tuple[int, str]] = field(default_factory=list)
    error_count: int = 0

    def error(self, lineno: int, message: str) -> None:
        """Record a bad line (the first MAX_ERRORS_KEPT are kept with their reason)."""
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append((lineno, message))


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)[:MAX_FIELD_CHARS]


def parse_sentrypeer_time(value: str) -> datetime:
    """SentryPeer's `event_timestamp` ("2022-03-04 13:55:43.915237123", UTC, nanoseconds) as UTC."""
    text = value.strip().replace(" ", "T", 1)
    if "." in text:
        head, frac = text.split(".", 1)
        digits = "".join(c for c in frac if c.isdigit())
        tail = frac[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{tail}"
    ts = parse_ts(text)
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _stable_id(ts: datetime, key: str) -> str:
    millis = int(ts.timestamp() * 1000)
    return str(ULID.from_bytes(millis.to_bytes(6, "big") + hashlib.sha256(key.encode()).digest()[:10]))


def event_from_sentrypeer(data: dict[str, Any]) -> Event:
    """One SentryPeer `json_log` record as an Event (ValueError says which field is wrong)."""
    if not isinstance(data.get("event_timestamp"), str):
        raise ValueError("no event_timestamp")
    ts = parse_sentrypeer_time(data["event_timestamp"])
    method = (_text(data.get("sip_method")) or "").upper() or None
    kind: EventKind = _SENTRYPEER_KINDS.get(method or "", "probe")
    fields: dict[str, Any] = {}
    called = _text(data.get("called_number"))
    if called:
        number = normalize_dialled(target_from_uri_user(called))
        fields.update(target=called, target_e164=number.e164, target_country=number.country)
    detail = {
        k: _text(data.get(k)) for k in ("app_name", "app_version", "event_uuid", "collected_method") if data.get(k)
    }
    key = str(data.get("event_uuid") or json.dumps(data, sort_keys=True, default=str))
    return Event(
        id=_stable_id(ts, key),
        ts=ts,
        kind=kind,
        source="import",
        sensor=_text(data.get("created_by_node_id")) or "sentrypeer",
        src_ip=_text(data.get("source_ip")),
        dst_ip=_text(data.get("destination_ip")),
        transport=(_text(data.get("transport_type")) or "").lower() or None,
        method=method,
        user_agent=_text(data.get("sip_user_agent")),
        raw=bound_raw(data.get("sip_message")) if isinstance(data.get("sip_message"), str) else None,
        detail=detail,
        **fields,
    )


def parse_lines(lines: Iterable[bytes], fmt: ImportFormat) -> Iterator[tuple[int, Event | str]]:
    """(line number, Event or the reason the line is unusable) for every non-blank line."""
    for lineno, line in enumerate(lines, 1):
        if len(line) > MAX_LINE_BYTES:
            yield lineno, f"line longer than {MAX_LINE_BYTES} bytes"
            continue
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            yield lineno, f"not JSON: {exc}"
            continue
        if not isinstance(data, dict):
            yield lineno, "not a JSON object"
            continue
        try:
            yield lineno, Event.from_dict(data) if fmt == "sipwarden" else event_from_sentrypeer(data)
        except (ValueError, TypeError, KeyError) as exc:
            yield lineno, str(exc)[:300]


def import_lines(store: Store, lines: Iterable[bytes], fmt: ImportFormat) -> ImportResult:
    """Parse and store `lines`, batch by batch; keep the aggregates right for events older than their cursor."""
    result = ImportResult()
    batch: list[Event] = []
    for lineno, item in parse_lines(lines, fmt):
        if isinstance(item, str):
            result.error(lineno, item)
            continue
        batch.append(item)
        if len(batch) >= IMPORT_BATCH:
            _store(store, batch, result)
            batch = []
    _store(store, batch, result)
    cursor = q.cursor(store)
    if cursor is not None and result.smallest_id is not None and result.smallest_id <= cursor:
        # Older than what the aggregates already hold: the cursor cannot go back, so rebuild them.
        q.reset(store)
    aggregates.refresh(store)
    return result


def _store(store: Store, batch: list[Event], result: ImportResult) -> None:
    if not batch:
        return
    store.add_events(batch)
    result.stored += len(batch)
    smallest = min(ev.id for ev in batch)
    if result.smallest_id is None or smallest < result.smallest_id:
        result.smallest_id = smallest
