"""Lean reads of decisions for enforcement: a restart reads 100,000 active bans, a running Guard polls.

`Store.active_decisions` builds full `Decision` records (JSON evidence, validated values, reasons);
reconciling a firewall needs only who, what and until when. These queries select those columns and
run on the driver's own cursor, so a row costs a tuple and (on SQLite) one `fromisoformat`, not the
per-column type processing of the SQL layer: 31 us a row becomes about 1.
"""

# ruff: noqa: S608  (statements are built from this module's constants and placeholders; values are bound)

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

from sqlalchemy import Connection

#: Values looked up per statement when the changed values are re-read (bound parameters per query
#: stay well below SQLite's limit of 32,766).
VALUES_PER_QUERY: Final = 500

_COLUMNS: Final = "id, scope, value, action, until"


class DecisionRef(NamedTuple):
    """What enforcement needs of a stored decision: its identity, target and end."""

    id: str
    scope: str
    value: str
    action: str
    until: datetime | None


class DecisionChange(NamedTuple):
    """A decision written or lifted: what it is about, until when, and whether it was lifted (removed)."""

    id: str
    scope: str
    value: str
    action: str
    until: datetime | None
    removed: bool


def _bind_time(conn: Connection, value: datetime) -> Any:
    # SQLite keeps naive UTC text in SQLAlchemy's fixed-width format (store/types.py): compare as text.
    value = value.astimezone(UTC)
    if conn.dialect.name == "sqlite":
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return value


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    if not isinstance(value, datetime):
        raise TypeError(f"expected a time from the database, got {type(value).__name__}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _param(conn: Connection, name: str) -> str:
    return f"%({name})s" if conn.dialect.paramstyle == "pyformat" else f":{name}"


def _rows(conn: Connection, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    # The DBAPI cursor itself: plain tuples, no Row objects, no result processors.
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _refs(rows: Iterable[tuple[Any, ...]]) -> list[DecisionRef]:
    make = DecisionRef._make
    if not isinstance(rows, list) or not rows or not isinstance(rows[0][4], str):
        return [make((i, s, v, a, _time(u))) for i, s, v, a, u in rows]
    # SQLite: many bans end at the same moment (one bulk import, one hub batch): parse each text once.
    parsed: dict[str | None, datetime | None] = {None: None}
    out = []
    for i, s, v, a, u in rows:
        until = parsed.get(u)
        if until is None and u is not None:
            until = parsed[u] = _time(u)
        out.append(make((i, s, v, a, until)))
    return out


def active_refs(conn: Connection, now: datetime) -> list[DecisionRef]:
    """Every decision not removed and not expired at `now`, in no particular order (one query)."""
    p = _param(conn, "now")
    sql = f"SELECT {_COLUMNS} FROM decisions WHERE removed_at IS NULL AND (until IS NULL OR until > {p})"
    return _refs(_rows(conn, sql, {"now": _bind_time(conn, now)}))


def database_now(conn: Connection) -> datetime:
    """The clock that stamps `changed_at`: PostgreSQL's own (one clock for every host of a fleet), or
    this machine's for SQLite (every writer of a SQLite file runs on this machine)."""
    if conn.dialect.name == "postgresql":
        value = _time(_rows(conn, "SELECT now()", {})[0][0])
        assert value is not None
        return value
    return datetime.now(UTC)


def changes_since(conn: Connection, since: datetime | None) -> list[DecisionChange]:
    """Decisions written or lifted at or after `since` (every decision when None), in no order.

    Right after a bulk write every poll within the overlap re-reads those rows, so a row costs a
    tuple and at most one time parse here.
    """
    params: dict[str, Any] = {}
    where = ""
    if since is not None:
        where = f" WHERE changed_at >= {_param(conn, 'since')}"
        params["since"] = _bind_time(conn, since)
    sql = f"SELECT {_COLUMNS}, removed_at IS NOT NULL FROM decisions{where}"
    return [
        DecisionChange(i, s, v, a, None if u is None else _time(u), bool(gone))
        for i, s, v, a, u, gone in _rows(conn, sql, params)
    ]


def active_for(conn: Connection, values: Sequence[str], now: datetime) -> list[DecisionRef]:
    """The decisions about any of `values` that are active at `now`."""
    out: list[DecisionRef] = []
    for start in range(0, len(values), VALUES_PER_QUERY):
        chunk = values[start : start + VALUES_PER_QUERY]
        params: dict[str, Any] = {f"v{i}": v for i, v in enumerate(chunk)}
        params["now"] = _bind_time(conn, now)
        names = ", ".join(_param(conn, f"v{i}") for i in range(len(chunk)))
        sql = (
            f"SELECT {_COLUMNS} FROM decisions WHERE value IN ({names}) AND removed_at IS NULL "
            f"AND (until IS NULL OR until > {_param(conn, 'now')}) ORDER BY ts, id"
        )
        out += _refs(_rows(conn, sql, params))
    return out
