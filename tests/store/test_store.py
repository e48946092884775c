"""Store: events, decisions and kv on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from sipwarden.config import settings_from_mapping
from sipwarden.events import MAX_RAW_CHARS, Decision, Event
from sipwarden.store import Store, default_url
from sipwarden.store.migrate import current_revision, head_revision
from sipwarden.store.store import engine_url

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def ev(seconds: float = 0, kind: str = "probe", ip: str | None = "192.0.2.10", **kw: object) -> Event:
    return Event(ts=T0 + timedelta(seconds=seconds), kind=kind, source="honeypot", src_ip=ip, **kw)  # type: ignore[arg-type]


def ban(value: str, until: datetime | None, **kw: object) -> Decision:
    return Decision(ts=T0, scope="ip", value=value, action="ban", scenario="bruteforce", reason="r", until=until, **kw)  # type: ignore[arg-type]


def test_every_event_field_round_trips(store: Store) -> None:
    full = Event(
        ts=datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC),
        kind="call_attempt",
        source="asterisk",
        sensor="pbx-1",
        src_ip="2001:db8::7",
        src_port=5062,
        dst_ip="198.51.100.1",
        dst_port=5060,
        transport="tls",
        method="INVITE",
        user_agent="friendly-scanner",
        tool="sipvicious/svcrack",
        username="1001",
        password="1234",
        target="00972599123456",
        target_e164="+972599123456",
        target_country="PS",
        call_id="abc@host",
        raw="INVITE sip:x SIP/2.0\r\n\r\n",
        detail={"nested": {"list": [1, 2.5, None, "é"]}, "flag": True},
        count=7,
    )
    store.add_events([full])
    (back,) = store.events()
    assert back == full
    assert back.to_dict() == full.to_dict()


def test_add_events_is_idempotent_by_id(store: Store) -> None:
    events = [ev(i) for i in range(5)]
    store.add_events(events)
    store.add_events([*events[2:], ev(9)])
    assert store.count_events() == 6


def test_events_filters_and_order(store: Store) -> None:
    batch = [
        ev(0, "probe", "192.0.2.1"),
        ev(10, "register", "192.0.2.2"),
        ev(20, "auth_failure", "192.0.2.1", count=5),
        ev(30, "auth_failure", "2001:db8::1"),
    ]
    store.add_events(batch)
    assert [e.id for e in store.events()] == [e.id for e in batch]
    assert [e.kind for e in store.events(kind="auth_failure")] == ["auth_failure", "auth_failure"]
    assert [e.ts for e in store.events(ip="192.0.2.1")] == [T0, T0 + timedelta(seconds=20)]
    # addresses are compared in canonical form
    assert len(store.events(ip="2001:DB8:0::1")) == 1
    assert [e.id for e in store.events(since=T0 + timedelta(seconds=15))] == [batch[2].id, batch[3].id]
    assert [e.id for e in store.events(after_id=batch[1].id)] == [batch[2].id, batch[3].id]
    assert [e.id for e in store.events(limit=2)] == [batch[0].id, batch[1].id]
    assert [e.id for e in store.events(limit=2, newest=True)] == [batch[2].id, batch[3].id]
    assert store.count_events(kind="auth_failure") == 2
    assert store.total_events(kind="auth_failure") == 6
    assert store.total_events(ip="10.9.9.9") == 0
    assert store.count_events(since=T0 + timedelta(seconds=15), ip="192.0.2.1") == 1
    assert store.last_event_id() == batch[3].id


def test_since_compares_times_across_offsets(store: Store) -> None:
    store.add_events([ev(0), ev(3600)])
    # 13:30 at +02:00 is 11:30 UTC: both events are later
    since = datetime(2026, 3, 1, 13, 30, tzinfo=timezone(timedelta(hours=2)))
    assert store.count_events(since=since) == 2
    assert all(e.ts.tzinfo is UTC for e in store.events())


def test_limit_is_bounded(store: Store) -> None:
    with pytest.raises(ValueError, match="limit"):
        store.events(limit=0)


def test_hostile_text_is_stored_not_refused(store: Store) -> None:
    nasty = ev(
        0,
        user_agent="evil\x00agent",
        username="\udcff\udcfeuser",
        raw="A" * (MAX_RAW_CHARS + 100),
        detail={"when": T0, "nul": "a\x00b", "set": {1}},
    )
    store.add_events([nasty])
    (back,) = store.events()
    assert back.user_agent == "evil\\x00agent"
    assert back.username == "\\udcff\\udcfeuser"
    assert back.raw is not None and len(back.raw) == MAX_RAW_CHARS
    assert back.detail["when"] == str(T0)
    assert back.detail["nul"] == "a\x00b"  # JSON escapes NUL itself, so detail keeps it exactly


def test_decisions_active_expiry_and_removal(store: Store) -> None:
    hour = timedelta(hours=1)
    forever = ban("192.0.2.1", None, event_ids=("e1", "e2"))
    short = ban("2001:db8::1", T0 + hour)
    expired = ban("192.0.2.3", T0 - hour)
    store.add_decisions([forever, short, expired])
    store.add_decisions([forever])  # idempotent
    active = store.active_decisions(T0)
    assert {d.id for d in active} == {forever.id, short.id}
    assert next(d for d in active if d.id == forever.id) == forever
    assert {d.id for d in store.active_decisions(T0 + 2 * hour)} == {forever.id}
    # removal matches the canonical form of the value and only touches active decisions
    assert store.remove_decision("2001:DB8::0001", reason="customer", now=T0) == 1
    assert store.remove_decision("2001:db8::1", reason="again", now=T0) == 0
    assert store.remove_decision("192.0.2.3", reason="expired already", now=T0) == 0
    assert [d.id for d in store.active_decisions(T0)] == [forever.id]
    with store.engine.connect() as conn:
        row = conn.execute(text("SELECT removed_reason FROM decisions WHERE id = :i"), {"i": short.id}).one()
    assert row.removed_reason == "customer"


def test_kv(store: Store) -> None:
    assert store.get_kv("cursor") is None
    store.set_kv("cursor", "1")
    store.set_kv("cursor", "2")
    store.set_kv("other", "x")
    assert store.get_kv("cursor") == "2"
    assert store.get_kv("other") == "x"
    with pytest.raises(ValueError, match="key"):
        store.set_kv("", "x")


VERSIONS = Path(__file__).resolve().parents[2] / "src" / "sipwarden" / "store" / "migrations" / "versions"


def test_open_migrates_to_head_and_reopens(store_url: str) -> None:
    first = Store.open(store_url)
    first.add_events([ev(0)])
    first.close()
    again = Store.open(store_url)
    try:
        with again.engine.connect() as conn:
            # The newest script in store/migrations/versions is the head every store reaches.
            newest = max(p.name.split("_")[0] for p in VERSIONS.glob("[0-9]*_*.py"))
            assert current_revision(conn) == head_revision() == newest
        names = set(inspect(again.engine).get_table_names())
        assert {"events", "decisions", "kv", "alembic_version"} <= names
        indexes = {i["name"] for i in inspect(again.engine).get_indexes("events")}
        assert {"ix_events_ts", "ix_events_src_ip", "ix_events_kind"} <= indexes
        assert again.count_events() == 1
        again.ping()
    finally:
        again.close()


def test_sqlite_file_is_wal_and_parents_are_created(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "s.db"
    store = Store.open(f"sqlite:///{path}")
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) >= 1000
    finally:
        store.close()
    assert path.is_file()


def test_bare_path_means_sqlite(tmp_path: Path) -> None:
    store = Store.open(str(tmp_path / "plain.db"))
    store.close()
    assert (tmp_path / "plain.db").is_file()


def test_urls() -> None:
    assert engine_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert engine_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert engine_url("sqlite:///x.db") == "sqlite:///x.db"
    settings = settings_from_mapping({"general": {"data_dir": "/srv/sw"}})
    assert default_url(settings) == "sqlite:////srv/sw/sipwarden.db"
    settings = settings_from_mapping({"store": {"url": "postgresql://h/db"}})
    assert default_url(settings) == "postgresql://h/db"


def test_bad_urls_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported store URL"):
        Store.open("mysql://h/db")
    with pytest.raises(ValueError, match="needs a file"):
        Store.open("sqlite://")


def test_processes_opening_a_new_store_together_all_succeed(store_url: str) -> None:
    """Migrations serialize (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL)."""
    code = (
        "import sys\n"
        "from datetime import UTC, datetime\n"
        "from sipwarden.events import Event\n"
        "from sipwarden.store import Store\n"
        "s = Store.open(sys.argv[1])\n"
        "s.add_events([Event(ts=datetime.now(UTC), kind='probe', source='honeypot')])\n"
        "s.close()\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, store_url], stderr=subprocess.PIPE, text=True) for _ in range(4)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    store = Store.open(store_url)
    try:
        assert store.count_events() == 4
    finally:
        store.close()
