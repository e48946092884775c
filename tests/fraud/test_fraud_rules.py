"""The toll-fraud rules: quiet on an office day, loud on a night of premium calls, each rule alone."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cdr"))
from cdrgen import office_day, premium_burst

from sipwarden.fraud.alerts import FraudAlert
from sipwarden.fraud.guard import FraudGuard
from sipwarden.fraud.records import CallRecord
from sipwarden.fraud.settings import FraudSettings

WEDNESDAY = datetime(2026, 11, 25, tzinfo=UTC)


def rec(start: datetime, dst: str, billsec: int = 60, account: str = "1001", ip: str | None = None) -> CallRecord:
    return CallRecord(
        start=start,
        account=account,
        dst=dst,
        end=start + timedelta(seconds=billsec + 5),
        duration=billsec + 5,
        billsec=billsec,
        disposition="ANSWERED" if billsec else "NO ANSWER",
        src_ip=ip,
        uniqueid=f"{start.timestamp()}-{dst}",
    )


def as_records(calls: list) -> list[CallRecord]:  # type: ignore[type-arg]
    return [rec(c.start.replace(tzinfo=UTC), c.dst, c.billsec, c.account, c.src_ip) for c in calls]


def reasons(alerts: list[FraudAlert]) -> set[str]:
    return {a.reason for a in alerts}


def test_office_day_raises_nothing() -> None:
    guard = FraudGuard(FraudSettings())
    calls = office_day(WEDNESDAY.replace(tzinfo=None), accounts=12)
    assert len(calls) > 200
    assert guard.feed_all(as_records(calls)) == []
    assert guard.external_calls > 150


def test_night_burst_of_premium_calls_alerts_on_the_first_calls() -> None:
    guard = FraudGuard(FraudSettings())
    day = office_day(WEDNESDAY.replace(tzinfo=None))
    attack = premium_burst(datetime(2026, 11, 26, 3, 0), account="1004", calls=40)
    assert guard.feed_all(as_records(day)) == []
    alerts: list[tuple[int, FraudAlert]] = []
    for i, record in enumerate(as_records(attack)):
        alerts.extend((i, a) for a in guard.feed(record))
    first_index = min(i for i, _ in alerts)
    assert first_index <= 2, "the attack must be caught within the first few calls"
    by_reason = {a.reason: (i, a) for i, a in reversed(alerts)}
    assert {"high_risk_destination", "after_hours"} <= set(by_reason)
    _, high = by_reason["high_risk_destination"]
    assert high.account == "1004" and high.severity == "critical"
    assert high.calls[-1].dest.country == "SL"
    # Later alerts carry the destinations seen so far, with their countries.
    countries = {d["country"] for _, a in alerts for d in a.destinations()}
    assert {"SL", "LV", "GW"} <= countries
    # One alert per reason per cooldown, not one per call.
    assert len([a for _, a in alerts if a.reason == "high_risk_destination"]) == 1
    assert all(a.account == "1004" for _, a in alerts)


def test_new_country_after_a_settled_history() -> None:
    guard = FraudGuard(FraudSettings(new_country_min_history=10))
    t = WEDNESDAY.replace(hour=9)
    national = [rec(t + timedelta(minutes=10 * i), "2125550100") for i in range(12)]
    assert guard.feed_all(national) == []
    alerts = guard.feed(rec(t + timedelta(hours=3), "011441134960000"))  # London, low risk
    assert reasons(alerts) == {"new_country"}
    assert "GB" in alerts[0].message
    assert guard.feed(rec(t + timedelta(hours=4), "011441134960001")) == []  # GB is known now


def test_new_country_needs_history() -> None:
    guard = FraudGuard(FraudSettings(new_country_min_history=10))
    assert guard.feed(rec(WEDNESDAY.replace(hour=9), "011441134960000")) == []


def test_burst_far_above_the_usual_rate() -> None:
    guard = FraudGuard(FraudSettings())
    t = WEDNESDAY.replace(hour=10)
    calls = [rec(t + timedelta(seconds=15 * i), f"21255501{i:02d}", billsec=10) for i in range(25)]
    alerts = guard.feed_all(calls)
    assert reasons(alerts) == {"burst"}
    assert len(alerts[0].calls) == 20


def test_a_busy_account_is_not_a_burst_at_its_usual_pace() -> None:
    guard = FraudGuard(FraudSettings())
    t = WEDNESDAY.replace(hour=7)
    # 30 calls an hour, every hour of the day: busy, but steady.
    calls = [rec(t + timedelta(minutes=2 * i), f"2125550{i % 1000:03d}", billsec=30) for i in range(12 * 30)]
    assert guard.feed_all(calls) == []


def test_concurrency_far_above_the_usual_peak() -> None:
    guard = FraudGuard(FraudSettings())
    t = WEDNESDAY.replace(hour=10)
    calls = [rec(t + timedelta(seconds=i), f"21255501{i:02d}", billsec=600) for i in range(8)]
    alerts = guard.feed_all(calls)
    assert reasons(alerts) == {"concurrency"}
    assert "6 simultaneous" in alerts[0].message


def test_back_to_back_calls_are_not_concurrent() -> None:
    guard = FraudGuard(FraudSettings())
    t = WEDNESDAY.replace(hour=10)
    calls = [rec(t + timedelta(seconds=65 * i), "2125550100", billsec=60) for i in range(10)]
    assert guard.feed_all(calls) == []


@pytest.mark.parametrize(("scope", "dst", "alerts"), [
    ("international", "011441134960000", {"after_hours"}),
    ("international", "2125550100", set()),
    ("all", "2125550100", {"after_hours"}),
])  # fmt: skip
def test_after_hours(scope: str, dst: str, alerts: set[str]) -> None:
    settings = FraudSettings(after_hours_scope=scope, timezone="America/New_York", business_hours="08:00-18:00")
    guard = FraudGuard(settings)
    # 23:30 UTC is 18:30 in New York: after hours there.
    assert reasons(guard.feed(rec(WEDNESDAY.replace(hour=23, minute=30), dst))) == alerts
    # 14:00 UTC is 09:00 in New York.
    assert guard.feed(rec(WEDNESDAY.replace(hour=14), "011441134960001", account="1002")) == []


def test_weekend_is_after_hours() -> None:
    guard = FraudGuard(FraudSettings())
    saturday = datetime(2026, 11, 28, 11, tzinfo=UTC)
    assert reasons(guard.feed(rec(saturday, "011441134960000"))) == {"after_hours"}


def test_short_international_calls_before_the_pump() -> None:
    guard = FraudGuard(FraudSettings())
    t = WEDNESDAY.replace(hour=10)
    calls = [rec(t + timedelta(minutes=2 * i), f"01144113496000{i}", billsec=3) for i in range(4)]
    alerts = guard.feed_all(calls)
    assert reasons(alerts) == {"short_call_series"}
    assert len(alerts[0].calls) == 4


def test_budget_from_the_rate_table() -> None:
    settings = FraudSettings(rates={"44": 1.0, "1": 0.01}, budget=50.0)
    guard = FraudGuard(settings)
    t = WEDNESDAY.replace(hour=9)
    alerts = [a for i in range(6) for a in guard.feed(rec(t + timedelta(minutes=10 * i), "011441134960000", 1200))]
    budget = [a for a in alerts if a.reason == "budget"]
    assert len(budget) == 1
    assert budget[0].estimated_cost == pytest.approx(60.0)  # the third 20-minute call crosses 50
    assert budget[0].to_dict()["currency"] == "USD"


def test_national_calls_cost_from_rates_stay_under_budget() -> None:
    guard = FraudGuard(FraudSettings(budget=5.0))
    t = WEDNESDAY.replace(hour=9)
    assert guard.feed_all([rec(t + timedelta(minutes=20 * i), "2125550100", 600) for i in range(20)]) == []


def test_internal_calls_are_ignored() -> None:
    guard = FraudGuard(FraudSettings(after_hours_scope="all"))
    assert guard.feed(rec(WEDNESDAY.replace(hour=2), "1002")) == []
    assert guard.external_calls == 0


def test_alert_dict_names_destinations_calls_cost_and_times() -> None:
    guard = FraudGuard(FraudSettings(rates={"232": 2.0}))
    t = datetime(2026, 11, 26, 3, tzinfo=UTC)
    guard.feed(rec(t, "01123276123456", 120, ip="203.0.113.9"))
    alerts = guard.feed(rec(t + timedelta(minutes=1), "01123276123457", 60, ip="203.0.113.10"))
    assert alerts == []  # cooled down
    guard2 = FraudGuard(FraudSettings(rates={"232": 2.0}, alert_cooldown_seconds=30))
    guard2.feed(rec(t, "01123276123456", 120, ip="203.0.113.9"))
    alert = next(a for a in guard2.feed(rec(t + timedelta(minutes=1), "01123276123457", 60, ip="203.0.113.10"))
                 if a.reason == "high_risk_destination")  # fmt: skip
    d = alert.to_dict()
    assert d["account"] == "1001" and d["calls"] == 2
    assert d["estimated_cost"] == pytest.approx(6.0)
    assert d["countries"] == ["SL"]
    assert [x["number"] for x in d["destinations"]] == ["+23276123456", "+23276123457"]
    assert d["first"] == "2026-11-26T03:00:00Z" and d["last"] == "2026-11-26T03:01:00Z"
    assert d["src_ips"] == ["203.0.113.9", "203.0.113.10"]
