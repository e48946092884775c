"""FraudGuard: call records in, FraudAlerts out. Pure; time comes from the records.

Every record passes here, so the path is lean: the destination and its price are looked up once
per distinct dialled string, times are integer microseconds, per-account memory is a `__slots__`
object, and CallRecord, Destination and alert objects are only built when a rule fires.

A guard made with `defer=True` (the batch scan) goes further. When every rule a call concerns calls
it quiet (`FraudRule.quiet`, judged from the account's tally), the call is only counted in the tally
and noted in the account's ledger; the rest of the bookkeeping waits until a call of that account
needs examining, and is then done for the waiting calls in arrival order. Most accounts of a PBX
never make such a call, so most calls are never added at all; the alerts are the same either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Final

from sipwarden.fraud.alerts import ClassifiedCall, FraudAlert, Severity
from sipwarden.fraud.destination import (
    DIAL_KEY_DIGITS,
    E164_KEY_CHARS,
    MAX_CACHE_ENTRIES,
    MAX_DIALLED_DIGITS,
    MAX_DIALLED_ENTRIES,
    MIN_EXTERNAL_DIGITS,
    NATIONAL_KEY_DIGITS,
    DestinationClassifier,
    Reading,
)
from sipwarden.fraud.history import US_PER_SECOND, AccountHistory, Ledger, RecordBuilder, SeenCall, micros
from sipwarden.fraud.records import CallRecord, Destination
from sipwarden.fraud.rules import EVIDENCE_WINDOW_SECONDS, Finding, FraudRule, default_rules
from sipwarden.fraud.settings import FraudSettings
from sipwarden.intel.risk import RiskClass

#: Accounts remembered at once. A PBX has far fewer; the bound only stops a CDR file full of
#: distinct account codes from growing memory without end (least recently active are forgotten).
MAX_ACCOUNTS: Final = 100_000
#: Calls one account may have waiting in a deferring guard's ledger (about 40 bytes and the dialled
#: string each). At the bound they are added at once, which costs what adding them one by one would.
MAX_DEFERRED: Final = 20_000
#: Calls waiting in all ledgers of one guard (about 110 bytes each: 220 MB); past it, the account
#: with the most waiting is brought up to date, so a scan of any size stays in bounded memory.
MAX_DEFERRED_TOTAL: Final = 2_000_000


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
#: The `quiet` screens of those rules; None when the guard does not defer.
_Quiets = tuple[Callable[[SeenCall, AccountHistory], bool], ...] | None
#: What the guard knows of a kind of destination: how a dialled string of it becomes E.164 (digits
#: to drop, digits to put in front), country, number type, international, risk, price per minute,
#: checks, quiet screens. Every plain digit string with the same deciding digits shares one.
_Kind = tuple[int, str, str | None, str, bool, RiskClass, float, _Checks, _Quiets]
#: The kind of extensions, feature codes and junk (compared by identity).
_INTERNAL: Final[_Kind] = (0, "", None, "", False, RiskClass.LOW, 0.0, (), None)


def _reading(dialled: str, kind: _Kind) -> Reading:
    """The reading of `dialled`, a number of this kind."""
    drop, front, country, number_type, international, risk = kind[:6]
    return f"+{front}{dialled[drop:]}", country, number_type, international, risk


class FraudGuard:
    """Run every fraud rule over a stream of call records, one account history each."""

    def __init__(
        self,
        settings: FraudSettings | None = None,
        *,
        classifier: DestinationClassifier | None = None,
        rules: Sequence[FraudRule] | None = None,
        defer: bool = False,
    ) -> None:
        self.settings = settings or FraudSettings()
        s = self.settings
        self.classifier = classifier or DestinationClassifier(s.home_country, s.outside_line_prefixes)
        self.rules: tuple[FraudRule, ...] = tuple(rules if rules is not None else default_rules(s))
        #: Whether `feed_fields` defers quiet calls (its builders must then read rows again by line).
        self.defer = defer
        self._tail = max((rule.tail for rule in self.rules), default=0)
        # Kind of destination (country, international, risk) -> the checks of the rules it concerns.
        self._checks: dict[tuple[str | None, bool, RiskClass], tuple[_Checks, _Quiets]] = {}
        self.rates = RateTable(s.rates, s.default_international_rate)
        self._cooldown = s.alert_cooldown_seconds * US_PER_SECOND
        keep = max(s.burst_window_seconds, s.short_series_window_seconds, s.alert_cooldown_seconds)
        self._keep = max(keep, EVIDENCE_WINDOW_SECONDS) * US_PER_SECOND
        self._settle = s.burst_window_seconds * US_PER_SECOND
        self._budget = s.budget_window_seconds * US_PER_SECOND
        self._accounts: dict[str, AccountHistory] = {}
        self._last_alert: dict[str, dict[str, int]] = {}  # account -> reason -> latest alert (µs)
        self._account_alert: dict[str, int] = {}  # latest alert per account (µs)
        # dialled string -> _Kind. The same numbers recur all day; emptied when full (cheaper per
        # miss than LRU bookkeeping).
        self._destinations: dict[str, _Kind] = {}
        # Plain digit strings (national numbers almost never repeat whole) are read by their leading
        # digits instead: (dial key, length) -> how many digits decide the rest (-1: internal), and
        # (those digits, length) -> _Kind. Not with outside-line prefixes, which `read` strips first.
        self._by_digits = not self.classifier.outside_line_prefixes
        self._deciding: dict[tuple[str, int], int] = {}
        self._kinds: dict[tuple[str, int], _Kind] = {}
        # E.164 digits that decide the classification and the price (rates by longest prefix).
        self._e164_digits = max(E164_KEY_CHARS - 1, max(map(len, s.rates), default=0))
        self.records_seen = 0
        self.external_calls = 0
        self._waiting = 0  # calls in all ledgers
        # What the quiet screens and the tally read of a call that may be deferred: its times, cost
        # and kind of destination, never its number (`e164`) or record.
        self._probe = SeenCall(0, 0, 0, 0.0, "", ("", None, "", False, RiskClass.LOW), None)

    def _look_up(self, dialled: str) -> _Kind:
        """The kind of a dialled string that is not in the cache of dialled strings.

        Plain digit strings go through the cache of kinds: `read` turns one into E.164 by a form
        shared by its dial key, then classifies and prices it by the first E164_KEY_CHARS characters
        and the first rate-prefix digits of the E.164 number; every string that agrees with this one
        on the digits those come from reads the same but for the E.164 number, which `_reading`
        rebuilds from the string's own tail. National numbers almost never repeat whole, so they are
        not kept one by one.
        """
        n = len(dialled)
        if (
            self._by_digits
            and MIN_EXTERNAL_DIGITS <= n <= MAX_DIALLED_DIGITS
            and dialled.isascii()
            and dialled.isdigit()
        ):
            head = dialled[:DIAL_KEY_DIGITS] if dialled[0] == "0" else dialled[:NATIONAL_KEY_DIGITS]
            deciding = self._deciding.get((head, n))
            if deciding is None:
                form = self.classifier.form(dialled)
                deciding = -1 if form is None else max(len(head), form[0] + self._e164_digits - len(form[1]))
                if len(self._deciding) >= MAX_CACHE_ENTRIES:
                    self._deciding.clear()
                self._deciding[head, n] = deciding
            if deciding < 0:
                return _INTERNAL
            return self._kinds.get((dialled[:deciding], n)) or self._kind_of(dialled, deciding)
        reading = self.classifier.read(dialled)
        if reading is None:
            found = _INTERNAL
        else:
            e164, country, number_type, international, risk = reading
            price = self.rates.price(e164, international)
            found = (
                n,
                e164[1:],
                country,
                number_type,
                international,
                risk,
                price,
                *self._screens(country, international, risk),
            )
        if len(self._destinations) >= MAX_DIALLED_ENTRIES:
            self._destinations.clear()
        self._destinations[dialled] = found
        return found

    def _kind_of(self, dialled: str, deciding: int) -> _Kind:
        form = self.classifier.form(dialled)
        reading = self.classifier.read(dialled)
        assert form is not None and reading is not None, "a form makes a reading"
        e164, country, number_type, international, risk = reading
        screens = self._screens(country, international, risk)
        kind = (*form, country, number_type, international, risk, self.rates.price(e164, international), *screens)
        if len(self._kinds) >= MAX_CACHE_ENTRIES:
            self._kinds.clear()
        self._kinds[dialled[:deciding], len(dialled)] = kind
        return kind

    def _screens(self, country: str | None, international: bool, risk: RiskClass) -> tuple[_Checks, _Quiets]:
        """The checks and quiet screens of the rules that calls to this kind of destination concern."""
        screens = self._checks.get((country, international, risk))
        if screens is not None:
            return screens
        rules = [r for r in self.rules if r.concerns(country, international, risk)]
        checks = tuple((r.check, r.reason, r.severity) for r in rules)
        screens = (checks, tuple(r.quiet for r in rules) if self.defer else None)
        self._checks[country, international, risk] = screens  # bounded: countries x 2 x risk classes
        return screens

    def internal(self, dialled: str) -> bool:
        """Whether calls to `dialled` stay inside the PBX (extensions, feature codes, junk)."""
        return (self._destinations.get(dialled) or self._look_up(dialled)) is _INTERNAL

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
        dst = record.dst
        kind = self._destinations.get(dst) or self._look_up(dst)
        if kind is _INTERNAL:
            self.records_seen += 1
            return []  # extensions and feature codes cost nothing
        start = micros(record.start)
        stop = micros(record.end) if record.end is not None else start + record.duration * US_PER_SECOND
        billsec = record.billsec
        cost = billsec / 60 * kind[6] if billsec > 0 else 0.0
        call = SeenCall(start, stop, billsec, cost, dst, _reading(dst, kind), record)
        return self._examine(self._history(record.account), call, kind[7])

    def feed_fields(
        self, account: str, dst: str, start: int, stop: int, billsec: int, build: RecordBuilder, row: Sequence[str],
        line: int,
    ) -> list[FraudAlert]:  # fmt: skip
        """`feed` for a reader that has checked a record's fields but not built its CallRecord.

        `start` and `stop` are µs since the epoch; `build(row, line)` must return the CallRecord of
        exactly these fields (it runs only when an alert shows the call). A deferring guard keeps
        only the fields and the line of a quiet call, and later calls `build((), line)`.
        """
        kind = self._destinations.get(dst) or self._look_up(dst)
        if kind is _INTERNAL:
            self.records_seen += 1
            return []
        _, _, country, _, international, risk, price, checks, quiets = kind
        cost = billsec / 60 * price if billsec > 0 else 0.0
        accounts = self._accounts
        history = accounts.pop(account, None)  # _history, inlined: this runs for most records
        if history is None:
            history = self._history(account)
        else:
            accounts[account] = history
        if quiets is not None:
            spend = history.spend
            if spend and spend[0][0] < start - self._budget:
                history.prune_spend(start, self._budget)
            # The screens and the tally see the call through one reused probe: no object per call.
            probe = self._probe
            probe.start, probe.stop, probe.billsec, probe.cost = start, stop, billsec, cost
            probe.country, probe.international, probe.risk = country, international, risk
            for quiet in quiets:
                if not quiet(probe, history):
                    break
            else:
                history.note(probe)
                deferred = history.deferred
                if deferred is None:
                    deferred = history.deferred = Ledger()
                starts = deferred.starts  # one call per column: this runs for most records
                starts.append(start)
                deferred.stops.append(stop)
                deferred.billsecs.append(billsec)
                deferred.lines.append(line)
                deferred.dialled.append(dst)
                deferred.builds.append(build)
                self._waiting += 1
                if len(starts) >= MAX_DEFERRED:
                    self._catch_up(history, deferred)
                elif self._waiting > MAX_DEFERRED_TOTAL:
                    self._catch_up_most()
                self.records_seen += 1
                self.external_calls += 1
                return []
        call = SeenCall(start, stop, billsec, cost, dst, _reading(dst, kind), None, build, row, line)
        return self._examine(history, call, checks)

    def _history(self, account: str) -> AccountHistory:
        accounts = self._accounts
        history = accounts.pop(account, None)  # then re-inserted: dict order is recency order
        if history is None:
            history = AccountHistory(account, self._tail)
            if len(accounts) >= MAX_ACCOUNTS:
                forgotten = accounts.pop(next(iter(accounts)))
                if forgotten.deferred is not None:
                    self._waiting -= len(forgotten.deferred)
        accounts[account] = history
        return history

    def _catch_up_most(self) -> None:
        waiting = [(len(h.deferred), h) for h in self._accounts.values() if h.deferred is not None]
        _, history = max(waiting, key=lambda item: item[0])
        assert history.deferred is not None
        self._catch_up(history, history.deferred)

    def _catch_up(self, history: AccountHistory, deferred: Ledger) -> None:
        """Add the deferred calls, as `_examine` would have added them (they are in the tally already)."""
        history.deferred = None
        self._waiting -= len(deferred)
        keep, settle, destinations = self._keep, self._settle, self._destinations
        columns = (
            deferred.starts,
            deferred.stops,
            deferred.billsecs,
            deferred.dialled,
            deferred.builds,
            deferred.lines,
        )
        for start, stop, billsec, dst, build, line in zip(*columns, strict=True):
            kind = destinations.get(dst) or self._look_up(dst)
            assert kind is not _INTERNAL, "only external calls are deferred"
            cost = billsec / 60 * kind[6] if billsec > 0 else 0.0
            call = SeenCall(start, stop, billsec, cost, dst, _reading(dst, kind), None, build, (), line)
            history.prune(start, keep, settle)
            latest = history.latest_stop
            if latest is not None and latest > start:
                call.concurrency = history.concurrency_at(call)
            history.add(call)

    def _examine(self, history: AccountHistory, call: SeenCall, checks: _Checks) -> list[FraudAlert]:
        self.records_seen += 1
        self.external_calls += 1
        account = history.account
        now = call.start
        history.prune_spend(now, self._budget)
        if history.deferred is not None:
            self._catch_up(history, history.deferred)
        history.prune(now, self._keep, self._settle)
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
        history.note(call)
        history.add(call)
        return alerts

    def feed_all(self, records: Iterable[CallRecord]) -> list[FraudAlert]:
        """Feed many records in order; all alerts raised."""
        out: list[FraudAlert] = []
        for record in records:
            out.extend(self.feed(record))
        return out
