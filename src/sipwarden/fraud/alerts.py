"""What the fraud rules produce: a classified call and an alert that groups the calls behind it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sipwarden.fraud.records import CallRecord, Destination

Severity = Literal["medium", "high", "critical"]


@dataclass(frozen=True, slots=True)
class ClassifiedCall:
    """A call record with its destination and estimated cost."""

    record: CallRecord
    dest: Destination
    cost: float  # estimated, in the configured currency


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class FraudAlert:
    """One rule fired for one account; `calls` are the calls that prove it (the last one triggered it)."""

    ts: datetime
    account: str
    reason: str  # high_risk_destination, new_country, burst, concurrency, after_hours, short_call_series, budget
    severity: Severity
    message: str
    calls: tuple[ClassifiedCall, ...]
    currency: str = "USD"

    @property
    def estimated_cost(self) -> float:
        """Estimated spend of the calls behind the alert."""
        return round(sum(c.cost for c in self.calls), 4)

    @property
    def src_ips(self) -> tuple[str, ...]:
        """Source addresses the PBX recorded for the calls, in first-seen order."""
        return tuple(dict.fromkeys(c.record.src_ip for c in self.calls if c.record.src_ip))

    def destinations(self) -> list[dict[str, Any]]:
        """Distinct destinations with country, risk and how often each was called."""
        seen: dict[str, dict[str, Any]] = {}
        for call in self.calls:
            key = call.dest.e164 or call.record.dst
            entry = seen.get(key)
            if entry is None:
                entry = seen[key] = {
                    "number": key,
                    "dialled": call.record.dst,
                    "country": call.dest.country,
                    "type": call.dest.number_type,
                    "risk": str(call.dest.risk),
                    "calls": 0,
                }
            entry["calls"] += 1
        return list(seen.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the NDJSON line of `sipwarden cdr scan --json`)."""
        starts = [c.record.start for c in self.calls]
        return {
            "ts": _iso(self.ts),
            "account": self.account,
            "reason": self.reason,
            "severity": self.severity,
            "message": self.message,
            "calls": len(self.calls),
            "destinations": self.destinations(),
            "countries": sorted({c.dest.country for c in self.calls if c.dest.country}),
            "estimated_cost": self.estimated_cost,
            "currency": self.currency,
            "src_ips": list(self.src_ips),
            "first": _iso(min(starts)),
            "last": _iso(max(starts)),
            "records": [c.record.origin or c.record.uniqueid for c in self.calls],
        }
