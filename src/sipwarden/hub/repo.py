"""The hub's queries: keys, evidence and listings, the change log, numbers and web reports.

Every method is one transaction on the shared Store engine, so any number of hub processes can
serve one database. On PostgreSQL each change also sends `NOTIFY sipwarden_hub` (delivered at
commit) so that the other processes' event streams wake at once.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection, Row, and_, func, insert, select, text, update

from sipwarden.events import Event, new_id
from sipwarden.hub.policy import Evidence, NeverList, expiry, judge, parse_address
from sipwarden.hub.settings import HubSettings
from sipwarden.store import Store
from sipwarden.store.hub_tables import hub_changes, hub_evidence, hub_keys, hub_listings, hub_numbers, hub_reports

#: PostgreSQL channel on which every change is announced (payload: the change's seq).
NOTIFY_CHANNEL: Final = "sipwarden_hub"
#: The store kv key holding the newest change `prune_changes` forgot.
PRUNED_THROUGH_KEY: Final = "hub.changes_pruned_through"
ROLES: Final = ("sensor", "reader", "admin")
#: Bytes of randomness in a key: 256 bits, far beyond guessing, which is why a plain SHA-256 is
#: enough to store it (a slow password hash protects low-entropy human secrets, not random tokens,
#: and would cost milliseconds on every request).
KEY_BYTES: Final = 32
KEY_PREFIX: Final = "sw_"
#: Columns of `HubRepo.listed_records`, in order.
LISTING_RECORD: Final = (
    "ip",
    "seq",
    "decision_id",
    "score",
    "reporters",
    "events",
    "first_seen",
    "last_evidence",
    "expires_at",
    "reason",
    "delisted_reason",
)
#: Longest reason or evidence text kept.
MAX_REASON_CHARS: Final = 500
MAX_EVIDENCE_CHARS: Final = 20_000


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A hub key as stored (never the key itself)."""

    id: str
    name: str
    role: str
    trusted: bool
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class Listing:
    """One address the hub knows, listed or not."""

    ip: str
    listed: bool
    decision_id: str
    score: float
    reporters: int
    events: int
    reason: str
    first_seen: datetime
    last_evidence: datetime
    expires_at: datetime
    seq: int
    delisted_at: datetime | None
    delisted_reason: str | None


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of the change log: an address added to or removed from the list."""

    seq: int
    ip: str
    op: str  # add, del
    ts: datetime


@dataclass(frozen=True, slots=True)
class NumberSeen:
    """A number dialled at honeypots."""

    number: str
    country: str | None
    count: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class Report:
    """A person's report from the web form."""

    id: str
    ip: str
    evidence: str
    contact: str
    created_at: datetime
    status: str
    decided_at: datetime | None
    decided_reason: str | None


def hash_key(key: str) -> str:
    """SHA-256 hex of a key (see KEY_BYTES for why no slow hash)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _listing(row: Row[Any]) -> Listing:
    m = row._mapping
    return Listing(**{k: m[k] for k in Listing.__slots__})


class HubRepo:
    """Hub state in the Store's database."""

    def __init__(self, store: Store, settings: HubSettings) -> None:
        """Queries over `store` with the policy from `settings`."""
        self.store = store
        self.settings = settings
        self.never = NeverList(settings.allowlist)
        self.pg = store.dialect == "postgresql"

    # -- keys -----------------------------------------------------------------------------------------

    def create_key(self, name: str, role: str, *, trusted: bool, now: datetime) -> tuple[str, ApiKey]:
        """A new random key (returned once, stored hashed) and its record."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if not name.strip() or len(name) > 100:
            raise ValueError("a key needs a name of 1..100 characters")
        key = KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)
        record = ApiKey(id=new_id(), name=name.strip(), role=role, trusted=trusted, created_at=now, revoked_at=None)
        row = {
            "id": record.id,
            "name": record.name,
            "role": role,
            "trusted": trusted,
            "key_hash": hash_key(key),
            "created_at": now,
        }
        with self.store._write() as conn:
            conn.execute(insert(hub_keys), row)
        return key, record

    def keys(self) -> list[ApiKey]:
        """Every key, oldest first."""
        cols = [hub_keys.c[n] for n in ApiKey.__slots__]
        with self.store.engine.connect() as conn:
            return [ApiKey(*r) for r in conn.execute(select(*cols).order_by(hub_keys.c.id))]

    def revoke_key(self, id_or_name: str, now: datetime) -> int:
        """Revoke the key with this id or name; how many were revoked."""
        c = hub_keys.c
        query = (
            update(hub_keys)
            .where((c.id == id_or_name) | (c.name == id_or_name), c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        with self.store._write() as conn:
            return int(conn.execute(query).rowcount)

    def key_for(self, key: str) -> ApiKey | None:
        """The live key record for a presented key, or None."""
        cols = [hub_keys.c[n] for n in ApiKey.__slots__]
        query = select(*cols).where(hub_keys.c.key_hash == hash_key(key), hub_keys.c.revoked_at.is_(None))
        with self.store.engine.connect() as conn:
            row = conn.execute(query).first()
        return ApiKey(*row) if row else None

    def live_key_hashes(self) -> list[str]:
        """SHA-256 hashes of every key not revoked (a small table, read whole)."""
        query = select(hub_keys.c.key_hash).where(hub_keys.c.revoked_at.is_(None))
        with self.store.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    # -- evidence and listings ------------------------------------------------------------------------

    def add_evidence(self, reporter_id: str, evidence: Iterable[Evidence], now: datetime) -> list[str]:
        """Record evidence from one reporter and apply the policy; the addresses newly listed."""
        added: list[str] = []
        with self.store._write() as conn:
            for ev in evidence:
                ip = parse_address(ev.ip)
                if self.never.protects(ip):
                    continue
                if self._record(conn, reporter_id, ev, str(ip), now):
                    added.append(str(ip))
        return added

    def _record(self, conn: Connection, reporter_id: str, ev: Evidence, ip: str, now: datetime) -> bool:
        e = hub_evidence.c
        reason = ev.reason[:MAX_REASON_CHARS]
        if self.pg:
            # Two hub processes recording the first evidence about one address at once would both
            # INSERT it; a per-address transaction lock makes the second wait and then UPDATE.
            # (SQLite needs none: BEGIN IMMEDIATE already lets one writer in at a time.)
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:ip))"), {"ip": ip})
        found = conn.execute(select(e.count, e.first_ts).where(e.ip == ip, e.key_id == reporter_id)).first()
        if found is None:
            conn.execute(
                insert(hub_evidence),
                {
                    "ip": ip,
                    "key_id": reporter_id,
                    "weight": ev.weight,
                    "trusted": ev.trusted,
                    "count": ev.count,
                    "first_ts": now,
                    "last_ts": now,
                    "reason": reason,
                },
            )
        else:
            conn.execute(
                update(hub_evidence)
                .where(e.ip == ip, e.key_id == reporter_id)
                .values(
                    weight=func.max(e.weight, ev.weight) if not self.pg else func.greatest(e.weight, ev.weight),
                    trusted=e.trusted | ev.trusted,
                    count=e.count + ev.count,
                    last_ts=now,
                    reason=reason,
                )
            )
        # Only evidence younger than a listing period counts: old reports do not add up forever.
        fresh = now - timedelta(days=self.settings.listing_days)
        weights = conn.execute(select(e.weight, e.trusted).where(e.ip == ip, e.last_ts > fresh)).all()
        verdict = judge(((float(w), bool(t)) for w, t in weights), threshold=self.settings.reporters_to_list)
        current = conn.execute(select(hub_listings).where(hub_listings.c.ip == ip)).first()
        values: dict[str, Any] = {
            "score": verdict.score,
            "reporters": verdict.reporters,
            "last_evidence": now,
            "expires_at": expiry(now, self.settings.listing_days),
        }
        newly = verdict.listed and (current is None or not current.listed)
        if newly:
            values.update(listed=True, decision_id=new_id(), reason=reason, delisted_at=None, delisted_reason=None)
            values["seq"] = self._change(conn, ip, "add", now)
        if current is None:
            values.setdefault("listed", False)
            values.setdefault("decision_id", new_id())
            values.setdefault("seq", 0)
            values.update(ip=ip, events=ev.count, reason=reason, first_seen=now)
            conn.execute(insert(hub_listings), values)
        else:
            values["events"] = hub_listings.c.events + ev.count
            conn.execute(update(hub_listings).where(hub_listings.c.ip == ip).values(**values))
        return newly

    def _change(self, conn: Connection, ip: str, op: str, now: datetime) -> int:
        seq = conn.execute(insert(hub_changes).returning(hub_changes.c.seq), {"ip": ip, "op": op, "ts": now})
        value = int(seq.scalar_one())
        if self.pg:
            conn.execute(
                text("SELECT pg_notify(:channel, :payload)"), {"channel": NOTIFY_CHANNEL, "payload": str(value)}
            )
        return value

    def delist(self, ip: str, reason: str, now: datetime) -> bool:
        """Take a listed address off the list, keeping the reason; its evidence so far is forgotten
        (an admin said it was wrong), so only new evidence can list it again."""
        addr = str(parse_address(ip))
        with self.store._write() as conn:
            listed = conn.execute(select(hub_listings.c.listed).where(hub_listings.c.ip == addr)).scalar_one_or_none()
            if not listed:
                return False
            seq = self._change(conn, addr, "del", now)
            conn.execute(
                update(hub_listings)
                .where(hub_listings.c.ip == addr)
                .values(listed=False, seq=seq, delisted_at=now, delisted_reason=reason[:MAX_REASON_CHARS], score=0.0)
            )
            conn.execute(hub_evidence.delete().where(hub_evidence.c.ip == addr))
        return True

    def prune_changes(self, before: datetime) -> int:
        """Forget changes made before `before` (the newest change is always kept: it is the cursor of
        `head`); how many. Cursors up to the last one forgotten become too old (`pruned_through`)."""
        ch = hub_changes.c
        with self.store.engine.connect() as conn:
            newest = conn.execute(select(func.max(ch.seq))).scalar_one_or_none()
            if newest is None:
                return 0
            cut = conn.execute(select(func.max(ch.seq)).where(ch.ts < before, ch.seq < newest)).scalar_one_or_none()
        if cut is None:
            return 0
        # The mark first: a crash between the two only sends a few clients to the whole list early.
        if cut > self.pruned_through():
            self.store.set_kv(PRUNED_THROUGH_KEY, str(cut))
        with self.store._write() as conn:
            return int(conn.execute(hub_changes.delete().where(ch.seq <= cut)).rowcount)

    def pruned_through(self) -> int:
        """The newest change forgotten by `prune_changes` (0: none); older cursors cannot catch up."""
        value = self.store.get_kv(PRUNED_THROUGH_KEY)
        return int(value) if value and value.isdigit() else 0

    def sweep_expired(self, now: datetime, limit: int = 10_000) -> int:
        """Delist listings whose last evidence is older than the listing period; how many."""
        c = hub_listings.c
        with self.store._write() as conn:
            ips = (
                conn.execute(
                    select(c.ip).where(c.listed.is_(True), c.expires_at <= now).order_by(c.expires_at).limit(limit)
                )
                .scalars()
                .all()
            )
            for ip in ips:
                seq = self._change(conn, ip, "del", now)
                conn.execute(
                    update(hub_listings)
                    .where(c.ip == ip)
                    .values(listed=False, seq=seq, delisted_at=now, delisted_reason="expired")
                )
        return len(ips)

    def listing(self, ip: str) -> Listing | None:
        """What the hub knows about one address (listed or not), or None."""
        addr = str(parse_address(ip))
        with self.store.engine.connect() as conn:
            row = conn.execute(select(hub_listings).where(hub_listings.c.ip == addr)).first()
        return _listing(row) if row else None

    def listed(self, *, after_seq: int = 0, limit: int | None = None) -> list[Listing]:
        """Listed addresses whose last change is after `after_seq`, in change order."""
        c = hub_listings.c
        query = select(hub_listings).where(c.listed.is_(True), c.seq > after_seq).order_by(c.seq)
        if limit is not None:
            query = query.limit(limit)
        with self.store.engine.connect() as conn:
            return [_listing(r) for r in conn.execute(query)]

    def listed_ips(self) -> list[str]:
        """Every listed address, in change order (the cheap query behind full feeds)."""
        c = hub_listings.c
        with self.store.engine.connect() as conn:
            return list(conn.execute(select(c.ip).where(c.listed.is_(True)).order_by(c.seq)).scalars())

    def listed_records(self, *, after_seq: int, limit: int) -> list[tuple[Any, ...]]:
        """Listed rows after `after_seq` as plain tuples in LISTING_RECORD order, oldest change first.

        The loader of the in-memory index reads a million of these at start: raw columns skip the
        per-value conversions (times stay as the driver returns them: text on SQLite, aware
        datetimes on PostgreSQL), which makes the load several times faster than `listed()`.
        """
        query = text(
            f"SELECT {', '.join(LISTING_RECORD)} FROM hub_listings WHERE listed AND seq > :after ORDER BY seq LIMIT :limit"  # noqa: S608 (constant column names)
        )
        with self.store.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(query, {"after": after_seq, "limit": limit})]

    def renewed(self, expires_after: datetime) -> list[Listing]:
        """Listed addresses whose `expires_at` is after `expires_after`: those with evidence since
        `expires_after - listing_days` (an index range on (listed, expires_at), not a table scan)."""
        c = hub_listings.c
        query = select(hub_listings).where(c.listed.is_(True), c.expires_at > expires_after)
        with self.store.engine.connect() as conn:
            return [_listing(r) for r in conn.execute(query)]

    def recently_delisted(self, limit: int) -> list[Listing]:
        """The `limit` most recently delisted addresses, newest first."""
        c = hub_listings.c
        query = select(hub_listings).where(c.listed.is_(False), c.delisted_at.is_not(None)).order_by(c.seq.desc())
        with self.store.engine.connect() as conn:
            return [_listing(r) for r in conn.execute(query.limit(limit))]

    def head(self) -> int:
        """The newest change number (0: nothing ever listed)."""
        with self.store.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(hub_changes.c.seq), 0))).scalar_one())

    def changes(self, after_seq: int, limit: int = 1000) -> list[tuple[Change, Listing]]:
        """Changes after `after_seq` with the listing each is about, oldest first."""
        ch = hub_changes.c
        query = (
            select(hub_changes, hub_listings.c.decision_id)
            .join(hub_listings, hub_listings.c.ip == ch.ip)
            .where(ch.seq > after_seq)
            .order_by(ch.seq)
            .limit(limit)
        )
        with self.store.engine.connect() as conn:
            rows = conn.execute(query).all()
            ips = {r.ip for r in rows}
            listings = (
                {r.ip: _listing(r) for r in conn.execute(select(hub_listings).where(hub_listings.c.ip.in_(ips)))}
                if ips
                else {}
            )
        return [(Change(seq=r.seq, ip=r.ip, op=r.op, ts=r.ts), listings[r.ip]) for r in rows]

    # -- numbers --------------------------------------------------------------------------------------

    def add_numbers(self, events: Sequence[Event], now: datetime) -> int:
        """Count numbers dialled at honeypots (events with a normalised target); how many events."""
        counts: dict[str, tuple[int, str | None]] = {}
        for ev in events:
            if ev.source == "honeypot" and ev.target_e164 and ev.kind in {"call_attempt", "call_answered"}:
                n, _ = counts.get(ev.target_e164, (0, None))
                counts[ev.target_e164[:32]] = (n + ev.count, ev.target_country)
        if not counts:
            return 0
        c = hub_numbers.c
        with self.store._write() as conn:
            for number, (n, country) in counts.items():
                done = conn.execute(
                    update(hub_numbers).where(c.number == number).values(count=c.count + n, last_seen=now)
                ).rowcount
                if not done:
                    conn.execute(
                        insert(hub_numbers),
                        {"number": number, "country": country, "count": n, "first_seen": now, "last_seen": now},
                    )
        return sum(n for n, _ in counts.values())

    def numbers(self, *, limit: int = 10_000) -> list[NumberSeen]:
        """Numbers dialled at honeypots, most dialled first."""
        query = select(hub_numbers).order_by(hub_numbers.c.count.desc(), hub_numbers.c.number).limit(limit)
        with self.store.engine.connect() as conn:
            return [NumberSeen(**r._mapping) for r in conn.execute(query)]

    def number(self, number: str) -> NumberSeen | None:
        """One number's counts, or None."""
        with self.store.engine.connect() as conn:
            row = conn.execute(select(hub_numbers).where(hub_numbers.c.number == number)).first()
        return NumberSeen(**row._mapping) if row else None

    # -- web reports ----------------------------------------------------------------------------------

    def add_report(self, ip: str, evidence: str, contact: str, now: datetime) -> Report:
        """Keep a person's report (pending until an admin decides)."""
        addr = str(parse_address(ip))
        report = Report(
            id=new_id(),
            ip=addr,
            evidence=evidence[:MAX_EVIDENCE_CHARS],
            contact=contact[:MAX_REASON_CHARS],
            created_at=now,
            status="pending",
            decided_at=None,
            decided_reason=None,
        )
        with self.store._write() as conn:
            conn.execute(insert(hub_reports), {k: getattr(report, k) for k in Report.__slots__})
        return report

    def reports(self, status: str | None = "pending", limit: int = 1000) -> list[Report]:
        """Reports, oldest first (only those with `status` unless None)."""
        query = select(hub_reports).order_by(hub_reports.c.id).limit(limit)
        if status is not None:
            query = query.where(hub_reports.c.status == status)
        with self.store.engine.connect() as conn:
            return [Report(**r._mapping) for r in conn.execute(query)]

    def decide_report(self, report_id: str, *, accept: bool, reason: str, now: datetime) -> Report | None:
        """Accept (list the address, as trusted evidence) or reject a pending report; None if not pending."""
        c = hub_reports.c
        with self.store._write() as conn:
            done = conn.execute(
                update(hub_reports)
                .where(and_(c.id == report_id, c.status == "pending"))
                .values(
                    status="accepted" if accept else "rejected",
                    decided_at=now,
                    decided_reason=reason[:MAX_REASON_CHARS],
                )
            ).rowcount
            row = conn.execute(select(hub_reports).where(c.id == report_id)).first()
        if not done or row is None:
            return None
        report = Report(**row._mapping)
        if accept:
            why = f"report accepted: {reason}" if reason else "report accepted"
            self.add_evidence(
                report.id, [Evidence(ip=report.ip, weight=1.0, trusted=True, count=1, reason=why, ts=now)], now
            )
        return report
