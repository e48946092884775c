"""Reads and incremental writes of the investigation aggregates (`intel_tables`).

Counters only grow: `apply_deltas` adds a batch of deltas (computed from events by
`sipwarden.intel.aggregates`) and moves the event-id cursor in the same transaction, so a crash
between the two can neither lose nor double-count a batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Connection, Table, func, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from sipwarden.events import EVENT_KINDS
from sipwarden.store.intel_tables import intel_facets, intel_hourly, intel_totals
from sipwarden.store.store import Store, _clean_text
from sipwarden.store.tables import decisions as decisions_t
from sipwarden.store.tables import events as events_t
from sipwarden.store.tables import kv

#: The kv key holding the id of the last event folded into the aggregates.
CURSOR_KEY: Final = "intel.aggregates.cursor"
#: Rows per INSERT statement: large enough to amortise the round trip, small enough for SQLite's
#: variable limit (32,766 since 3.32) at 6 columns per row.
UPSERT_CHUNK: Final = 2000
#: Longest aggregate key stored; a 10 kB User-Agent is evidence in `events.raw`, not a counter key.
MAX_KEY_CHARS: Final = 200

HourKey = tuple[str, datetime]
TotalKey = tuple[str, str]
FacetKey = tuple[str, str, str]


@dataclass(slots=True)
class Span:
    """A count with its first and last time (mutable while a batch is summed)."""

    count: int
    first: datetime
    last: datetime

    def add(self, n: int, ts: datetime) -> None:
        """Fold one more observation in."""
        self.count += n
        self.first = min(self.first, ts)
        self.last = max(self.last, ts)


@dataclass(frozen=True, slots=True)
class Counted:
    """One aggregate row as read back."""

    key: str
    count: int
    first: datetime
    last: datetime


def bound_key(value: str) -> str:
    """An aggregate key safe to store: cleaned and cut to MAX_KEY_CHARS."""
    return _clean_text(value)[:MAX_KEY_CHARS]


def _insert(store: Store, table: Table) -> Any:
    module: Any = postgresql if store.dialect == "postgresql" else sqlite
    return module.insert(table)


def _db_ts(dialect: str) -> Any:
    """How a time is passed to the driver: SQLite keeps naive UTC text in SQLAlchemy's DATETIME format."""
    if dialect == "sqlite":
        return lambda ts: ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return lambda ts: ts


def _span_upsert_sql(dialect: str, table: str, keys: Sequence[str]) -> str:
    # Driver-level SQL: SQLAlchemy's per-row bind processing cost three times the database's own
    # work on a batch of 300,000 counters (profiled); the statement is fixed, values are parameters.
    mark = "?" if dialect == "sqlite" else "%s"
    least, greatest = ("min", "max") if dialect == "sqlite" else ("LEAST", "GREATEST")
    cols = [*keys, "count", "first_ts", "last_ts"]
    return (
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(mark for _ in cols)}) "  # noqa: S608  (constant names)
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET count = {table}.count + excluded.count, "
        f"first_ts = {least}({table}.first_ts, excluded.first_ts), "
        f"last_ts = {greatest}({table}.last_ts, excluded.last_ts)"
    )


def _executemany(conn: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    for i in range(0, len(rows), UPSERT_CHUNK):
        conn.exec_driver_sql(sql, rows[i : i + UPSERT_CHUNK])


def apply_deltas(
    store: Store,
    *,
    hourly: Mapping[HourKey, int],
    totals: Mapping[TotalKey, Span],
    facets: Mapping[FacetKey, Span],
    cursor: str,
) -> None:
    """Add the deltas of one batch and move the cursor to `cursor`, in one transaction."""
    dialect = store.dialect
    ts = _db_ts(dialect)
    mark = "?" if dialect == "sqlite" else "%s"
    with store._write() as conn:
        _executemany(
            conn,
            f"INSERT INTO intel_hourly (dim, hour, count) VALUES ({mark}, {mark}, {mark}) "  # noqa: S608  (placeholders)
            "ON CONFLICT (dim, hour) DO UPDATE SET count = intel_hourly.count + excluded.count",
            [(d, ts(h), n) for (d, h), n in hourly.items()],
        )
        _executemany(
            conn,
            _span_upsert_sql(dialect, "intel_totals", ("dim", "key")),
            [(d, k, sp.count, ts(sp.first), ts(sp.last)) for (d, k), sp in totals.items()],
        )
        _executemany(
            conn,
            _span_upsert_sql(dialect, "intel_facets", ("subject", "facet", "value")),
            [(sub, f, v, sp.count, ts(sp.first), ts(sp.last)) for (sub, f, v), sp in facets.items()],
        )
        kv_stmt = _insert(store, kv)
        kv_stmt = kv_stmt.on_conflict_do_update(index_elements=["key"], set_={"value": kv_stmt.excluded.value})
        conn.execute(kv_stmt, {"key": CURSOR_KEY, "value": cursor})


def cursor(store: Store) -> str | None:
    """The id of the last event already counted (None: nothing counted yet)."""
    return store.get_kv(CURSOR_KEY)


def top(store: Store, dim: str, limit: int = 10) -> list[Counted]:
    """The `limit` keys of `dim` with the highest all-time counts (an index range scan)."""
    c = intel_totals.c
    query = select(c.key, c["count"], c.first_ts, c.last_ts).where(c.dim == dim).order_by(c["count"].desc(), c.key)
    with store.engine.connect() as conn:
        return [Counted(r[0], int(r[1]), r[2], r[3]) for r in conn.execute(query.limit(limit))]


def total(store: Store, dim: str, key: str) -> Counted | None:
    """One total row, or None."""
    c = intel_totals.c
    query = select(c.key, c["count"], c.first_ts, c.last_ts).where(c.dim == dim, c.key == key)
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
    return Counted(row[0], int(row[1]), row[2], row[3]) if row else None


def count_keys(store: Store, dim: str) -> int:
    """How many distinct keys `dim` has (e.g. how many addresses were ever seen)."""
    with store.engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(intel_totals).where(intel_totals.c.dim == dim)).scalar_one()
        )


def hourly(store: Store, dim: str, since: datetime) -> list[tuple[datetime, int]]:
    """(hour, count) of `dim` from `since` on, oldest first; hours without events are absent."""
    c = intel_hourly.c
    query = select(c.hour, c["count"]).where(c.dim == dim, c.hour >= since).order_by(c.hour)
    with store.engine.connect() as conn:
        return [(r[0], int(r[1])) for r in conn.execute(query)]


def facets(store: Store, subject: str, *, per_facet: int = 50, only: Sequence[str] = ()) -> dict[str, list[Counted]]:
    """Every facet of `subject` (or those in `only`), each most frequent first, cut to `per_facet`."""
    return facets_many(store, [subject], per_facet=per_facet, only=only).get(subject, {})


def facets_many(
    store: Store, subjects: Sequence[str], *, per_facet: int = 50, only: Sequence[str] = ()
) -> dict[str, dict[str, list[Counted]]]:
    """`facets` of several subjects in one query (the cut is done by the database: a number dialled
    from 20,000 addresses has 20,000 "ip" rows, and only the first few are shown)."""
    if not subjects:
        return {}
    c = intel_facets.c
    rank = (
        func.row_number().over(partition_by=(c.subject, c.facet), order_by=(c["count"].desc(), c.value)).label("rank")
    )
    where = [c.subject.in_(list(subjects))]
    if only:
        where.append(c.facet.in_(list(only)))
    inner = select(c.subject, c.facet, c.value, c["count"], c.first_ts, c.last_ts, rank).where(*where).subquery()
    query = select(inner).where(inner.c.rank <= per_facet).order_by(inner.c.subject, inner.c.facet, inner.c.rank)
    out: dict[str, dict[str, list[Counted]]] = {}
    with store.engine.connect() as conn:
        for subject, facet, value, n, first, last, _ in conn.execute(query):
            out.setdefault(subject, {}).setdefault(facet, []).append(Counted(value, int(n), first, last))
    return out


def cracked_usernames(store: Store, subjects: Sequence[str], *, per_subject: int) -> dict[str, list[str]]:
    """The `username` facet values of `subjects` whose account was cracked (its `acct:` subject has a
    `success_ip` row), among each subject's `per_subject` most frequent user names; sorted by name.

    The same names as `facets_many(subjects, per_facet=per_subject, only=("username",))` filtered by
    a `success_ip` lookup of each, without reading them all: an address of a busy honeypot tried
    hundreds of user names (29,000 rows for 100 addresses at 10 million events), nearly none of them
    cracked. The rank within a subject is counted only for a cracked name of a subject with more than
    `per_subject` user names.
    """
    if not subjects:
        return {}
    c = intel_facets.c
    u, acct = intel_facets.alias("u"), intel_facets.alias("a")
    # Both spellings of the join: the first probes the account by primary key from a user name, the
    # second lets PostgreSQL probe the user names by primary key from the (few) cracked accounts.
    cracked = (
        select(acct.c.subject)
        .where(
            acct.c.facet == "success_ip",
            acct.c.subject == literal("acct:") + u.c.value,
            func.substr(acct.c.subject, len("acct:") + 1) == u.c.value,
        )
        .exists()
    )
    found: dict[str, set[str]] = {}
    query = select(u.c.subject, u.c.value).where(u.c.subject.in_(list(subjects)), u.c.facet == "username", cracked)
    with store.engine.connect() as conn:
        for subject, value in conn.execute(query):
            found.setdefault(subject, set()).add(value)
        if not found:
            return {}
        sizes = (
            select(c.subject, func.count()).where(c.subject.in_(list(found)), c.facet == "username").group_by(c.subject)
        )
        large = [subject for subject, n in conn.execute(sizes) if n > per_subject]
        if large:
            rank = func.row_number().over(partition_by=c.subject, order_by=(c["count"].desc(), c.value)).label("rank")
            inner = select(c.subject, c.value, rank).where(c.subject.in_(large), c.facet == "username").subquery()
            kept: dict[str, set[str]] = {}
            for subject, value in conn.execute(
                select(inner.c.subject, inner.c.value).where(inner.c.rank <= per_subject)
            ):
                kept.setdefault(subject, set()).add(value)
            for subject in large:
                found[subject] &= kept.get(subject, set())
    return {subject: sorted(names) for subject, names in sorted(found.items()) if names}


def subjects_with(
    store: Store, facet: str, value: str, *, prefix: str = "", limit: int = 200, ordered: bool = True
) -> list[tuple[str, Counted]]:
    """Subjects (optionally only those starting with `prefix`) that have `facet` = `value`, earliest
    first; `ordered=False` takes any `limit` of them straight from the index (no sort of thousands)."""
    c = intel_facets.c
    query = select(c.subject, c.value, c["count"], c.first_ts, c.last_ts).where(c.facet == facet, c.value == value)
    if prefix:
        query = query.where(c.subject.startswith(prefix, autoescape=True))
    if ordered:
        query = query.order_by(c.first_ts)
    with store.engine.connect() as conn:
        return [(r[0], Counted(r[1], int(r[2]), r[3], r[4])) for r in conn.execute(query.limit(limit))]


def subject_names_with(store: Store, facet: str, value: str, *, prefix: str, limit: int) -> list[str]:
    """Any `limit` subjects starting with `prefix` that have `facet` = `value`, names only, in no
    particular order: the campaign walk needs who dialled a number, not 500 counted rows."""
    c = intel_facets.c
    query = (
        select(c.subject)
        .where(c.facet == facet, c.value == value, c.subject.startswith(prefix, autoescape=True))
        .limit(limit)
    )
    with store.engine.connect() as conn:
        return list(conn.execute(query).scalars())


def search_keys(store: Store, text: str, *, limit: int = 50) -> list[tuple[str, Counted]]:
    """(dim, row) of totals whose key contains `text` (case-insensitive), most frequent first."""
    c = intel_totals.c
    query = (
        select(c.dim, c.key, c["count"], c.first_ts, c.last_ts)
        .where(c.key.icontains(text, autoescape=True))
        .order_by(c["count"].desc())
        .limit(limit)
    )
    with store.engine.connect() as conn:
        return [(r[0], Counted(r[1], int(r[2]), r[3], r[4])) for r in conn.execute(query)]


def facets_of_kind(
    store: Store, facets_wanted: Sequence[str], *, prefix: str, limit: int
) -> list[tuple[str, str, Counted]]:
    """(subject, facet, row) for every subject starting with `prefix` having one of `facets_wanted`."""
    c = intel_facets.c
    query = (
        select(c.subject, c.facet, c.value, c["count"], c.first_ts, c.last_ts)
        .where(c.facet.in_(list(facets_wanted)), c.subject.startswith(prefix, autoescape=True))
        .order_by(c.first_ts)
        .limit(limit)
    )
    with store.engine.connect() as conn:
        return [(r[0], r[1], Counted(r[2], int(r[3]), r[4], r[5])) for r in conn.execute(query)]


def reset(store: Store) -> None:
    """Empty the aggregates and their cursor (the next refresh rebuilds them from every event)."""
    with store._write() as conn:
        for table in (intel_hourly, intel_totals, intel_facets):
            conn.execute(table.delete())
        conn.execute(kv.delete().where(kv.c.key == CURSOR_KEY))


def events_by_ids(store: Store, ids: Sequence[str]) -> list[Any]:
    """Stored events with these ids, oldest first (unknown ids are skipped)."""
    from sipwarden.store.store import _row_event

    if not ids:
        return []
    query = select(events_t).where(events_t.c.id.in_(list(ids))).order_by(events_t.c.id)
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [ev for ev in (_row_event(r) for r in rows) if ev is not None]


def event_times(store: Store, ip: str, *, limit: int) -> list[datetime]:
    """The times of the newest `limit` events from `ip`, in the order they were recorded.

    What the cadence of a dossier needs, without building the events (2,000 `Event` records cost
    tens of milliseconds); only kinds this version knows, as `Store.events` would return them.
    """
    e = events_t.c
    inner = (
        select(e.id, e.ts)
        .where(e.src_ip == ip, e.kind.in_(sorted(EVENT_KINDS)))
        .order_by(e.id.desc())
        .limit(limit)
        .subquery()
    )
    with store.engine.connect() as conn:
        return list(conn.execute(select(inner.c.ts).order_by(inner.c.id)).scalars())


def newest_active_bans(store: Store, now: datetime, *, limit: int) -> tuple[list[Any], int]:
    """The newest `limit` bans active at `now` (newest first, as full `Decision` records) and how many
    are active in all: a page of 100,000 bans is read as `limit` rows and one count."""
    from sipwarden.store.store import _row_decision

    d = decisions_t.c
    active = (d.removed_at.is_(None), or_(d.until.is_(None), d.until > now), d.action == "ban")
    query = select(decisions_t).where(*active).order_by(d.ts.desc(), d.id.desc()).limit(limit)
    with store.engine.connect() as conn:
        newest = [_row_decision(r) for r in conn.execute(query)]
        count = int(conn.execute(select(func.count()).select_from(decisions_t).where(*active)).scalar_one())
    return newest, count


def totals_since(store: Store, dim: str, since: datetime | None, *, limit: int) -> list[Counted]:
    """Keys of `dim` last seen at or after `since` (all when None), most frequent first."""
    c = intel_totals.c
    query = select(c.key, c["count"], c.first_ts, c.last_ts).where(c.dim == dim)
    if since is not None:
        query = query.where(c.last_ts >= since)
    query = query.order_by(c["count"].desc(), c.key).limit(limit)
    with store.engine.connect() as conn:
        return [Counted(r[0], int(r[1]), r[2], r[3]) for r in conn.execute(query)]


def last_hour(store: Store, dim: str) -> datetime | None:
    """The newest hour with events in `dim` (None: none yet)."""
    c = intel_hourly.c
    with store.engine.connect() as conn:
        value = conn.execute(select(func.max(c.hour)).where(c.dim == dim)).scalar_one()
    if value is None:
        return None
    # max() of a TypeDecorator column loses the type on SQLite: coerce the text back to aware UTC.
    hour: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return hour if hour.tzinfo else hour.replace(tzinfo=UTC)
