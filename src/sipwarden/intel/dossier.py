"""Dossiers: everything known about one address or one number, from the aggregates.

A dossier answers who (address, network owner, sensors, first/last seen), what (user agents, tools,
methods, accounts and passwords tried), where (numbers dialled, countries, risk), how (accounts
cracked, registrations, calls answered, recordings), when (timeline, cadence, whether it came back)
and with whom (campaigns, the brute-forcer -> user links).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

from sipwarden.events import Event
from sipwarden.intel.cadence import Cadence, cadence
from sipwarden.intel.campaigns import Campaign, CrackLink, campaign_of, campaigns_of
from sipwarden.intel.numbers import normalize_dialled
from sipwarden.intel.ownership import NullOwnership, Owner, OwnershipLookup, fallback_network
from sipwarden.intel.risk import risk_of
from sipwarden.store import Store
from sipwarden.store import intel_queries as q
from sipwarden.store.filters import normalize_ip
from sipwarden.store.intel_queries import Counted

#: Events shown in a dossier's timeline (the newest); the full history is `sipwarden events --ip`.
TIMELINE_EVENTS: Final = 200
#: Events whose times feed the cadence of a source (the newest).
CADENCE_EVENTS: Final = 2000
#: Values listed per facet.
FACET_VALUES: Final = 50
#: Most active days read for the visits (ten years).
MAX_DAYS: Final = 3650
#: A gap of more than this between active days starts a new visit ("it came back").
RETURN_GAP: Final = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class NumberInfo:
    """A dialled number with what libphonenumber and the risk table say about it."""

    e164: str
    country: str | None
    number_type: str | None
    valid: bool
    risk: str
    count: int
    first: datetime | None
    last: datetime | None


@dataclass(frozen=True, slots=True)
class Visit:
    """Consecutive active days."""

    first_day: date
    last_day: date
    events: int


@dataclass(frozen=True, slots=True)
class Dossier:
    """Everything known about one address."""

    ip: str
    owner: Owner | None
    network: str | None
    first_seen: datetime | None
    last_seen: datetime | None
    events: int
    facets: dict[str, list[Counted]]
    numbers: list[NumberInfo]
    recordings: list[Event]
    timeline: list[Event]
    cadence: Cadence
    visits: list[Visit]
    campaigns: list[Campaign]
    crack_links: list[CrackLink]
    linked: list[str]

    @property
    def returning(self) -> bool:
        """Seen on separate visits (days apart)."""
        return len(self.visits) > 1

    def values(self, facet: str) -> list[Counted]:
        """The rows of one facet (empty when unknown)."""
        return self.facets.get(facet, [])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (`sipwarden report ip --json`, the API)."""
        return {
            "ip": self.ip,
            "owner": None if self.owner is None else _owner_dict(self.owner),
            "network": self.network,
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
            "events": self.events,
            "facets": {f: [_counted(r) for r in rows] for f, rows in sorted(self.facets.items())},
            "numbers": [_number_dict(n) for n in self.numbers],
            "recordings": [ev.to_dict() for ev in self.recordings],
            "timeline": [ev.to_dict() for ev in self.timeline],
            "cadence": _cadence_dict(self.cadence),
            "returning": self.returning,
            "visits": [
                {"first_day": v.first_day.isoformat(), "last_day": v.last_day.isoformat(), "events": v.events}
                for v in self.visits
            ],
            "campaigns": [c.id for c in self.campaigns],
            "crack_links": [_link_dict(lk) for lk in self.crack_links],
            "linked": self.linked,
        }


@dataclass(frozen=True, slots=True)
class Variant:
    """One dial string that reached a number."""

    raw: str
    prefix: str
    count: int
    first: datetime
    last: datetime


@dataclass(frozen=True, slots=True)
class NumberReport:
    """Everything known about one dialled number."""

    info: NumberInfo
    variants: list[Variant]
    sources: list[Counted]
    user_agents: list[Counted]
    days: list[Counted]
    cadence: Cadence

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            **_number_dict(self.info),
            "variants": [
                {"raw": v.raw, "prefix": v.prefix, "count": v.count, "first": _iso(v.first), "last": _iso(v.last)}
                for v in self.variants
            ],
            "sources": [_counted(r) for r in self.sources],
            "user_agents": [_counted(r) for r in self.user_agents],
            "days": [_counted(r) for r in self.days],
            "cadence": _cadence_dict(self.cadence),
        }


def number_info(e164: str, row: Counted | None = None) -> NumberInfo:
    """Country, type and risk of an E.164 number."""
    dialled = normalize_dialled(e164)
    return NumberInfo(
        e164=dialled.e164 or e164,
        country=dialled.country,
        number_type=dialled.number_type,
        valid=dialled.valid,
        risk=str(risk_of(e164)),
        count=row.count if row else 0,
        first=row.first if row else None,
        last=row.last if row else None,
    )


def visits(days: Sequence[Counted]) -> list[Visit]:
    """Group active days (facet "day", ISO dates) into visits separated by more than RETURN_GAP."""
    parsed = sorted((date.fromisoformat(r.key), r.count) for r in days)
    out: list[Visit] = []
    for day, n in parsed:
        if out and day - out[-1].last_day <= RETURN_GAP:
            last = out[-1]
            out[-1] = Visit(last.first_day, day, last.events + n)
        else:
            out.append(Visit(day, day, n))
    return out


def build_dossier(
    store: Store,
    ip: str,
    *,
    ownership: OwnershipLookup | None = None,
    campaigns: list[Campaign] | None = None,
) -> Dossier:
    """The dossier of `ip` (call `aggregates.refresh` first so the counters are current)."""
    ip = normalize_ip(ip)
    owner = (ownership or NullOwnership()).lookup(ip)
    facets = q.facets(store, f"ip:{ip}", per_facet=FACET_VALUES)
    days = q.facets(store, f"ip:{ip}", per_facet=MAX_DAYS, only=("day",)).get("day", [])
    total = q.total(store, "ip", ip)
    timeline = store.events(ip=ip, limit=TIMELINE_EVENTS, newest=True)
    times = q.event_times(store, ip, limit=CADENCE_EVENTS)
    recording_ids = [r.key for r in facets.get("recording", [])]
    if campaigns is None:
        found = campaign_of(store, ip)
        mine = [found] if found else []
    else:
        mine = campaigns_of(campaigns, ip)
    links = [lk for c in mine for lk in c.crack_links if ip in (lk.cracked_by, lk.used_by)]
    linked = sorted({a for c in mine for a in c.addresses} - {ip})
    return Dossier(
        ip=ip,
        owner=owner,
        network=owner.network if owner else fallback_network(ip),
        first_seen=total.first if total else None,
        last_seen=total.last if total else None,
        events=total.count if total else 0,
        facets=facets,
        numbers=[number_info(r.key, r) for r in facets.get("number", [])],
        recordings=q.events_by_ids(store, recording_ids),
        timeline=list(reversed(timeline)),
        cadence=cadence(times),
        visits=visits(days),
        campaigns=mine,
        crack_links=links,
        linked=linked,
    )


def build_number_report(store: Store, number: str) -> NumberReport | None:
    """The report of a number (any dial string is normalised first); None when never dialled."""
    dialled = normalize_dialled(number)
    e164 = dialled.e164 or number
    facets = q.facets(store, f"num:{e164}", per_facet=FACET_VALUES, only=("dial", "ip", "ua"))
    if not facets:
        return None
    facets["day"] = q.facets(store, f"num:{e164}", per_facet=MAX_DAYS, only=("day",)).get("day", [])
    dials = facets.get("dial", [])
    variants = sorted(
        (Variant(r.key, normalize_dialled(r.key).prefix, r.count, r.first, r.last) for r in dials),
        key=lambda v: v.first,
    )
    return NumberReport(
        info=number_info(e164, q.total(store, "number", e164)),
        variants=variants,
        sources=facets.get("ip", [])[:FACET_VALUES],
        user_agents=facets.get("ua", [])[:FACET_VALUES],
        days=sorted(facets.get("day", []), key=lambda r: r.key),
        cadence=cadence(v.first for v in variants),
    )


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat().replace("+00:00", "Z")


def _counted(r: Counted) -> dict[str, Any]:
    return {"value": r.key, "count": r.count, "first": _iso(r.first), "last": _iso(r.last)}


def _owner_dict(o: Owner) -> dict[str, Any]:
    return {"network": o.network, "name": o.name, "asn": o.asn, "country": o.country, "abuse_email": o.abuse_email}


def _number_dict(n: NumberInfo) -> dict[str, Any]:
    return {
        "e164": n.e164,
        "country": n.country,
        "type": n.number_type,
        "valid": n.valid,
        "risk": n.risk,
        "count": n.count,
        "first": _iso(n.first),
        "last": _iso(n.last),
    }


def _cadence_dict(c: Cadence) -> dict[str, Any]:
    return {"pace": c.pace, "events": c.events, "median_gap_s": c.median_gap, "cv": c.cv, "regular": c.regular}


def _link_dict(lk: CrackLink) -> dict[str, Any]:
    return {
        "account": lk.account,
        "cracked_by": lk.cracked_by,
        "cracked_at": _iso(lk.cracked_at),
        "used_by": lk.used_by,
        "used_at": _iso(lk.used_at),
    }
