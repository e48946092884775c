"""FraudGuard: call records in, FraudAlerts out. Pure; time comes from the records."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Final

from sipwarden.fraud.alerts import ClassifiedCall, FraudAlert
from sipwarden.fraud.destination import DestinationClassifier
from sipwarden.fraud.history import AccountHistory
from sipwarden.fraud.records import CallRecord, Destination
from sipwarden.fraud.rules import EVIDENCE_WINDOW_SECONDS, CallContext, FraudRule, default_rules
from sipwarden.fraud.settings import FraudSettings

#: Accounts remembered at once. A PBX has far fewer; the bound only stops a CDR file full of
#: distinct account codes from growing memory without end (least recently active are forgotten).
MAX_ACCOUNTS: Final = 100_000


class RateTable:
    """Price per minute by E.164 prefix, longest prefix first."""

    def __init__(self, rates: dict[str, float], default_international: float) -> None:
        self.rates = dict(rates)
        self.default_international = default_international
        self._longest = max((len(p) for p in rates), default=0)

    def per_minute(self, dest: Destination) -> float:
        """The price per minute of calls to `dest` (0 for internal calls)."""
        if dest.e164 is None:
            return 0.0
        digits = dest.e164[1:]
        for n in range(min(self._longest, len(digits)), 0, -1):
            price = self.rates.get(digits[:n])
            if price is not None:
                return price
        return self.default_international if dest.international else 0.0

    def cost(self, record: CallRecord, dest: Destination) -> float:
        """Estimated cost of an answered call (billed seconds at the per-minute price)."""
        if record.billsec <= 0:
            return 0.0
        return record.billsec / 60 * self.per_minute(dest)


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
        self.rates = RateTable(s.rates, s.default_international_rate)
        self.cooldown = timedelta(seconds=s.alert_cooldown_seconds)
        self._keep = timedelta(
            seconds=max(
                s.burst_window_seconds,
                s.short_series_window_seconds,
                s.alert_cooldown_seconds,
                EVIDENCE_WINDOW_SECONDS,
            )
        )
        self._settle = timedelta(seconds=s.burst_window_seconds)
        self._budget = timedelta(seconds=s.budget_window_seconds)
        self._accounts: dict[str, AccountHistory] = {}
        self._last_alert: dict[tuple[str, str], datetime] = {}
        self._account_alert: dict[str, datetime] = {}  # latest alert per account
        self.records_seen = 0
        self.external_calls = 0

    def classify(self, record: CallRecord) -> ClassifiedCall:
        """The record with its destination and estimated cost."""
        dest = self.classifier.classify(record.dst)
        return ClassifiedCall(record, dest, self.rates.cost(record, dest))

    def _history(self, account: str) -> AccountHistory:
        history = self._accounts.pop(account, None)
        if history is None:
            history = AccountHistory(account)
            if len(self._accounts) >= MAX_ACCOUNTS:
                del self._accounts[next(iter(self._accounts))]
        self._accounts[account] = history  # re-insert: dict order is recency order
        return history

    def under_alert(self, account: str, now: datetime) -> bool:
        """Whether any rule alerted on `account` within the cooldown before `now`."""
        last = self._account_alert.get(account)
        # abs(): CDRs are written at hangup, so a call that started just before the alert comes later.
        return last is not None and abs(now - last) <= self.cooldown

    def feed(self, record: CallRecord) -> list[FraudAlert]:
        """Examine one call record; return the alerts it raises (usually none)."""
        self.records_seen += 1
        call = self.classify(record)
        if not call.dest.external:
            return []  # extensions and feature codes cost nothing
        self.external_calls += 1
        history = self._history(record.account)
        now = record.start
        history.prune(now, self._keep, self._settle, self._budget)
        ctx = CallContext(call, history.concurrency_at(call))
        alerts = []
        for rule in self.rules:
            key = (record.account, rule.reason)
            last = self._last_alert.get(key)
            if last is not None and now - last < self.cooldown:
                continue  # one alert per account and reason per cooldown
            finding = rule.check(ctx, history)
            if finding is None:
                continue
            self._last_alert[key] = now
            self._account_alert[record.account] = now
            alerts.append(
                FraudAlert(
                    ts=now,
                    account=record.account,
                    reason=rule.reason,
                    severity=rule.severity,
                    message=finding.message,
                    calls=finding.evidence,
                    currency=self.settings.currency,
                )
            )
        history.add(call, ctx.concurrency)
        return alerts

    def feed_all(self, records: Iterable[CallRecord]) -> list[FraudAlert]:
        """Feed many records in order; all alerts raised."""
        out: list[FraudAlert] = []
        for record in records:
            out.extend(self.feed(record))
        return out
