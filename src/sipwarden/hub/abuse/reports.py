"""Abuse reports in the store, and the hub's attacking addresses as the scoreboard reads them.

A report moves draft -> approved -> sending -> sent, or to failed (kept, retried later) or discarded.
Sending is claimed with one conditional UPDATE (approved/failed and due -> sending), so two hub
processes or two overlapping cron runs never send the same report twice; a claim left behind by a
crash is taken back after `STALE_SENDING`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, func, insert, or_, select, text, update

from sipwarden.hub.abuse.scoreboard import AddressSeen, SentReport
from sipwarden.store import Store
from sipwarden.store.hub_tables import abuse_reports, hub_listings

STATUSES: Final = ("draft", "approved", "sending", "sent", "failed", "discarded")
#: A report still `sending` after this long belongs to a sender that died; it may be sent again
#: (an SMTP session with our timeouts never takes this long).
STALE_SENDING: Final = timedelta(minutes=30)
#: Longest error text kept.
MAX_ERROR: Final = 1000


@dataclass(frozen=True, slots=True)
class AbuseReport:
    """One abuse report as stored."""

    id: str
    ip: str
    network: str
    recipient: str
    status: str
    events: int
    message: str
    created_at: datetime
    approved_at: datetime | None
    approved_by: str | None
    attempts: int
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None


def _report(row: Any) -> AbuseReport:
    m = row._mapping
    return AbuseReport(**{k: m[k] for k in AbuseReport.__slots__})


class AbuseRepo:
    """Report rows and listing reads on the Store's engine; each method is one transaction."""

    def __init__(self, store: Store) -> None:
        """Queries over `store`."""
        self.store = store

    # -- what the scoreboard reads --------------------------------------------------------------------

    def attacking_addresses(self) -> list[AddressSeen]:
        """Addresses that are listed or were until they expired (an admin's delisting says the
        address was wrongly listed, so those are left out)."""
        c = hub_listings.c
        query = select(c.ip, c.first_seen, c.last_evidence, c.events).where(
            or_(c.listed.is_(True), c.delisted_reason == "expired")
        )
        with self.store.engine.connect() as conn:
            return [AddressSeen(r.ip, r.first_seen, r.last_evidence, int(r.events)) for r in conn.execute(query)]

    def listed_addresses(self) -> list[str]:
        """Addresses listed now."""
        c = hub_listings.c
        with self.store.engine.connect() as conn:
            return list(conn.execute(select(c.ip).where(c.listed.is_(True)).order_by(c.seq)).scalars())

    def sent(self) -> list[SentReport]:
        """Every report that was sent."""
        c = abuse_reports.c
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(c.ip, c.sent_at).where(c.status == "sent")).all()
        return [SentReport(r.ip, r.sent_at) for r in rows]

    # -- reports --------------------------------------------------------------------------------------

    def add(self, report: AbuseReport, *, unless_reported_since: datetime | None = None) -> bool:
        """Store a new report; with `unless_reported_since`, only if its address has no report (but a
        discarded one) created after that time. True when stored.

        Two hub processes drafting at once would otherwise both report the same address: the check
        and the insert are one transaction, serialized per address (SQLite's BEGIN IMMEDIATE admits
        one writer; on PostgreSQL a transaction lock on the address does the same).
        """
        c = abuse_reports.c
        with self.store._write() as conn:
            if unless_reported_since is not None:
                if self.store.dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"abuse:{report.ip}"})
                found = conn.execute(
                    select(c.id)
                    .where(c.ip == report.ip, c.created_at > unless_reported_since, c.status != "discarded")
                    .limit(1)
                ).first()
                if found is not None:
                    return False
            conn.execute(insert(abuse_reports), {k: getattr(report, k) for k in AbuseReport.__slots__})
        return True

    def get(self, report_id: str) -> AbuseReport | None:
        """One report, or None."""
        with self.store.engine.connect() as conn:
            row = conn.execute(select(abuse_reports).where(abuse_reports.c.id == report_id)).first()
        return _report(row) if row else None

    def reports(self, status: str | None = None, *, network: str | None = None, limit: int = 1000) -> list[AbuseReport]:
        """Reports, newest first, optionally of one status or network."""
        c = abuse_reports.c
        query = select(abuse_reports).order_by(c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(c.status == status)
        if network is not None:
            query = query.where(c.network == network)
        with self.store.engine.connect() as conn:
            return [_report(r) for r in conn.execute(query)]

    def counts(self) -> dict[str, int]:
        """How many reports there are in each status."""
        c = abuse_reports.c
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(c.status, func.count()).group_by(c.status)).all()
        return {str(status): int(n) for status, n in rows}

    def recently_reported(self, ips: Iterable[str], since: datetime) -> set[str]:
        """Those of `ips` with a report (in any state but discarded) created after `since`."""
        c = abuse_reports.c
        wanted = sorted(set(ips))
        found: set[str] = set()
        with self.store.engine.connect() as conn:
            for i in range(0, len(wanted), 500):
                query = select(c.ip).where(c.ip.in_(wanted[i : i + 500]), c.created_at > since, c.status != "discarded")
                found.update(conn.execute(query).scalars())
        return found

    def approve(self, ids: Sequence[str], by: str, now: datetime) -> list[str]:
        """Approve drafts (only drafts); the ids approved."""
        return self._move(ids, "draft", "approved", approved_at=now, approved_by=by[:200], next_attempt_at=now)

    def discard(self, ids: Sequence[str], now: datetime) -> list[str]:
        """Discard drafts and reports not yet sent; the ids discarded."""
        del now
        done = []
        for status in ("draft", "approved", "failed"):
            done += self._move(ids, status, "discarded")
        return done

    def retry(self, ids: Sequence[str], now: datetime) -> list[str]:
        """Put failed reports back in the queue (an admin fixed the cause); the ids."""
        return self._move(ids, "failed", "approved", next_attempt_at=now, attempts=0)

    def _move(self, ids: Sequence[str], old: str, new: str, **values: Any) -> list[str]:
        c = abuse_reports.c
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        with self.store._write() as conn:
            moved = list(conn.execute(select(c.id).where(c.id.in_(wanted), c.status == old)).scalars())
            if moved:
                conn.execute(update(abuse_reports).where(c.id.in_(moved), c.status == old).values(status=new, **values))
        return moved

    def claim_due(self, now: datetime, limit: int) -> list[AbuseReport]:
        """Mark reports due for sending as `sending` and return them (each to one caller only)."""
        c = abuse_reports.c
        due = or_(
            and_(c.status.in_(("approved", "failed")), c.next_attempt_at.is_not(None), c.next_attempt_at <= now),
            and_(c.status == "sending", c.next_attempt_at <= now - STALE_SENDING),
        )
        claimed: list[AbuseReport] = []
        with self.store._write() as conn:
            ids = list(conn.execute(select(c.id).where(due).order_by(c.id).limit(limit)).scalars())
            for report_id in ids:
                # The status condition makes the claim atomic on PostgreSQL, where another process may
                # have claimed the same row between our SELECT and this UPDATE.
                done = conn.execute(
                    update(abuse_reports).where(c.id == report_id, due).values(status="sending", next_attempt_at=now)
                ).rowcount
                if done:
                    row = conn.execute(select(abuse_reports).where(c.id == report_id)).first()
                    claimed.append(_report(row))
        return claimed

    def mark_sent(self, report_id: str, now: datetime) -> None:
        """The report left the hub."""
        c = abuse_reports.c
        with self.store._write() as conn:
            conn.execute(
                update(abuse_reports)
                .where(c.id == report_id)
                .values(status="sent", sent_at=now, attempts=c.attempts + 1, next_attempt_at=None, last_error=None)
            )

    def mark_failed(self, report_id: str, error: str, retry_at: datetime | None) -> None:
        """Sending failed; kept with the reason, tried again at `retry_at` (None: when an admin says)."""
        c = abuse_reports.c
        with self.store._write() as conn:
            conn.execute(
                update(abuse_reports)
                .where(c.id == report_id)
                .values(
                    status="failed", attempts=c.attempts + 1, next_attempt_at=retry_at, last_error=error[:MAX_ERROR]
                )
            )
