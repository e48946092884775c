"""Alerts become fraud_call Events and ip-scope ban Decisions that point at them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sipwarden.fraud.guard import FraudGuard
from sipwarden.fraud.records import CallRecord
from sipwarden.fraud.respond import SCENARIO, alert_decisions, alert_events, record_key
from sipwarden.fraud.settings import FraudSettings

T = datetime(2026, 11, 26, 3, tzinfo=UTC)


def call(i: int, ip: str | None) -> CallRecord:
    return CallRecord(start=T + timedelta(seconds=i), account="1004", dst=f"0112327612345{i}", billsec=30,
                      src_ip=ip, uniqueid=f"u{i}")  # fmt: skip


def test_events_and_decisions_of_an_alert() -> None:
    guard = FraudGuard(FraudSettings(alert_cooldown_seconds=1))
    guard.feed(call(0, "203.0.113.5"))
    guard.feed(call(1, "not-an-address.example"))
    alert = next(a for a in guard.feed(call(2, "2001:db8::7")) if a.reason == "high_risk_destination")
    events = alert_events(alert, "pbx1")
    assert [e.kind for e in events] == ["fraud_call"] * 3
    assert events[0].source == "cdr" and events[0].sensor == "pbx1" and events[0].username == "1004"
    assert events[0].target_country == "SL" and events[0].target_e164 == "+23276123450"
    assert events[0].detail["reason"] == "high_risk_destination"
    decisions = alert_decisions(alert, events, ban_seconds=3600)
    # A host name is never resolved for a ban: only the two addresses become decisions.
    assert [d.value for d in decisions] == ["203.0.113.5", "2001:db8::7"]
    assert all(d.scope == "ip" and d.action == "ban" and d.scenario == SCENARIO for d in decisions)
    assert decisions[0].until == alert.ts + timedelta(hours=1)
    assert decisions[0].event_ids == (events[0].id,)
    # Events already emitted are skipped by key.
    assert len(alert_events(alert, skip=[record_key(alert.calls[0])])) == 2
    assert alert_decisions(alert, events, ban_seconds=0)[0].until is None
