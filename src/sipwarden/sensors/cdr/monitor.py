"""CdrMonitor: follow CDR files, run the fraud rules, emit Events and Decisions, run the actions.

`sipwarden run` builds one from `[cdr]`/`[fraud]` and awaits `run(emit, stop)`. The monitor never
enforces a ban itself: it hands ip-scope Decisions to `emit`, and the composition root enforces them.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import inspect
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from sipwarden.config import Settings
from sipwarden.events import Decision, Event, utcnow
from sipwarden.fraud.alerts import FraudAlert
from sipwarden.fraud.guard import FraudGuard
from sipwarden.fraud.records import CallRecord
from sipwarden.fraud.respond import SCENARIO, alert_decisions, alert_events, call_event, record_key
from sipwarden.fraud.settings import CdrSettings, FraudSettings
from sipwarden.sensors.cdr.actions import AlertResponder
from sipwarden.sensors.cdr.follow import CdrFollower, Chunk
from sipwarden.sensors.cdr.readers import (
    MAX_RECORD_CHARS,
    CdrFormatError,
    detect_format,
    parse_json_cdr,
    row_parser,
    split_json_docs,
)
from sipwarden.sensors.cdr.scan import columns_for

log = logging.getLogger(__name__)

#: Record keys and addresses remembered so an Event or a ban is emitted once (bounded FIFO).
MAX_REMEMBERED: Final = 100_000
#: Unfinished JSON kept per file while a document is still being written.
MAX_JSON_PENDING_CHARS: Final = 4 * 1024 * 1024

Emit = Callable[[Event | Decision], Awaitable[None] | None]


@dataclass(slots=True)
class MonitorOutput:
    """What one batch of CDR text produced."""

    records: int = 0
    alerts: list[FraudAlert] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)


def _remember(seen: dict[str, None], key: str) -> bool:
    """Add `key`; False when it was already there."""
    if key in seen:
        return False
    seen[key] = None
    if len(seen) > MAX_REMEMBERED:
        del seen[next(iter(seen))]
    return True


class CdrMonitor:
    """Follower + fraud rules -> alerts, `fraud_call`/`malformed` Events and ip ban Decisions."""

    def __init__(
        self,
        cdr: CdrSettings,
        fraud: FraudSettings,
        *,
        sensor: str = "",
        state_path: Path | None = None,
        follower: CdrFollower | None = None,
        responder: AlertResponder | None = None,
        guard: FraudGuard | None = None,
    ) -> None:
        self.cdr, self.fraud, self.sensor = cdr, fraud, sensor
        self.zone = ZoneInfo(cdr.timezone)
        self.follower = follower or CdrFollower(cdr.paths, state_path)
        self.responder = responder or AlertResponder(fraud)
        self.guard = guard or FraudGuard(fraud)
        self._formats: dict[str, str] = {}
        self._json_pending: dict[str, tuple[int, str]] = {}
        self._emitted: dict[str, None] = {}
        self._banned: dict[str, None] = {}

    def _malformed(self, origin: str, problem: str, raw: str) -> Event:
        # A broken record carries no trustworthy time: the monitor (an I/O layer) reads the clock.
        detail = {"origin": origin, "problem": problem}
        return Event(ts=utcnow(), kind="malformed", source="cdr", sensor=self.sensor, raw=raw[:1000], detail=detail)

    def records_of(self, chunk: Chunk, out: MonitorOutput) -> list[CallRecord]:
        """Parse one chunk; unreadable records become `malformed` Events in `out`."""
        fmt = self._formats.get(chunk.path)
        if fmt is None:
            try:
                fmt = self.cdr.format if self.cdr.format != "auto" else detect_format(chunk.text[:MAX_RECORD_CHARS])
            except CdrFormatError as exc:
                out.events.append(self._malformed(chunk.path, str(exc), chunk.text))
                return []
            self._formats[chunk.path] = fmt
        if fmt == "freeswitch-json":
            return self._json_records(chunk, out)
        parse = row_parser(columns_for(fmt, self.cdr.custom_columns), self.zone)
        records = []
        for i, line in enumerate(chunk.text.splitlines()):
            if not line.strip():
                continue
            origin = f"{chunk.path}:{chunk.first_line + i}"
            try:
                if len(line) > MAX_RECORD_CHARS:
                    raise CdrFormatError("record too long")
                records.append(parse(next(csv.reader([line])), origin))
            except (CdrFormatError, csv.Error, StopIteration) as exc:
                out.events.append(self._malformed(origin, str(exc) or "not CSV", line))
        return records

    def _json_records(self, chunk: Chunk, out: MonitorOutput) -> list[CallRecord]:
        first_line, pending = self._json_pending.pop(chunk.path, (chunk.first_line, ""))
        docs, tail = split_json_docs(pending + chunk.text)
        records = []
        for line, doc in docs:
            origin = f"{chunk.path}:{first_line + line - 1}"
            try:
                if isinstance(doc, CdrFormatError):
                    raise doc
                records.append(parse_json_cdr(doc, self.zone, origin))
            except CdrFormatError as exc:
                out.events.append(self._malformed(origin, str(exc), ""))
        if tail:
            if len(tail) > MAX_JSON_PENDING_CHARS:
                out.events.append(self._malformed(chunk.path, "unfinished JSON document too long", tail))
            else:
                tail_line = first_line + (pending + chunk.text).count("\n") - tail.count("\n")
                self._json_pending[chunk.path] = (tail_line, tail)
        return records

    def process_record(self, record: CallRecord, out: MonitorOutput) -> None:
        """Run the rules on one record; collect alerts, Events and ban Decisions."""
        out.records += 1
        alerts = self.guard.feed(record)
        for alert in alerts:
            out.alerts.append(alert)
            events = alert_events(alert, self.sensor, skip=self._emitted)
            for event, call in zip(events, [c for c in alert.calls if record_key(c) not in self._emitted], strict=True):
                _remember(self._emitted, record_key(call))
                out.events.append(event)
            fresh = [d for d in alert_decisions(alert, events, self.fraud.ban_seconds) if d.value not in self._banned]
            for decision in fresh:
                _remember(self._banned, decision.value)
            out.decisions.extend(fresh)
        if alerts or not self.guard.under_alert(record.account, record.start):
            return
        # The account is under alert: every further call is evidence, and a new source address is banned.
        call = self.guard.classify(record)
        if not call.dest.external or not _remember(self._emitted, record_key(call)):
            return
        event = call_event(call, "account_under_alert", self.sensor)
        out.events.append(event)
        if record.src_ip and record.src_ip not in self._banned:
            try:
                decision = Decision(
                    ts=record.start, scope="ip", value=record.src_ip, action="ban", scenario=SCENARIO,
                    reason=f"account_under_alert: account {record.account} calls {call.dest.e164}",
                    until=record.start + timedelta(seconds=self.fraud.ban_seconds) if self.fraud.ban_seconds else None,
                    event_ids=(event.id,),
                )  # fmt: skip
            except ValueError:
                return
            _remember(self._banned, decision.value)
            out.decisions.append(decision)

    def process(self, chunks: list[Chunk]) -> MonitorOutput:
        """Parse and examine new CDR text (pure apart from malformed-event timestamps)."""
        out = MonitorOutput()
        for chunk in chunks:
            for record in self.records_of(chunk, out):
                self.process_record(record, out)
        return out

    async def poll_once(self, emit: Emit | None = None) -> MonitorOutput:
        """Read what is new, examine it, emit Events and Decisions, run the alert actions."""
        chunks = await asyncio.to_thread(self.follower.poll)
        out = self.process(chunks)
        items: list[Event | Decision] = [*out.events, *out.decisions]
        for item in items:
            if emit is not None:
                result = emit(item)
                if inspect.isawaitable(result):
                    await result
        for alert in out.alerts:
            log.warning("toll-fraud alert: account %s %s: %s", alert.account, alert.reason, alert.message)
            await self.responder.respond(alert)
        if chunks:
            await asyncio.to_thread(self.follower.save_state)
        return out

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        """Poll every `poll_seconds` until `stop` is set; one bad poll is logged, not fatal."""
        try:
            while not stop.is_set():
                try:
                    await self.poll_once(emit)
                except Exception:
                    log.exception("CDR monitor poll failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.cdr.poll_seconds)
        finally:
            self.follower.save_state()
            self.follower.close()


def monitor_from_settings(settings: Settings) -> CdrMonitor | None:
    """The CdrMonitor `sipwarden run` starts, or None when `[cdr] enabled` is false."""
    if not settings.cdr.enabled:
        return None
    state = (
        Path(settings.cdr.state_file) if settings.cdr.state_file else settings.general.data_dir / "cdr-positions.json"
    )
    sensor = settings.general.sensor or socket.gethostname()
    return CdrMonitor(settings.cdr, settings.fraud, sensor=sensor, state_path=state)
