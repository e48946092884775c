"""Set-based catch-up of the investigation aggregates: the fold of `aggregates.fold`, done by the database.

Folding event by event in Python runs at a few thousand events/s, so building the aggregates for a
store that already holds millions of events (an import, a first start of the dashboard, a long
outage of the refresher) would take hours. `fold_range` folds every event with an id in
(`after`, `upto`] with one `INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE` per aggregate
table (PostgreSQL and SQLite 3.24+ both accept the upsert), in one transaction with the cursor.

It computes exactly what `aggregates.fold` computes; the rules are written twice, once in Python and
once as the SQL tables below, and `tests/intel/test_aggregates_bulk.py` folds the same events both
ways and compares every row. Change one, change the other.

What stays in Python: the ownership lookup (an `OwnershipLookup` is a Python cache, not a table), which
runs once per distinct address of the range, and the test of a REGISTER method, which uses Python's
`str.upper()` once per distinct method (SQL `upper()` differs from it for non-ASCII text).
"""

# ruff: noqa: S608  (every statement is built from this module's constants; values are bound parameters)
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Connection, text

from sipwarden.events import EVENT_KINDS, EVENT_SOURCES
from sipwarden.intel.aggregates import MAX_ACCOUNT_CHARS
from sipwarden.intel.ownership import OwnershipLookup, fallback_network
from sipwarden.store import Store
from sipwarden.store.intel_queries import CURSOR_KEY, MAX_KEY_CHARS, bound_key

log = logging.getLogger(__name__)

#: Events per transaction on PostgreSQL: readers and the event writer are never blocked by it (MVCC),
#: so a chunk is as large as the memory of one GROUP BY allows (~1.5 counter rows per event).
CHUNK_POSTGRESQL: Final = 1_000_000
#: Events per transaction on SQLite, whose one writer lock is held for the whole chunk: at the bulk
#: rate (~20,000 events/s on this kind of machine) 100,000 events hold it for a few seconds, well
#: under the 10 s every other writer waits for it (store.SQLITE_BUSY_TIMEOUT_MS).
CHUNK_SQLITE: Final = 100_000
#: Memory one bulk transaction may give each sort or hash on PostgreSQL (`SET LOCAL work_mem`): the
#: default 4 MB makes the GROUP BY of a million-event chunk spill to disk several times over.
PG_WORK_MEM: Final = "256MB"

_TEMP: Final = "intel_bulk_range"

# The kinds of aggregates.py, as SQL lists (constants of this module, never user text).
_CALL_KINDS: Final = ("call_attempt", "call_answered", "call_rejected", "fraud_call")
_USE_KINDS: Final = ("auth_success", "call_attempt", "call_answered")
_FAIL_KINDS: Final = ("auth_failure", "unknown_user")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in sorted(values))})"


_HAS_IP: Final = "src_ip <> ''"  # NULL <> '' is NULL: false, like `if ev.src_ip`
_HAS_USER: Final = "username <> ''"
_IS_CALL: Final = _in("kind", _CALL_KINDS)
_CRACKED: Final = f"{_HAS_IP} AND kind = 'auth_success' AND {_HAS_USER}"
#: Marker replaced by the REGISTER test (a list of methods decided in Python, see `_register_test`).
_REGISTER: Final = "{register}"

_IP_SUBJECT: Final = "'ip:' || src_ip"
_NUM_SUBJECT: Final = "'num:' || target_e164"
_ACCT_SUBJECT: Final = f"'acct:' || substr(username, 1, {min(MAX_KEY_CHARS, MAX_ACCOUNT_CHARS)})"


@dataclass(frozen=True, slots=True)
class _Row:
    """One counter an event may add to: key columns (SQL over the range table) and when it applies:
    `scope` (shared by several counters, so PostgreSQL filters the events once per scope) and `extra`."""

    keys: tuple[str, ...]
    scope: str
    extra: str = ""

    @property
    def when(self) -> str:
        """The whole condition."""
        return f"{self.scope} AND {self.extra}" if self.extra else self.scope


_ALL: Final = "1 = 1"
_IP_CALL: Final = f"{_HAS_IP} AND {_IS_CALL}"
_IP_USER: Final = f"{_HAS_IP} AND {_HAS_USER}"
_NUM_CALL: Final = f"target_e164 <> '' AND {_IS_CALL}"

#: intel_totals (dim, key), as in aggregates.fold; "network" and "src_country" are in `_owner_totals`.
TOTALS: Final = (
    *(_Row((f"'{dim}'", column), _ALL) for dim, column in (
        ("kind", "kind"), ("ua", "user_agent"), ("tool", "tool"), ("password", "password"), ("username", "username"),
        ("sensor", "sensor"),
    )),
    _Row(("'number'", "target_e164"), _IS_CALL),
    _Row(("'dest_country'", "target_country"), _IS_CALL),
    _Row(("'ip'", "src_ip"), _HAS_IP),
)  # fmt: skip

#: intel_facets (subject, facet, value), as in aggregates.fold and aggregates._fold_source.
FACETS: Final = (
    *(_Row((_IP_SUBJECT, f"'{facet}'", column), _HAS_IP) for facet, column in (
        ("kind", "kind"), ("ua", "user_agent"), ("tool", "tool"), ("method", "method"), ("username", "username"),
        ("password", "password"), ("sensor", "sensor_or_source"), ("transport", "transport"), ("day", "day"),
    )),
    *(_Row((_IP_SUBJECT, f"'{facet}'", column), _IP_CALL) for facet, column in (
        ("number", "target_e164"), ("dial", "target"), ("country", "target_country"),
    )),
    _Row((_IP_SUBJECT, "'cracked'", "username"), _CRACKED),
    _Row((_IP_SUBJECT, "'credential'", "username || ':' || password"), _CRACKED, "password IS NOT NULL"),
    _Row((_IP_SUBJECT, "'registered'", "username"), _CRACKED, _REGISTER),
    # `ev.target_e164 or ev.target`: an empty number falls back to the dialled text.
    _Row((_IP_SUBJECT, "'answered'", "COALESCE(NULLIF(target_e164, ''), target)"), f"{_HAS_IP} AND kind = 'call_answered'"),
    _Row((_IP_SUBJECT, "'recording'", "id"), f"{_HAS_IP} AND kind = 'recording'"),
    _Row((_ACCT_SUBJECT, "'success_ip'", "src_ip"), _IP_USER, "kind = 'auth_success'"),
    _Row((_ACCT_SUBJECT, "'fail_ip'", "src_ip"), _IP_USER, _in("kind", _FAIL_KINDS)),
    _Row((_ACCT_SUBJECT, "'use_ip'", "src_ip"), _IP_USER, _in("kind", _USE_KINDS)),
    *(_Row((_NUM_SUBJECT, f"'{facet}'", column), _NUM_CALL) for facet, column in (
        ("ip", "src_ip"), ("dial", "target"), ("ua", "user_agent"), ("day", "day"), ("kind", "kind"),
    )),
)  # fmt: skip

#: Hour and day of an event time: PostgreSQL truncates in UTC whatever the session's TimeZone; SQLite
#: keeps naive UTC text "YYYY-MM-DD HH:MM:SS.ffffff" (SQLAlchemy's format, fixed width).
_TIME_SQL: Final = {
    "postgresql": (
        "date_trunc('hour', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
        "to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    ),
    "sqlite": ("substr(ts, 1, 13) || ':00:00.000000'", "substr(ts, 1, 10)"),
}


def _create_range_sql(dialect: str) -> str:
    # Only rows that `Store.events` can turn into an Event are folded (a kind or source a newer
    # version wrote is skipped by both paths, see store._row_event).
    hour, day = _TIME_SQL[dialect]
    head = "CREATE TEMP TABLE" + (f" {_TEMP} ON COMMIT DROP AS" if dialect == "postgresql" else f" {_TEMP} AS")
    return (
        f"{head} SELECT id, ts, {hour} AS hour, {day} AS day, kind, src_ip, method, transport, user_agent, tool, "
        "username, password, target, target_e164, target_country, sensor, "
        "COALESCE(NULLIF(sensor, ''), source) AS sensor_or_source, count "
        "FROM events WHERE id > :after AND id <= :upto AND count >= 1 "
        f"AND {_in('kind', tuple(EVENT_KINDS))} AND {_in('source', tuple(EVENT_SOURCES))}"
    )


def _bounded(expr: str) -> str:
    # aggregates._key: bound_key() of a stored value is its first MAX_KEY_CHARS characters (stored
    # text is already clean), and both databases count characters, not bytes, in substr().
    return f"substr({expr}, 1, {MAX_KEY_CHARS})"


def _counter_select(dialect: str, rows: Sequence[_Row], key_names: Sequence[str], register: str) -> str:
    """SELECT of (keys..., n, ts) rows: one per event and applicable counter, with the value bounded."""
    names = list(key_names)
    if dialect == "postgresql":
        # One pass over the events of each scope: every event expands to its counters with a
        # LATERAL VALUES list (a CASE only where a counter has a condition beyond its scope).
        scopes: dict[str, list[_Row]] = {}
        for row in rows:
            scopes.setdefault(row.scope, []).append(row)
        selects = []
        for scope, members in scopes.items():
            values = ", ".join(
                "("
                + ", ".join(
                    [
                        *r.keys[:-1],
                        f"CASE WHEN {r.extra} THEN {_bounded(r.keys[-1])} END" if r.extra else _bounded(r.keys[-1]),
                    ]
                )
                + ")"
                for r in members
            )
            selects.append(
                f"SELECT {', '.join('c.' + n for n in names)}, r.count AS n, r.ts FROM {_TEMP} r "
                f"CROSS JOIN LATERAL (VALUES {values}) AS c({', '.join(names)}) WHERE {scope}"
            )
        return " UNION ALL ".join(selects).replace(_REGISTER, register)
    # SQLite has no LATERAL: one scan of the (small, cached) range table per counter.
    parts = [
        "SELECT "
        + ", ".join(f"{k} AS {n}" for k, n in zip([*r.keys[:-1], _bounded(r.keys[-1])], names, strict=True))
        + f", count AS n, ts FROM {_TEMP} WHERE {r.when}"
        for r in rows
    ]
    return " UNION ALL ".join(parts).replace(_REGISTER, register)


def _upsert_sql(dialect: str, table: str, rows: Sequence[_Row], keys: Sequence[str], register: str) -> str:
    least, greatest = ("min", "max") if dialect == "sqlite" else ("LEAST", "GREATEST")
    cols = ", ".join(keys)
    last = keys[-1]
    return (
        f"INSERT INTO {table} ({cols}, count, first_ts, last_ts) "
        f"SELECT {cols}, sum(n), min(ts), max(ts) FROM ({_counter_select(dialect, rows, keys, register)}) AS x "
        f"WHERE {last} <> '' GROUP BY {cols} "
        f"ON CONFLICT ({cols}) DO UPDATE SET count = {table}.count + excluded.count, "
        f"first_ts = {least}({table}.first_ts, excluded.first_ts), "
        f"last_ts = {greatest}({table}.last_ts, excluded.last_ts)"
    )


_HOURLY_SQL: Final = (
    "INSERT INTO intel_hourly (dim, hour, count) "
    f"SELECT dim, hour, sum(n) FROM (SELECT 'all' AS dim, hour, count AS n FROM {_TEMP} "
    f"UNION ALL SELECT 'kind:' || kind AS dim, hour, count AS n FROM {_TEMP}) AS x WHERE 1 = 1 GROUP BY dim, hour "
    "ON CONFLICT (dim, hour) DO UPDATE SET count = intel_hourly.count + excluded.count"
)

_CURSOR_SQL: Final = (
    "INSERT INTO kv (key, value) VALUES (:key, :value) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


def _register_test(conn: Connection) -> tuple[str, dict[str, str]]:
    """The SQL test for `(ev.method or "").upper() == "REGISTER"` with Python's upper(), and its parameters."""
    methods = conn.execute(
        text(f"SELECT DISTINCT method FROM {_TEMP} WHERE kind = 'auth_success' AND method IS NOT NULL")
    ).scalars()
    chosen = [m for m in methods if str(m).upper() == "REGISTER"]
    if not chosen:
        return "1 = 0", {}
    params = {f"m{i}": m for i, m in enumerate(chosen)}
    return f"method IN ({', '.join(':' + p for p in params)})", params


def _owner_totals(conn: Connection, ownership: OwnershipLookup, dialect: str) -> None:
    """The "network" and "src_country" totals: one ownership lookup per distinct address of the range."""
    spans: dict[tuple[str, str], list[Any]] = {}
    rows = conn.execute(
        text(f"SELECT src_ip, sum(count), min(ts), max(ts) FROM {_TEMP} WHERE src_ip <> '' GROUP BY src_ip")
    )
    for ip, n, first, last in rows:
        owner = ownership.lookup(ip)
        network = owner.network if owner else fallback_network(ip)
        for dim, key in (("network", network), ("src_country", owner.country if owner else None)):
            if not key:
                continue
            k = (dim, bound_key(key))
            span = spans.get(k)
            if span is None:
                spans[k] = [int(n), first, last]
            else:
                # Times compare as datetimes (PostgreSQL) or as fixed-width UTC text (SQLite).
                span[0] += int(n)
                span[1] = min(span[1], first)
                span[2] = max(span[2], last)
    if not spans:
        return
    least, greatest = ("min", "max") if dialect == "sqlite" else ("LEAST", "GREATEST")
    conn.execute(
        text(
            "INSERT INTO intel_totals (dim, key, count, first_ts, last_ts) VALUES (:dim, :key, :n, :first, :last) "
            "ON CONFLICT (dim, key) DO UPDATE SET count = intel_totals.count + excluded.count, "
            f"first_ts = {least}(intel_totals.first_ts, excluded.first_ts), "
            f"last_ts = {greatest}(intel_totals.last_ts, excluded.last_ts)"
        ),
        [{"dim": d, "key": k, "n": s[0], "first": s[1], "last": s[2]} for (d, k), s in spans.items()],
    )


def range_end(store: Store, after: str | None, *, chunk: int, minimum: int) -> tuple[str, int] | None:
    """(last id, rows) of the next bulk range after `after`: `chunk` rows, or all that are left when
    there are at least `minimum`; None when fewer are left (the incremental path folds those)."""
    since = after or ""
    with store.engine.connect() as conn:
        upto = conn.execute(
            text("SELECT id FROM events WHERE id > :after ORDER BY id LIMIT 1 OFFSET :skip"),
            {"after": since, "skip": chunk - 1},
        ).scalar_one_or_none()
        if upto is not None:
            return str(upto), chunk
        rows, last = conn.execute(
            text("SELECT count(*), max(id) FROM events WHERE id > :after"), {"after": since}
        ).one()
    if last is None or int(rows) < minimum:
        return None
    return str(last), int(rows)


def fold_range(store: Store, after: str | None, upto: str, ownership: OwnershipLookup) -> int:
    """Fold the events with ids in (`after`, `upto`] into the aggregates and move the cursor to `upto`,
    in one transaction; returns how many events were folded."""
    dialect = store.dialect
    with store._write() as conn:  # the store's write transaction (BEGIN IMMEDIATE on SQLite)
        if dialect == "postgresql":
            conn.execute(text(f"SET LOCAL work_mem = '{PG_WORK_MEM}'"))
        else:
            conn.execute(text(f"DROP TABLE IF EXISTS temp.{_TEMP}"))
        conn.execute(text(_create_range_sql(dialect)), {"after": after or "", "upto": upto})
        folded = int(conn.execute(text(f"SELECT count(*) FROM {_TEMP}")).scalar_one())
        if folded:
            register, params = _register_test(conn)
            conn.execute(text(_HOURLY_SQL))
            conn.execute(text(_upsert_sql(dialect, "intel_totals", TOTALS, ("dim", "key"), register)), params)
            conn.execute(
                text(_upsert_sql(dialect, "intel_facets", FACETS, ("subject", "facet", "value"), register)), params
            )
            _owner_totals(conn, ownership, dialect)
        if dialect == "sqlite":
            conn.execute(text(f"DROP TABLE temp.{_TEMP}"))
        conn.execute(text(_CURSOR_SQL), {"key": CURSOR_KEY, "value": upto})
    log.debug("aggregates: bulk-folded %s events up to %s", folded, upto)
    return folded


def chunk_for(store: Store, overrides: Mapping[str, int] | None = None) -> int:
    """Events per bulk transaction for this store's database."""
    table = {"postgresql": CHUNK_POSTGRESQL, "sqlite": CHUNK_SQLITE, **(overrides or {})}
    return table.get(store.dialect, CHUNK_SQLITE)
