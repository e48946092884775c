"""Turn FraudAlerts into the shared vocabulary: `fraud_call` Events and ip-scope ban Decisions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from sipwarden.events import Decision, Event
from sipwarden.fraud.alerts import ClassifiedCall, FraudAlert

SCENARIO = "toll_fraud"


def call_event(call: ClassifiedCall, reason: str, sensor: str = "") -> Event:
    """The `fraud_call` Event of one call behind an alert."""
    r = call.record
    return Event(
        ts=r.start,
        kind="fraud_call",
        source="cdr",
        sensor=sensor,
        src_ip=r.src_ip,
        username=r.account,
        target=r.dst,
        target_e164=call.dest.e164,
        target_country=call.dest.country,
        call_id=r.uniqueid or None,
        raw=r.origin or None,
        detail={
            "reason": reason,
            "risk": str(call.dest.risk),
            "number_type": call.dest.number_type,
            "billsec": r.billsec,
            "estimated_cost": round(call.cost, 4),
            "channel": r.channel,
        },
    )


def alert_events(alert: FraudAlert, sensor: str = "", *, skip: Iterable[str] = ()) -> list[Event]:
    """One `fraud_call` Event per call of the alert, except records whose key is in `skip`."""
    done = set(skip)
    return [call_event(c, alert.reason, sensor) for c in alert.calls if record_key(c) not in done]


def record_key(call: ClassifiedCall) -> str:
    """A stable key of a call record (uniqueid, else file:line, else start+account+dst)."""
    r = call.record
    return r.uniqueid or r.origin or f"{r.start.isoformat()}|{r.account}|{r.dst}"


def alert_decisions(alert: FraudAlert, events: Iterable[Event], ban_seconds: int) -> list[Decision]:
    """A ban Decision (scope ip) for every source address the PBX recorded for the alert's calls."""
    by_ip: dict[str, list[str]] = {}
    for event in events:
        if event.src_ip:
            by_ip.setdefault(event.src_ip, []).append(event.id)
    until = alert.ts + timedelta(seconds=ban_seconds) if ban_seconds else None
    decisions = []
    for ip in alert.src_ips:
        try:
            decisions.append(
                Decision(
                    ts=alert.ts,
                    scope="ip",
                    value=ip,
                    action="ban",
                    scenario=SCENARIO,
                    reason=f"{alert.reason}: account {alert.account}: {alert.message}",
                    until=until,
                    event_ids=tuple(by_ip.get(ip, ())),
                )
            )
        except ValueError:
            continue  # not an address (a host name in a CDR column); never resolved for a ban
    return decisions
