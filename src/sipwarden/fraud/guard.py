"""FraudGuard: call records in, FraudAlerts out. Pure; time comes from the records.

Every record passes here, so the path is lean: the destination and its price are looked up once
per distinct dialled string, times are integer microseconds, per-account memory is a `__slots__`
object, and CallRecord, Destination and alert objects are only built when a rule fires.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Final

from sipwarden.fraud.alerts import ClassifiedCall, FraudAlert, Severity
from sipwarden.fraud.destination import MAX_CACHE_ENTRIES, MAX_DIALLED_ENTRIES, DestinationClassifier, Reading
from sipwarden.fraud.history import US_PER_SECOND, AccountHistory, RecordBuilder, SeenCall, micros
from sipwarden.fraud.records import CallRecord, Destination
from sipwarden.fraud.rules import EVIDENCE_WINDOW_SECONDS, Finding, FraudRule, default_rules
from sipwarden.fraud.settings import FraudSettings
from sipwarden.intel.risk import RiskClass

#: Accounts remembered at once. A PBX has far fewer; the bound only stops a CDR file full of
#: distinct account codes from growing memory without end (least recently active are forgotten).
MAX_ACCOUNTS: Final = 100_000


class RateTable:
    """Price per minute by E.164 prefix, longest prefix first.

    The price only depends on the first digits (as many as the longest rate prefix) and on whether
    the number is international, so it is remembered by those: national numbers rarely repeat,
    their first digits always do.
    """

    def __init__(self, rates: dict[str, float], default_international: float) -> None:
        self.rates = dict(rates)
        self.default_international = default_international
        self._longest = max((len(p) for p in rates), default=0)
        self._known: tuple[dict[str, float], dict[str, float]] = ({}, {})  # national, international

    def price(self, e164: str, international: bool) -> float:
        """The price per minute of calls to the E.164 number `e164`."""
        known = self._known[international]
        key = e164[: self._longest + 1]  # "+" and the digits a rate prefix can cover
        found = known.get(key)
        if found is None:
            found = self._look_up(e164, international)
            if len(known) >= MAX_CACHE_ENTRIES:
                known.clear()
            known[key] = found
        return found

    def _look_up(self, e164: str, international: bool) -> float:
        digits = e164[1:]
        for n in range(min(self._longest, len(digits)), 0, -1):
            price = self.rates.get(digits[:n])
            if price is not None:
                return price
        return self.default_international if international else 0.0

    def per_minute(self, dest: Destination) -> float:
        """The price per minute of calls to `dest` (0 for internal calls)."""
        if dest.e164 is None:
            return 0.0
        return self.price(dest.e164, dest.international)

    def cost(self, record: CallRecord, dest: Destination) -> float:
        """Estimated cost of an answered call (billed seconds at the per-minute price)."""
        if record.billsec <= 0:
            return 0.0
        return record.billsec / 60 * self.per_minute(dest)


#: (check, reason, severity) of each rule the guard asks about a call, in rule order.
_Checks = tuple[tuple[Callable[[SeenCall, AccountHistory], Finding | None], str, Severity], ...]
#: What the destination cache holds for extensions and junk: nothing to examine.
_INTERNAL: Final[tuple[None, float, _Checks]] = (None, 0.0, ())


class FraudGuard:
    """Run every fraud rule over a stream of call records, one account history each."""

    def __init__(
        self,
        settings: FraudSettings | None = None,
        *,
        classifier: DestinationClassifier | None = None,
        rules: Sequence[FraudRule] | None = None,
    ) -> None:
        self.settings = settings or FraudSettings()
        s = self.settings
        self.classifier = classifier or DestinationClassifier(s.home_country, s.outside_line_prefixes)
        self.rules: tuple[FraudRule, ...] = tuple(rules if rules is not None else default_rules(s))
        # Kind of destination (country, international, risk) -> the checks of the rules it concerns.
        self._checks: dict[tuple[str | None, bool, RiskClass], _Checks] = {}
        self.rates = RateTable(s.rates, s.default_international_rate)
        self._cooldown = s.alert_cooldown_seconds * US_PER_SECOND
        keep = max(s.burst_window_seconds, s.short_series_window_seconds, s.alert_cooldown_seconds)
        self._keep = max(keep, EVIDENCE_WINDOW_SECONDS) * US_PER_SECOND
        self._settle = s.burst_window_seconds * US_PER_SECOND
        self._budget = s.budget_window_seconds * US_PER_SECOND
        self._accounts: dict[str, AccountHistory] = {}
        self._last_alert: dict[str, dict[str, int]] = {}  # account -> reason -> latest alert (µs)
        self._account_alert: dict[str, int] = {}  # latest alert per account (µs)
        # dialled string -> (Reading, price per minute, checks); Reading None for extensions and junk.
        # The same numbers recur all day; emptied when full (cheaper per miss than LRU bookkeeping).
        self._destinations: dict[str, tuple[Reading | None, float, _Checks]] = {}
        self.records_seen = 0
        self.external_calls = 0

    def _look_up(self, dialled: str) -> tuple[Reading | None, float, _Checks]:
        reading = self.classifier.read(dialled)
        if reading is None:
            found: tuple[Reading | None, float, _Checks] = _INTERNAL
        else:
            _, country, _, international, risk = reading
            checks = self._checks.get((country, international, risk))
            if checks is None:
                checks = self._checks_for(country, international, risk)
            found = (reading, self.rates.price(reading[0], international), checks)
        if len(self._destinations) >= MAX_DIALLED_ENTRIES:
            self._destinations.clear()
        self._destinations[dialled] = found
        return found

    def _checks_for(self, country: str | None, international: bool, risk: RiskClass) -> _Checks:
        """The checks of the rules that calls to this kind of destination concern (shared per kind)."""
        checks = tuple((r.check, r.reason, r.severity) for r in self.rules if r.concerns(country, international, risk))
        self._checks[country, international, risk] = checks  # bounded: countries x 2 x risk classes
        return checks

    def classify(self, record: CallRecord) -> ClassifiedCall:
        """The record with its destination and estimated cost."""
        dest = self.classifier.classify(record.dst)
        return ClassifiedCall(record, dest, self.rates.cost(record, dest))

    def under_alert(self, account: str, now: datetime) -> bool:
        """Whether any rule alerted on `account` within the cooldown before `now`."""
        last = self._account_alert.get(account)
        # abs(): CDRs are written at hangup, so a call that started just before the alert comes later.
        return last is not None and abs(micros(now) - last) <= self._cooldown

    def feed(self, record: CallRecord) -> list[FraudAlert]:
        """Examine one call record; return the alerts it raises (usually none)."""
        reading, price, checks = self._destinations.get(record.dst) or self._look_up(record.dst)
        if reading is None:
            self.records_seen += 1
            return []  # extensions and feature codes cost nothing
        start = micros(record.start)
        stop = micros(record.end) if record.end is not None else start + record.duration * US_PER_SECOND
        billsec = record.billsec
        cost = billsec / 60 * price if billsec > 0 else 0.0
        call = SeenCall(start, stop, billsec, cost, record.dst, reading, record)
        return self._examine(record.account, call, checks)

    def feed_fields(
        self, account: str, dst: str, start: int, stop: int, billsec: int, build: RecordBuilder, row: Sequence[str],
        line: int,
    ) -> list[FraudAlert]:  # fmt: skip
        """`feed` for a reader that has checked a record's fields but not built its CallRecord.

        `start` and `stop` are µs since the epoch; `build(row, line)` must return the CallRecord of
        exactly these fields (it runs only when an alert shows the call).
        """
        reading, price, checks = self._destinations.get(dst) or self._look_up(dst)
        if reading is None:
            self.records_seen += 1
            return []
        cost = billsec / 60 * price if billsec > 0 else 0.0
        call = SeenCall(start, stop, billsec, cost, dst, reading, None, build, row, line)
        return self._examine(account, call, checks)

    def _examine(self, account: str, call: SeenCall, checks: _Checks) -> list[FraudAlert]:
        self.records_seen += 1
        self.external_calls += 1
        accounts = self._accounts
        history = accounts.pop(account, None)  # then re-inserted: dict order is recency order
        if history is None:
            history = AccountHistory(account)
            if len(accounts) >= MAX_ACCOUNTS:
                del accounts[next(iter(accounts))]
        accounts[account] = history
        now = call.start
        history.prune(now, self._keep, self._settle, self._budget)
        latest = history.latest_stop
        if latest is not None and latest > now:  # else nothing remembered still runs: concurrency 1
            call.concurrency = history.concurrency_at(call)
        alerts: list[FraudAlert] = []
        last = self._last_alert.get(account)
        for check, reason, severity in checks:
            if last is not None:
                then = last.get(reason)
                if then is not None and now - then < self._cooldown:
                    continue  # one alert per account and reason per cooldown
            finding = check(call, history)
            if finding is None:
                continue
            if last is None:
                last = self._last_alert[account] = {}
            last[reason] = now
            self._account_alert[account] = now
            alerts.append(
                FraudAlert(
                    ts=call.record.start,
                    account=account,
                    reason=reason,
                    severity=severity,
                    message=finding.message,
                    calls=tuple(c.classified() for c in finding.evidence),
                    currency=self.settings.currency,
                )
            )
        history.add(call)
        return alerts

    def feed_all(self, records: Iterable[CallRecord]) -> list[FraudAlert]:
        """Feed many records in order; all alerts raised."""
        out: list[FraudAlert] = []
        for record in records:
            out.extend(self.feed(record))
        return out
