"""The shortcuts of the scan against the plain way, on random CDR streams.

The guard asks only the rules a destination concerns (`FraudRule.concerns`), and the fast CSV path
reads fields without building CallRecords. The reference reads every record with the full parser
(`read_cdr_file`) and asks every rule about every call; both must give the very same alerts on
streams with bursts, overlapping calls, out-of-order hangups, night calls, premium numbers
(foreign and national), foreign countries and budgets crossed.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

import pytest
from cdrgen import PREMIUM, GenCall, national_number, write_asterisk_csv

from sipwarden.fraud.alerts import FraudAlert
from sipwarden.fraud.guard import FraudGuard
from sipwarden.fraud.history import AccountHistory, SeenCall
from sipwarden.fraud.records import CallRecord
from sipwarden.fraud.rules import Finding, FraudRule, default_rules
from sipwarden.fraud.settings import FraudSettings
from sipwarden.intel.risk import RiskClass
from sipwarden.sensors.cdr import fastcsv, readers
from sipwarden.sensors.cdr.scan import BadRecord, read_cdr_file, scan_cdr_files

#: Low thresholds, so that every rule fires, and fires again after its cooldown.
SETTINGS = FraudSettings(
    burst_min_calls=6,
    concurrency_min=3,
    budget=15.0,
    new_country_min_history=5,
    short_series_calls=3,
    alert_cooldown_seconds=900,
)


class Unscreened:
    """A rule asked about every call, whatever the destination: the plain behaviour."""

    def __init__(self, rule: FraudRule) -> None:
        self.rule = rule
        self.reason = rule.reason
        self.severity = rule.severity
        self.tail = 0

    def concerns(self, country: str | None, international: bool, risk: RiskClass) -> bool:
        return True

    def quiet(self, call: SeenCall, history: AccountHistory) -> bool:
        return False

    def check(self, call: SeenCall, history: AccountHistory) -> Finding | None:
        return self.rule.check(call, history)


def destination(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.55:
        return national_number(rng)
    if kind < 0.65:
        return str(1001 + rng.randrange(5))  # internal
    if kind < 0.75:
        return f"01144113496{rng.randrange(10_000):04d}"  # GB, low risk
    if kind < 0.82:
        return f"0114930{rng.randrange(10**7):07d}"  # DE
    if kind < 0.88:
        return f"1900{rng.randrange(200, 1000)}{rng.randrange(10_000):04d}"  # national premium rate: high risk
    return rng.choice(PREMIUM) + "".join(str(rng.randrange(10)) for _ in range(6))


def random_calls(seed: int) -> list[GenCall]:
    """Office days, nights and weekends; now and then a burst of overlapping calls from one account."""
    rng = random.Random(seed)
    t = datetime(2026, 11, 20, 6, 0)  # a Friday
    calls = []
    for i in range(900):
        t += timedelta(seconds=rng.choice([0, 1, 5, 20, 60, 300, 900, 3600, 4 * 3600]))
        account = str(1001 + rng.randrange(5))
        burst = rng.random() < 0.02
        for k in range(rng.randint(6, 14) if burst else 1):
            start = t + timedelta(seconds=k * rng.choice([1, 10, 30]) - rng.choice([0, 0, 0, 5, 120, 1800]))
            billsec = rng.choice([0, 3, 8, 60, 600, 2400])
            dst = destination(rng)
            calls.append(GenCall(start, account, dst, billsec, rng.randint(0, 10), f"10.0.0.{rng.randrange(9)}",
                                 f"{i}.{k}"))  # fmt: skip
    return calls


def reference(path: Path) -> list[FraudAlert]:
    guard = FraudGuard(SETTINGS, rules=[Unscreened(rule) for rule in default_rules(SETTINGS)])
    alerts: list[FraudAlert] = []
    for record in read_cdr_file(path, "asterisk-csv", UTC):
        assert not isinstance(record, BadRecord)
        alerts += guard.feed(record)
    return alerts


@pytest.mark.parametrize("seed", range(4))
def test_screened_rules_and_the_fast_path_give_the_plain_alerts(tmp_path: Path, seed: int) -> None:
    path = write_asterisk_csv(tmp_path / "Master.csv", random_calls(seed))
    expected = reference(path)
    assert len({a.reason for a in expected}) >= 5  # the stream exercises most rules
    for workers in (1, 2):
        assert list(scan_cdr_files([path], "asterisk-csv", UTC, SETTINGS, workers=workers)) == expected
    screened = FraudGuard(SETTINGS)
    fed = [
        a for r in read_cdr_file(path, "asterisk-csv", UTC) if not isinstance(r, BadRecord) for a in screened.feed(r)
    ]
    assert fed == expected


def test_every_reason_fires_across_the_streams(tmp_path: Path) -> None:
    reasons: set[str] = set()
    for seed in range(4):
        path = write_asterisk_csv(tmp_path / f"{seed}.csv", random_calls(seed))
        reasons |= {a.reason for a in reference(path)}
    assert reasons == {rule.reason for rule in default_rules(SETTINGS)}


def test_ordinary_rows_never_reach_the_full_parser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = [c for c in random_calls(0) if c.start.hour >= 8][:300]
    path = write_asterisk_csv(tmp_path / "Master.csv", calls)
    parsed: list[Sequence[str]] = []
    full_parser = readers.row_parser

    def counting_parser(columns: Sequence[str], zone: tzinfo) -> Callable[[Sequence[str], str], CallRecord]:
        parse = full_parser(columns, zone)

        def counted(row: Sequence[str], origin: str) -> CallRecord:
            parsed.append(row)
            return parse(row, origin)

        return counted

    monkeypatch.setattr(fastcsv, "row_parser", counting_parser)
    quiet = FraudSettings(
        budget=1e9, risk_alert_min="high", business_hours="00:00-24:00", business_days=[1, 2, 3, 4, 5, 6, 7]
    )
    alerts = list(scan_cdr_files([path], "asterisk-csv", UTC, quiet))
    shown = sum(len(a.calls) for a in alerts if isinstance(a, FraudAlert))
    assert len(parsed) <= shown  # only the calls an alert shows are rebuilt
    assert len(parsed) < len(calls) // 2
