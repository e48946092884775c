"""The toll-fraud rules. Each is one small class behind the `FraudRule` Protocol.

A rule looks at one external call and the account's history *before* that call, and returns a
`Finding` or None. Thresholds come from `[fraud]` settings; time comes from the records, so a
replayed CDR file gives the same alerts as live monitoring. Rules run once per external call, so
each decides from counters first (O(1) or a binary search) and lists the calls of a window only
when it fires. Before that, `concerns` screens destinations: most calls go to ordinary national
numbers that can never trip a destination rule, so the guard does not even ask those rules.

`quiet` is a cheaper and coarser screen of one call: True promises that `check` would return None,
and it may read only the account's tally (see `history`). A guard that defers quiet calls skips the
rest of the account's bookkeeping for them until a call comes that some rule cannot call quiet.
Every `quiet` must be conservative; `tests/cdr/test_cdr_deferred.py` holds them to that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from itertools import islice
from typing import Final, Protocol
from zoneinfo import ZoneInfo

from sipwarden.fraud.alerts import Severity
from sipwarden.fraud.history import US_PER_SECOND, AccountHistory, SeenCall, from_micros
from sipwarden.fraud.settings import FraudSettings
from sipwarden.intel.risk import RiskClass

#: Alerts on single calls (high risk, after hours) also list the account's matching calls of the
#: last hour, so an operator sees the whole pattern, not just the call that tripped the rule.
EVIDENCE_WINDOW_SECONDS: Final = 3600


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule's conclusion about one call; `evidence` ends with that call."""

    message: str
    evidence: tuple[SeenCall, ...]


class FraudRule(Protocol):
    """One toll-fraud signal."""

    reason: str
    severity: Severity
    #: How many of the account's latest calls `quiet` reads from the tally (`tail_starts`, `tail_stops`).
    tail: int

    def concerns(self, country: str | None, international: bool, risk: RiskClass) -> bool:
        """Whether a call to a destination of this kind could ever make `check` return a Finding.

        Asked once per kind of destination: when False, the guard skips `check` for such calls.
        """

    def quiet(self, call: SeenCall, history: AccountHistory) -> bool:
        """True only if `check(call, history)` is sure to return None, judged from the tally alone.

        False is always allowed (the call is then examined in full); the tally is up to date with
        every earlier call, the rest of `history` may lag behind. `call` may be the guard's reused
        probe: only its times, billsec, cost, country, international and risk are the call's.
        """

    def check(self, call: SeenCall, history: AccountHistory) -> Finding | None:
        """A Finding when this call (with the account's history) looks like fraud."""


def _where(call: SeenCall) -> str:
    return f"{call.e164 or call.dst} ({call.country or '?'})"


class HighRiskDestination:
    """A call to a destination on the IRSF high-risk table (or a premium-rate number)."""

    reason = "high_risk_destination"
    severity: Severity = "critical"
    tail = 0

    def __init__(self, settings: FraudSettings) -> None:
        self.min_risk = RiskClass.parse(settings.risk_alert_min)
        self.window = max(settings.alert_cooldown_seconds, EVIDENCE_WINDOW_SECONDS) * US_PER_SECOND

    def concerns(self, country: str | None, international: bool, risk: RiskClass) -> bool:
        return risk >= self.min_risk

    def quiet(self, call: SeenCall, history: AccountHistory) -> bool:
        return call.risk < self.min_risk

    def check(self, call: SeenCall, history: AccountHistory) -> Finding | None:
        if self.quiet(call, history):
            return None
        risky = [c for c in history.window(call.start - self.window) if c.risk >= self.min_risk]
        return Finding(f"call to {call.risk} risk destination {_where(call)}", (*risky, call))


class NewCountry:
    """An account with a settled history calls a foreign country it never called before."""

    reason = "new_country"
    severity: Severity = "medium"
    tail = 0

    def __init__(self, settings: FraudSettings) -> None:
        self.min_history = settings.new_country_min_history

    def concerns(self, country: str | None, international: bool, risk: RiskClass) -> bool:
        return international and bool(country)

    def quiet(self, call: SeenCall, history: AccountHistory) -> bool:
        return self.check(call, history) is None  # countries and the call count are the tally

    def check(self, call: SeenCall, history: AccountHistory) -> Finding | None:
        if not call.international or not call.country or history.calls_total < self.min_history:
            return None
        if call.country in history.countries:
            return None
        return Finding(
            f"first call to {call.country} after {history.calls_total} calls to {sorted(history.countries) or 'none'}",
            (call,),
        )


class Burst:
    """Far more calls in a short window than the account usually makes."""

    reason = "burst"
    severity: Severity = "high"

    def __init__(self, settings: FraudSettings) -> None:
        self.seconds = settings.burst_window_seconds
        self.min_calls = settings.burst_min_calls
        self.factor = settings.burst_factor
        self.tail = self.min_calls - 1
        self._window = self.seconds * US_PER_SECOND

    def concerns(self, country: str | None, international: bool, risk: RiskClass) -> bool:
        return True  # any call counts

    def quiet(self, call: SeenCall, history: AccountHistory) -> bool:
        # The window walks back from the newest call until one started before `since`, so holding
        # min_calls - 1 earlier calls means the (min_calls - 1)th latest of them started since.
        starts = history.tail_starts
        return len(starts) < self.tail or starts[-self.tail] < call.start - self._window

    def check(self, call: SeenCall, history: AccountHistory) -> Finding | None:
        if len(history.recent) + 1 < self.min_calls:
            return None  # cannot reach even the floor
        since = call.start - self.seconds * US_PER_SECOND
        count = history.window_count(since) + 1
        if count < self.min_calls:
            return None
        usual = history.usual_calls_per_hour(call.start) * self.seconds / 3600
        limit = max(self.min_calls, self.factor * usual)
        if count < limit:
            return None
        return Finding(
            f"{count} calls in {self.seconds // 60} min (usual {usual:.1f}, limit {limit:.0f})",
            (*history.window(since), call),
        )


class Concurrency:
    """Far more simultaneous calls than the account's usual peak."""

    reason = "concurrency"
    severity: Severity = "high"

    def __init__(self, settings: FraudSettings) -> None:
        self.min_calls = settings.concurrency_min
        self.factor = settings.concurrency_factor
        self.tail = self.min_calls - 2

    def concerns(self, country: str | None, international: bool, risk: RiskClass) -> bool:
        return True  # any call counts

    def quiet(self, call: SeenCall, history: AccountHistory) -> bool:
        # Only calls still running at the start overlap it. When all but the latest min_calls - 2
        # had stopped by then, at most min_calls - 1 calls run at once, this one included.
        start = call.start
        if history.seen_stop <= start:
            return True  # the usual case: nothing still runs
        if history.stop_before_tail > start:
            return False
        stops = history.tail_stops
        older = len(stops) - self.tail
        return older <= 0 or max(islice(stops, older)) <= start

    def check(self, call: SeenCall, history: AccountHistory) -> Finding | None:
        if call.concurrency < self.min_calls:
            return None
        limit = max(self.min_calls, self.factor * history.settled_peak)
        if call.concurrency < limit:
            return None
        start, stop = call.start, call.stop
        overlapping = [c for c in history.recent if c.start < stop and c.stop > start]
        return Finding(
            f"{call.concurrency} simultaneous calls (usual peak {history.settled_peak})", (*overlapping, call)
        )


class AfterHours:
    """An international (or any outbound) call outside the configured business hours."""

    reason = "after_hours"
    severity: Severity = "medium"
    tail = 0

    def __init__(self, settings: FraudSettings) -> None:
        self.zone = ZoneInfo(settings.timezone)
        begin, end = settings.business_hours.split("-")
        self.begin = time.fromisoformat(begin)
        self.end = time.max if end == "24:00" else time.fromisoformat(end)
        self.days = frozenset(settings.business_days)
        self.all_calls = settings.after_hours_scope == "all"
        self.window = max(settings.alert_cooldown_seconds, EVIDENCE_WINDOW_SECONDS) * US_PER_SECOND

    def in_hours(self, start: int) -> bool:
        """Whether `start` (µs since the epoch) falls in business hours in the configured zone."""
        local = from_micros(start).astimezone(self.zone)
        return local.isoweekday() in self.days and self.begin <= local.time() < self.end

    def _counts(self, call: SeenCall) -> bool:
        return self.concerns(call.country, call.international, call.risk)

    def concerns(self, country: str | None, international: bool, risk: RiskClass) -> bool:
        return self.all_calls or international or risk > RiskClass.LOW

    def quiet(self, call: SeenCall, history: AccountHistory) -> bool:
        return not self._counts(call) or self.in_hours(call.start)

    def check(self, call: SeenCall, history: AccountHistory) -> Finding | None:
        if self.quiet(call, history):
            return None
        local = from_micros(call.start).astimezone(self.zone)
        earlier = [
            c for c in history.window(call.start - self.window) if self._counts(c) and not self.in_hours(c.start)
        ]
        return Finding(f"call to {_where(call)} at {local:%a %H:%M} local, outside business hours", (*earlier, call))


class ShortCallSeries:
    """Several very short international calls: attackers test a route before pumping it."""

    reason = "short_call_series"
    severity: Severity = "high"
    tail = 0

    def __init__(self, settings: FraudSettings) -> None:
        self.short = settings.short_call_seconds
        self.calls = settings.short_series_calls
        self.seconds = settings.short_series_window_seconds

    def _short(self, call: SeenCall) -> bool:
        return call.international and call.billsec <= self.short

    def concerns(self, country: str | None, international: bool, risk: RiskClass) -> bool:
        return international

    def quiet(self, call: SeenCall, history: AccountHistory) -> bool:
        return not self._short(call)

    def check(self, call: SeenCall, history: AccountHistory) -> Finding | None:
        if self.quiet(call, history):
            return None
        since = call.start - self.seconds * US_PER_SECOND
        if history.window_count(since) + 1 < self.calls:
            return None  # not even counting long calls would the series be long enough
        series = [c for c in history.window(since) if self._short(c)]
        series.append(call)
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
    tail = 0

    def __init__(self, settings: FraudSettings) -> None:
        self.budget = settings.budget
        self.seconds = settings.budget_window_seconds
        self.currency = settings.currency

    def concerns(self, country: str | None, international: bool, risk: RiskClass) -> bool:
        return True  # any call counts

    def quiet(self, call: SeenCall, history: AccountHistory) -> bool:
        return call.cost <= 0 or history.spend_total + call.cost < self.budget  # the spend is the tally

    def check(self, call: SeenCall, history: AccountHistory) -> Finding | None:
        if self.quiet(call, history):
            return None
        total = history.spend_total + call.cost
        paid = [c for c in history.window(call.start - self.seconds * US_PER_SECOND) if c.cost > 0]
        return Finding(
            f"estimated spend {total:.2f} {self.currency} in {self.seconds // 3600} h crosses budget {self.budget:.2f}",
            (*paid, call),
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
