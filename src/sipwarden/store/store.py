"""The Store: events, decisions and small named values in SQLite (default) or PostgreSQL.

Writes are one transaction per call, so a batch of events is committed whole or not at all. SQLite
runs in WAL mode with `synchronous=NORMAL`: a commit survives a crash of the process (the WAL is in
the OS page cache), though not necessarily a power cut (https://sqlite.org/pragma.html#pragma_synchronous).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Insert,
    Row,
    Select,
    and_,
    create_engine,
    event,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.pool import ConnectionPoolEntry

from sipwarden.events import Decision, Event, utcnow
from sipwarden.store import decision_reads, migrate
from sipwarden.store.decision_reads import DecisionChange, DecisionRef
from sipwarden.store.filters import normalize_ip
from sipwarden.store.tables import decisions as decisions_t
from sipwarden.store.tables import events as events_t
from sipwarden.store.tables import kv as kv_t

if TYPE_CHECKING:
    from sipwarden.config import Settings

log = logging.getLogger(__name__)

#: How long SQLite waits for another writer before failing with "database is locked". Batches are
#: small (milliseconds), so 10 s only runs out when something is truly stuck.
SQLITE_BUSY_TIMEOUT_MS: Final = 10_000
#: Largest `limit` a query accepts: a page, not a dump (exports stream with `after_id`).
MAX_QUERY_LIMIT: Final = 100_000
#: Longest kv key; the column is VARCHAR(255).
MAX_KV_KEY: Final = 255
#: Event fields that hold text from the outside world (cleaned before storing, see _clean_text).
_EVENT_TEXT_FIELDS: Final = tuple(
    f.name for f in dataclasses.fields(Event) if f.name not in {"ts", "detail", "count", "src_port", "dst_port"}
)


def default_url(settings: Settings) -> str:
    """`[store] url`, or SQLite at `<general.data_dir>/sipwarden.db`."""
    if settings.store.url:
        return settings.store.url
    return f"sqlite:///{Path(settings.general.data_dir) / 'sipwarden.db'}"


def engine_url(url: str) -> str:
    """Map user-facing URLs to SQLAlchemy ones: a bare path is SQLite, `postgresql://` uses psycopg 3."""
    if "://" not in url:
        return f"sqlite:///{url}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _clean_text(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and lone surrogates (from surrogateescape decoding) cannot be
    # encoded by either driver; keep both visible as escapes instead of failing the whole batch.
    if "\x00" in value:
        value = value.replace("\x00", "\\x00")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _json_default(value: object) -> str:
    # detail comes from sensors; a datetime or set must not cost us the event.
    return str(value)


def _dumps(value: object) -> str:
    return _clean_text(json.dumps(value, default=_json_default, ensure_ascii=False))


def _event_row(ev: Event) -> dict[str, Any]:
    row: dict[str, Any] = {name: getattr(ev, name) for name in _EVENT_TEXT_FIELDS}
    for name, value in row.items():
        if isinstance(value, str):
            row[name] = _clean_text(value)
    row.update(ts=ev.ts, detail=dict(ev.detail), count=ev.count, src_port=ev.src_port, dst_port=ev.dst_port)
    if row["sensor"] is None:
        row["sensor"] = ""
    return row


def _row_event(row: Row[Any]) -> Event | None:
    data = dict(row._mapping)
    data["detail"] = data["detail"] if isinstance(data["detail"], dict) else {}
    try:
        return Event(**data)
    except (TypeError, ValueError) as exc:
        # A row written by a newer sipwarden (a kind this one does not know) must not break reading.
        log.warning("skipping stored event %s that this version cannot read: %s", data.get("id"), exc)
        return None


def _row_decision(row: Row[Any]) -> Decision:
    data = row._mapping
    return Decision(
        id=data["id"],
        ts=data["ts"],
        scope=data["scope"],
        value=data["value"],
        action=data["action"],
        scenario=data["scenario"],
        reason=data["reason"],
        until=data["until"],
        origin=data["origin"],
        event_ids=tuple(data["event_ids"] or ()),
    )


def normalize_value(value: str) -> str:
    """Decision values as stored: canonical address or network text, anything else as given."""
    value = normalize_ip(value)
    if "/" in value:
        try:
            return str(ipaddress.ip_network(value, strict=False))
        except ValueError:
            return value
    return value


class Store:
    """Events, decisions and named values in one database; every method is one transaction."""

    def __init__(self, engine: Engine) -> None:
        """Wrap an engine whose schema is already at head; use `Store.open` instead."""
        self.engine = engine
        self.dialect = engine.dialect.name

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect to `url` (SQLite file, created with its parent directories, or PostgreSQL) and migrate it."""
        sa_url = make_url(engine_url(url))
        if sa_url.get_backend_name() == "sqlite":
            engine = _sqlite_engine(sa_url.database)
        elif sa_url.get_backend_name() == "postgresql":
            engine = create_engine(sa_url, json_serializer=_dumps, pool_pre_ping=True)
        else:
            raise ValueError(f"unsupported store URL {url!r}: use sqlite:///FILE or postgresql://...")
        try:
            migrate.upgrade(engine)
        except Exception:
            engine.dispose()
            raise
        return cls(engine)

    def close(self) -> None:
        """Release every connection."""
        self.engine.dispose()

    def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        with self.engine.connect() as conn:
            conn.execute(select(1)).scalar_one()

    # -- events ---------------------------------------------------------------------------------------

    def add_events(self, events: Sequence[Event]) -> None:
        """Store `events` in one transaction; an id already stored is skipped (safe to retry a batch)."""
        if not events:
            return
        rows = [_event_row(ev) for ev in events]
        with self._write() as conn:
            conn.execute(self._insert_ignore(events_t), rows)

    def events(
        self,
        *,
        since: datetime | None = None,
        kind: str | None = None,
        ip: str | None = None,
        after_id: str | None = None,
        limit: int = 1000,
        newest: bool = False,
    ) -> list[Event]:
        """Matching events, oldest first (by id, i.e. the order they were recorded).

        `since` filters on the event's own time; `after_id` returns only events recorded after that
        id (a cursor for polling); `newest=True` returns the last `limit` matches instead of the first.
        """
        _check_limit(limit)
        where = _event_filters(since=since, kind=kind, ip=ip, after_id=after_id)
        query: Select[Any] = select(events_t).where(*where)
        if newest:
            inner = query.order_by(events_t.c.id.desc()).limit(limit).subquery()
            query = select(inner).order_by(inner.c.id)
        else:
            query = query.order_by(events_t.c.id).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [ev for ev in (_row_event(r) for r in rows) if ev is not None]

    def count_events(
        self,
        *,
        since: datetime | None = None,
        kind: str | None = None,
        ip: str | None = None,
        after_id: str | None = None,
    ) -> int:
        """How many stored rows match (an aggregated flood row counts once; see `total_events`)."""
        where = _event_filters(since=since, kind=kind, ip=ip, after_id=after_id)
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(events_t).where(*where)).scalar_one())

    def total_events(
        self,
        *,
        since: datetime | None = None,
        kind: str | None = None,
        ip: str | None = None,
        after_id: str | None = None,
    ) -> int:
        """The sum of `count` over matching rows: how many things actually happened."""
        where = _event_filters(since=since, kind=kind, ip=ip, after_id=after_id)
        query = select(func.coalesce(func.sum(events_t.c.count), 0)).where(*where)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def last_event_id(self) -> str | None:
        """The id of the most recently recorded event (None: no events)."""
        with self.engine.connect() as conn:
            value = conn.execute(select(func.max(events_t.c.id))).scalar_one()
        return str(value) if value is not None else None

    # -- decisions ------------------------------------------------------------------------------------

    def add_decisions(self, decisions: Sequence[Decision]) -> None:
        """Store `decisions` in one transaction; an id already stored is skipped."""
        if not decisions:
            return
        rows = [
            {
                "id": d.id,
                "ts": d.ts,
                "scope": d.scope,
                "value": _clean_text(d.value),
                "action": d.action,
                "scenario": _clean_text(d.scenario),
                "reason": _clean_text(d.reason),
                "until": d.until,
                "origin": _clean_text(d.origin),
                "event_ids": list(d.event_ids),
                "removed_at": None,
                "removed_reason": None,
            }
            for d in decisions
        ]
        with self._write() as conn:
            # Stamped inside the transaction, on the clock running Guards poll with (decision_reads).
            stamp = self._change_stamp()
            stmt: Insert
            if self.dialect == "postgresql":
                stmt = (
                    postgresql.insert(decisions_t)
                    .values(changed_at=stamp)
                    .on_conflict_do_nothing(index_elements=["id"])
                )
            else:
                stmt = self._insert_ignore(decisions_t)
                for row in rows:
                    row["changed_at"] = stamp
            conn.execute(stmt, rows)

    def active_decisions(self, now: datetime) -> list[Decision]:
        """Decisions not removed and not expired at `now`, oldest first."""
        c = decisions_t.c
        query = (
            select(decisions_t)
            .where(c.removed_at.is_(None), or_(c.until.is_(None), c.until > now))
            .order_by(c.ts, c.id)
        )
        with self.engine.connect() as conn:
            return [_row_decision(r) for r in conn.execute(query)]

    def active_refs(self, now: datetime) -> list[DecisionRef]:
        """Like `active_decisions`, but only id, scope, value, action and until: the lean read a
        firewall reconcile needs (about 1 us a row instead of 31)."""
        with self.engine.connect() as conn:
            return decision_reads.active_refs(conn, now)

    def decision_clock(self) -> datetime:
        """The time on the clock that stamps decision changes (PostgreSQL's, or this machine's)."""
        with self.engine.connect() as conn:
            return decision_reads.database_now(conn)

    def decision_changes(self, since: datetime | None) -> list[DecisionChange]:
        """Decisions written or lifted at or after `since` (indexed on `changed_at`), in no order."""
        with self.engine.connect() as conn:
            return decision_reads.changes_since(conn, since)

    def active_refs_for(self, values: Sequence[str], now: datetime) -> list[DecisionRef]:
        """The lean records of the decisions about any of `values` that are active at `now`."""
        with self.engine.connect() as conn:
            return decision_reads.active_for(conn, values, now)

    def remove_decision(self, value: str, *, reason: str, now: datetime) -> int:
        """Lift every active decision about `value` (kept, marked removed); returns how many."""
        c = decisions_t.c
        with self._write() as conn:
            query = (
                update(decisions_t)
                .where(
                    c.value == normalize_value(value),
                    c.removed_at.is_(None),
                    or_(c.until.is_(None), c.until > now),
                )
                .values(removed_at=now, removed_reason=_clean_text(reason), changed_at=self._change_stamp())
            )
            return int(conn.execute(query).rowcount)

    # -- named values ---------------------------------------------------------------------------------

    def get_kv(self, key: str) -> str | None:
        """The value stored under `key`, or None."""
        with self.engine.connect() as conn:
            value = conn.execute(select(kv_t.c.value).where(kv_t.c.key == key)).scalar_one_or_none()
        return None if value is None else str(value)

    def set_kv(self, key: str, value: str) -> None:
        """Store `value` under `key`, replacing any previous value."""
        if not key or len(key) > MAX_KV_KEY:
            raise ValueError(f"kv key must be 1..{MAX_KV_KEY} characters")
        stmt = self._insert_ignore(kv_t, update_cols=("value",))
        with self._write() as conn:
            conn.execute(stmt, {"key": _clean_text(key), "value": _clean_text(value)})

    # -- helpers --------------------------------------------------------------------------------------

    def _change_stamp(self) -> Any:
        # PostgreSQL: the server's clock (start of the transaction), the same for every host of a
        # fleet; SQLite: this machine's clock, the one every writer of the file shares.
        return func.now() if self.dialect == "postgresql" else utcnow()

    def _write(self) -> _WriteTx:
        return _WriteTx(self.engine)

    def _insert_ignore(self, table: Any, update_cols: Iterable[str] = ()) -> Insert:
        """INSERT that skips (or, with `update_cols`, updates) rows whose primary key exists."""
        module: Any = postgresql if self.dialect == "postgresql" else sqlite
        stmt = module.insert(table)
        keys = [col.name for col in table.primary_key.columns]
        cols = tuple(update_cols)
        if cols:
            return stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in cols})  # type: ignore[no-any-return]
        return stmt.on_conflict_do_nothing(index_elements=keys)  # type: ignore[no-any-return]


class _WriteTx:
    """A write transaction; on SQLite it starts with BEGIN IMMEDIATE (waits for the lock up front)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None

    def __enter__(self) -> Connection:
        conn = self._engine.connect().execution_options(sqlite_begin="IMMEDIATE")
        conn.begin()
        self._conn = conn
        return conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        assert self._conn is not None
        try:
            if exc_type is None:
                self._conn.commit()
            else:
                self._conn.rollback()
        finally:
            self._conn.close()


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_QUERY_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_QUERY_LIMIT}, got {limit}")


def _event_filters(
    *, since: datetime | None, kind: str | None, ip: str | None, after_id: str | None
) -> list[ColumnElement[bool]]:
    c = events_t.c
    where: list[ColumnElement[bool]] = []
    if since is not None:
        where.append(c.ts >= since)
    if kind is not None:
        where.append(c.kind == kind)
    if ip is not None:
        where.append(c.src_ip == normalize_ip(ip))
    if after_id is not None:
        where.append(c.id > after_id)
    return [and_(*where)] if where else []


def _sqlite_engine(database: str | None) -> Engine:
    if not database or database == ":memory:":
        raise ValueError("the SQLite store needs a file (sqlite:///path/to/sipwarden.db), not memory")
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        f"sqlite:///{database}",
        json_serializer=_dumps,
        # The pool hands each connection to one thread at a time; the writer thread needs its own.
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy emit BEGIN itself (see _sqlite_on_begin): pysqlite's own transaction handling
    # does not cover DDL, which would leave migrations half-applied after a crash.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "")
    conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")
