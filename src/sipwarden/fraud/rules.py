"""The toll-fraud rules. Each is one small class behind the `FraudRule` Protocol.

A rule looks at one classified call and the account's history *before* that call, and returns a
`Finding` or None. Thresholds come from `[fraud]` settings; time comes from the records, so a
replayed CDR file gives the same alerts as live monitoring.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Final, Protocol
from zoneinfo import ZoneInfo

from sipwarden.fraud.alerts import ClassifiedCall, Severity
from sipwarden.fraud.history import AccountHistory
from sipwarden.fraud.settings import FraudSettings
from sipwarden.intel.risk import RiskClass

#: Alerts on single calls (high risk, after hours) also list the account's matching calls of the
#: last hour, so an operator sees the whole pattern, not just the call that tripped the rule.
EVIDENCE_WINDOW_SECONDS: Final = 3600


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule's conclusion about one call; `evidence` ends with that call."""

    message: str
    evidence: tuple[ClassifiedCall, ...]


@dataclass(frozen=True, slots=True)
class CallContext:
    """Facts about the current call computed once for every rule."""

    call: ClassifiedCall
    concurrency: int


class FraudRule(Protocol):
    """One toll-fraud signal."""

    reason: str
    severity: Severity

    def check(self, ctx: CallContext, history: AccountHistory) -> Finding | None:
        """A Finding when this call (with the account's history) looks like fraud."""


def _window(history: AccountHistory, call: ClassifiedCall, seconds: int) -> list[ClassifiedCall]:
    """Calls of the account that started within `seconds` before `call`, oldest first."""
    since = call.record.start - timedelta(seconds=seconds)
    out = []
    # CDRs arrive in (nearly) time order, so walking back from the newest stops early.
    for other in reversed(history.recent):
        if other.record.start < since:
            break
        out.append(other)
    out.reverse()
    return out


def _where(call: ClassifiedCall) -> str:
    return f"{call.dest.e164 or call.record.dst} ({call.dest.country or '?'})"


class HighRiskDestination:
    """A call to a destination on the IRSF high-risk table (or a premium-rate number)."""

    reason = "high_risk_destination"
    severity: Severity = "critical"

    def __init__(self, settings: FraudSettings) -> None:
        self.min_risk = RiskClass.parse(settings.risk_alert_min)
        self.window = max(settings.alert_cooldown_seconds, EVIDENCE_WINDOW_SECONDS)

    def check(self, ctx: CallContext, history: AccountHistory) -> Finding | None:
        call = ctx.call
        if not call.dest.external or call.dest.risk < self.min_risk:
            return None
        risky = [c for c in _window(history, call, self.window) if c.dest.risk >= self.min_risk]
        return Finding(f"call to {call.dest.risk} risk destination {_where(call)}", (*risky, call))


class NewCountry:
    """An account with a settled history calls a foreign country it never called before."""

    reason = "new_country"
    severity: Severity = "medium"

    def __init__(self, settings: FraudSettings) -> None:
        self.min_history = settings.new_country_min_history

    def check(self, ctx: CallContext, history: AccountHistory) -> Finding | None:
        dest = ctx.call.dest
        if not dest.international or not dest.country or history.calls_total < self.min_history:
            return None
        if dest.country in history.countries:
            return None
        return Finding(
            f"first call to {dest.country} after {history.calls_total} calls to {sorted(history.countries) or 'none'}",
            (ctx.call,),
        )


class Burst:
    """Far more calls in a short window than the account usually makes."""

    reason = "burst"
    severity: Severity = "high"

    def __init__(self, settings: FraudSettings) -> None:
        self.seconds = settings.burst_window_seconds
        self.min_calls = settings.burst_min_calls
        self.factor = settings.burst_factor

    def check(self, ctx: CallContext, history: AccountHistory) -> Finding | None:
        if len(history.recent) + 1 < self.min_calls:
            return None  # cannot reach even the floor: skip the window walk
        calls = [*_window(history, ctx.call, self.seconds), ctx.call]
        if len(calls) < self.min_calls:
            return None
        usual = history.usual_calls_per_hour(ctx.call.record.start) * self.seconds / 3600
        limit = max(self.min_calls, self.factor * usual)
        if len(calls) < limit:
            return None
        return Finding(
            f"{len(calls)} calls in {self.seconds // 60} min (usual {usual:.1f}, limit {limit:.0f})", tuple(calls)
        )


class Concurrency:
    """Far more simultaneous calls than the account's usual peak."""

    reason = "concurrency"
    severity: Severity = "high"

    def __init__(self, settings: FraudSettings) -> None:
        self.min_calls = settings.concurrency_min
        self.factor = settings.concurrency_factor

    def check(self, ctx: CallContext, history: AccountHistory) -> Finding | None:
        limit = max(self.min_calls, self.factor * history.settled_peak)
        if ctx.concurrency < limit:
            return None
        start, stop = ctx.call.record.start, ctx.call.record.stop
        overlapping = [c for c in history.recent if c.record.start < stop and c.record.stop > start]
        return Finding(
            f"{ctx.concurrency} simultaneous calls (usual peak {history.settled_peak})",
            (*overlapping, ctx.call),
        )


class AfterHours:
    """An international (or any outbound) call outside the configured business hours."""

    reason = "after_hours"
    severity: Severity = "medium"

    def __init__(self, settings: FraudSettings) -> None:
        self.zone = ZoneInfo(settings.timezone)
        begin, end = settings.business_hours.split("-")
        self.begin = time.fromisoformat(begin)
        self.end = time.max if end == "24:00" else time.fromisoformat(end)
        self.days = frozenset(settings.business_days)
        self.all_calls = settings.after_hours_scope == "all"
        self.window = max(settings.alert_cooldown_seconds, EVIDENCE_WINDOW_SECONDS)

    def in_hours(self, ts: datetime) -> bool:
        """Whether `ts` falls in business hours in the configured zone."""
        local = ts.astimezone(self.zone)
        return local.isoweekday() in self.days and self.begin <= local.time() < self.end

    def _counts(self, call: ClassifiedCall) -> bool:
        dest = call.dest
        if not dest.external:
            return False
        return self.all_calls or dest.international or dest.risk > RiskClass.LOW

    def check(self, ctx: CallContext, history: AccountHistory) -> Finding | None:
        call = ctx.call
        if not self._counts(call) or self.in_hours(call.record.start):
            return None
        local = call.record.start.astimezone(self.zone)
        earlier = [
            c for c in _window(history, call, self.window) if self._counts(c) and not self.in_hours(c.record.start)
        ]
        return Finding(f"call to {_where(call)} at {local:%a %H:%M} local, outside business hours", (*earlier, call))


class ShortCallSeries:
    """Several very short international calls: attackers test a route before pumping it."""

    reason = "short_call_series"
    severity: Severity = "high"

    def __init__(self, settings: FraudSettings) -> None:
        self.short = settings.short_call_seconds
        self.calls = settings.short_series_calls
        self.seconds = settings.short_series_window_seconds

    def _short(self, call: ClassifiedCall) -> bool:
        return call.dest.international and call.record.billsec <= self.short

    def check(self, ctx: CallContext, history: AccountHistory) -> Finding | None:
        if not self._short(ctx.call):
            return None
        series = [c for c in _window(history, ctx.call, self.seconds) if self._short(c)]
        series.append(ctx.call)
        if len(series) < self.calls:
            return None
        return Finding(
            f"{len(series)} international calls of at most {self.short} s within {self.seconds // 60} min",
            tuple(series),
        )


class Budget:
    """The account's estimated spend in the budget window crosses the budget."""

    reason = "budget"
    severity: Severity = "high"

    def __init__(self, settings: FraudSettings) -> None:
        self.budget = settings.budget
        self.seconds = settings.budget_window_seconds
        self.currency = settings.currency

    def check(self, ctx: CallContext, history: AccountHistory) -> Finding | None:
        total = history.spend_total + ctx.call.cost
        if ctx.call.cost <= 0 or total < self.budget:
            return None
        paid = [c for c in _window(history, ctx.call, self.seconds) if c.cost > 0]
        return Finding(
            f"estimated spend {total:.2f} {self.currency} in {self.seconds // 3600} h crosses budget {self.budget:.2f}",
            (*paid, ctx.call),
        )


def default_rules(settings: FraudSettings) -> tuple[FraudRule, ...]:
    """Every rule, configured (the one list of fraud rules)."""
    return (
        HighRiskDestination(settings),
        ShortCallSeries(settings),
        Burst(settings),
        Concurrency(settings),
        Budget(settings),
        NewCountry(settings),
        AfterHours(settings),
    )
