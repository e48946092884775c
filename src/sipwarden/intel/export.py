"""Exports of what sipwarden learned: CSV, JSON, STIX 2.1 (the `stix2` library) and MISP event JSON.

Indicators are the attacking addresses, the numbers they dialled and the User-Agents they used,
read from the aggregates with their counts and first/last times. Formats are plugins of one small
Protocol-free shape: a function from indicators to text, listed in `EXPORTERS`.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

import stix2

from sipwarden.store import Store
from sipwarden.store import intel_queries as q

IndicatorType = Literal["ip", "number", "user_agent"]
ExportFormat = Literal["csv", "json", "stix", "misp"]
#: Default bound on each kind of indicator: a feed, not a dump of every address that sent one OPTIONS.
DEFAULT_EXPORT_LIMIT: Final = 10_000
#: UUID namespace of sipwarden's deterministic STIX ids and MISP uuids (same input, same id).
NAMESPACE: Final = uuid.UUID("6f1f4a8e-52c1-4b57-9a43-3b6a2a8e5a01")


@dataclass(frozen=True, slots=True)
class Indicator:
    """One exported observable."""

    type: IndicatorType
    value: str
    count: int
    first: datetime
    last: datetime


def collect(store: Store, *, since: datetime | None = None, limit: int = DEFAULT_EXPORT_LIMIT) -> list[Indicator]:
    """Addresses, numbers and User-Agents from the aggregates (last seen since `since`)."""
    out: list[Indicator] = []
    for dim, kind in (("ip", "ip"), ("number", "number"), ("ua", "user_agent")):
        for row in q.totals_since(store, dim, since, limit=limit):
            out.append(Indicator(kind, row.key, row.count, row.first, row.last))  # type: ignore[arg-type]
    return out


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def to_csv(indicators: Sequence[Indicator], now: datetime) -> str:
    """`type,value,count,first_seen,last_seen` rows; cells a spreadsheet would run are quoted text."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["type", "value", "count", "first_seen", "last_seen"])
    for ind in indicators:
        value = ind.value
        # CSV injection: a User-Agent "=HYPERLINK(...)" must stay text in a spreadsheet (OWASP).
        if value[:1] in ("=", "@", "-", "\t", "\r") or (value[:1] == "+" and ind.type != "number"):
            value = "'" + value
        writer.writerow([ind.type, value, ind.count, _iso(ind.first), _iso(ind.last)])
    return buf.getvalue()


def to_json(indicators: Sequence[Indicator], now: datetime) -> str:
    """`{"generated": ..., "indicators": [...]}`."""
    return json.dumps(
        {
            "generated": _iso(now),
            "indicators": [
                {
                    "type": i.type,
                    "value": i.value,
                    "count": i.count,
                    "first_seen": _iso(i.first),
                    "last_seen": _iso(i.last),
                }
                for i in indicators
            ],
        },
        indent=1,
    )


def _stix_quote(value: str) -> str:
    # STIX patterning string literal: backslash and quote escaped (STIX 2.1 part 5, 9.1).
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _stix_pattern(ind: Indicator) -> str | None:
    if ind.type == "ip":
        try:
            version = ipaddress.ip_address(ind.value).version
        except ValueError:
            return None
        return f"[ipv{version}-addr:value = '{ind.value}']"
    if ind.type == "user_agent":
        return (
            f"[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = '{_stix_quote(ind.value)}']"
        )
    return None


def to_stix(indicators: Sequence[Indicator], now: datetime) -> str:
    """A STIX 2.1 bundle: an Identity for sipwarden, an Indicator per address and User-Agent, and a
    Note per dialled number (STIX has no phone-number observable)."""
    identity = stix2.Identity(
        id=f"identity--{uuid.uuid5(NAMESPACE, 'sipwarden')}",
        name="sipwarden",
        identity_class="system",
        created=now,
        modified=now,
    )
    objects: list[object] = [identity]
    for ind in indicators:
        sid = uuid.uuid5(NAMESPACE, f"{ind.type}:{ind.value}")
        pattern = _stix_pattern(ind)
        description = f"seen {ind.count} times from {_iso(ind.first)} to {_iso(ind.last)} by sipwarden"
        if pattern is not None:
            objects.append(
                stix2.Indicator(
                    id=f"indicator--{sid}",
                    created_by_ref=identity.id,
                    created=now,
                    modified=now,
                    name=f"SIP attack {ind.type.replace('_', '-')}: {ind.value}"[:256],
                    description=description,
                    indicator_types=["malicious-activity"],
                    pattern=pattern,
                    pattern_type="stix",
                    valid_from=ind.first,
                )
            )
        elif ind.type == "number":
            objects.append(
                stix2.Note(
                    id=f"note--{sid}",
                    created_by_ref=identity.id,
                    created=now,
                    modified=now,
                    abstract=f"Toll-fraud destination {ind.value}",
                    content=f"Number {ind.value} dialled by attackers: {description}.",
                    object_refs=[identity.id],
                )
            )
    bundle = stix2.Bundle(objects=objects, allow_custom=False)
    return str(bundle.serialize(pretty=True))


_MISP_TYPES: Final[dict[str, tuple[str, str, bool]]] = {
    # indicator type -> (MISP attribute type, category, to_ids)
    "ip": ("ip-src", "Network activity", True),
    "number": ("phone-number", "Financial fraud", True),
    "user_agent": ("user-agent", "Network activity", False),  # shared by honest phones: not for IDS
}


def to_misp(indicators: Sequence[Indicator], now: datetime) -> str:
    """A MISP event (core format JSON) with ip-src, phone-number and user-agent attributes."""
    attributes = []
    for ind in indicators:
        kind, category, to_ids = _MISP_TYPES[ind.type]
        attributes.append(
            {
                "uuid": str(uuid.uuid5(NAMESPACE, f"misp:{ind.type}:{ind.value}")),
                "type": kind,
                "category": category,
                "value": ind.value,
                "to_ids": to_ids,
                "comment": f"seen {ind.count} times",
                "first_seen": _iso(ind.first),
                "last_seen": _iso(ind.last),
                "timestamp": str(int(ind.last.timestamp())),
            }
        )
    event = {
        "Event": {
            "uuid": str(uuid.uuid5(NAMESPACE, f"misp-event:{_iso(now)}")),
            "info": "sipwarden: SIP attack sources, toll-fraud numbers and user agents",
            "date": now.date().isoformat(),
            "timestamp": str(int(now.timestamp())),
            "threat_level_id": "2",
            "analysis": "2",
            "distribution": "0",
            "published": False,
            "Attribute": attributes,
            "Tag": [{"name": "tlp:amber"}],
        }
    }
    return json.dumps(event, indent=1)


EXPORTERS: Final[dict[str, Callable[[Sequence[Indicator], datetime], str]]] = {
    "csv": to_csv,
    "json": to_json,
    "stix": to_stix,
    "misp": to_misp,
}


def export(
    store: Store, fmt: ExportFormat, now: datetime, *, since: datetime | None = None, limit: int = DEFAULT_EXPORT_LIMIT
) -> str:
    """Everything `collect` finds, in `fmt`."""
    return EXPORTERS[fmt](collect(store, since=since, limit=limit), now)
