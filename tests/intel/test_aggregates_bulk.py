"""The set-based fold (intel/aggregates_bulk.py) computes exactly what the per-event fold computes.

The same generated events, with every kind and the awkward cases (no address, no username, no
number, IPv6, text that is not an address, counted flood events, long and non-ASCII text, NUL bytes,
a method whose Python upper() is REGISTER, events at hour and day boundaries, rows of a kind this
version cannot read), are folded both ways into two stores on SQLite and on a real PostgreSQL, and
every aggregate row is compared.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import select, text
from ulid import ULID

from sipwarden.events import EVENT_KINDS, EVENT_SOURCES, Event
from sipwarden.intel import aggregates, aggregates_bulk
from sipwarden.intel.ownership import Owner, StaticOwnership
from sipwarden.store import Store
from sipwarden.store import intel_queries as q
from sipwarden.store.intel_tables import intel_facets, intel_hourly, intel_totals

START = datetime(2026, 3, 1, 22, 58, 30, tzinfo=UTC)
ADDRESSES = (
    None,
    "",
    "198.51.100.7",
    "198.51.100.200",
    "203.0.113.45",
    "192.0.2.99",
    "2001:db8::1",
    "2001:db8:0:1::77",
    "fe80::1",
    "not-an-address",
)
OWNERS = StaticOwnership(
    {
        "198.51.100.0/24": Owner(network="198.51.100.0/24", name="Example Net", country="NL"),
        "2001:db8::/32": Owner(network="2001:db8::/32", name="Doc v6", country=None),
        "203.0.113.0/25": Owner(network="203.0.113.0/25", name="Test-3", country="LR"),
    }
)
TEXTS = (None, "", "friendly-scanner", "Zoiper rv2.10 ✓ ünïcode", "A" * 300, "nul\x00inside", "x:y")
USERNAMES = (None, "", "1001", "100", "admin", "ü" * 90, "u" * 260, "a:b")
PASSWORDS = (None, "", "1234", "pw:with:colons", "p" * 250)
METHODS = (None, "", "REGISTER", "register", "ReGiStEr", "reg\u0131ster", "INVITE", "OPTIONS", "re\u017figister")
NUMBERS = (
    (None, None, None),
    ("", "", ""),
    ("9002314599711", "+2314599711", "LR"),
    ("00972595555555", "+972595555555", "PS"),
    ("1234", None, None),
    ("", "+88213600000", None),
)
FIXED_KINDS = ("auth_success", "call_answered", "recording", "flood", "call_attempt")


def generated_events(n: int, seed: int = 7) -> list[Event]:
    """`n` varied events, about two a minute from START (across hours and a day boundary), oldest first."""
    rng = random.Random(seed)
    kinds = sorted(EVENT_KINDS)
    sources = sorted(EVENT_SOURCES)
    # A time given in another zone is stored, hence folded, in UTC by both paths (the earliest event).
    tz_ts = datetime.fromisoformat("2026-03-02T01:30:00+05:30")
    out = [Event(ts=tz_ts, kind="probe", source="honeypot", src_ip="192.0.2.99", method="OPTIONS", id=_id(tz_ts))]
    for i in range(n - 1):
        ts = START + timedelta(seconds=i * 29.5 + rng.random())
        kind = FIXED_KINDS[i % len(FIXED_KINDS)] if i % 3 == 0 else rng.choice(kinds)
        target, e164, country = rng.choice(NUMBERS)
        out.append(
            Event(
                ts=ts,
                kind=kind,  # type: ignore[arg-type]
                source=rng.choice(sources),  # type: ignore[arg-type]
                sensor=rng.choice(("", "hp1", "edge-2")),
                src_ip=rng.choice(ADDRESSES),
                transport=rng.choice((None, "", "udp", "tls")),
                method=rng.choice(METHODS),
                user_agent=rng.choice(TEXTS),
                tool=rng.choice((None, "", "sipvicious/svcrack", "sipcli")),
                username=rng.choice(USERNAMES),
                password=rng.choice(PASSWORDS),
                target=target,
                target_e164=e164,
                target_country=country,
                count=rng.choice((1, 1, 1, 2, 500)) if kind == "flood" else 1,
                id=_id(ts),
            )
        )
    return out


def _id(ts: datetime) -> str:
    # Ids in event order, so events added in several batches land after the cursor like live ones.
    return str(ULID.from_timestamp(ts.timestamp()))


def aggregate_rows(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the three aggregate tables, sorted."""
    out = {}
    with store.engine.connect() as conn:
        for table in (intel_hourly, intel_totals, intel_facets):
            out[table.name] = sorted(tuple(r) for r in conn.execute(select(table)))
    return out


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    else:
        first = str(request.getfixturevalue("postgres_fresh_url"))
        yield first, _second_database(first)


def _second_database(url: str) -> str:
    # postgres_fresh_url gives one database per test; the comparison needs two on the same server.
    server, _, name = url.rpartition("/")
    host, _, port = server.split("@", 1)[1].partition(":")
    user = server.split("//", 1)[1].split("@", 1)[0]
    with psycopg.connect(f"host={host} port={port} user={user} dbname=postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}_b"')
    return f"{server}/{name}_b"


@pytest.fixture
def stores(urls: tuple[str, str]) -> Iterator[tuple[Store, Store]]:
    a, b = Store.open(urls[0]), Store.open(urls[1])
    yield a, b
    a.close()
    b.close()


def _add_unreadable_row(store: Store, ts: datetime) -> None:
    # A row a newer version wrote (unknown kind): neither path may count it, nor stop at it.
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO events (id, ts, kind, source, sensor, src_ip, detail, count) "
                "VALUES (:id, :ts, 'teleport', 'honeypot', 'hp1', '192.0.2.1', '{}', 1)"
            ),
            {"id": _id(ts), "ts": ts.replace(tzinfo=None) if store.dialect == "sqlite" else ts},
        )


def test_bulk_and_per_event_fold_give_identical_rows(stores: tuple[Store, Store]) -> None:
    per_event, bulk = stores
    events = generated_events(3000)
    for store in stores:
        store.add_events(events)
        _add_unreadable_row(store, START + timedelta(hours=6))
    # The per-event path counts the events it read; the bulk path counts the rows it passed.
    assert aggregates.refresh(per_event, ownership=OWNERS, bulk_min=None, batch=700) == len(events)
    # Bulk in uneven chunks, then the tail (fewer than bulk_min events) on the per-event path.
    assert aggregates.refresh(bulk, ownership=OWNERS, bulk_min=500, bulk_chunk=1100) == len(events) + 1
    a, b = aggregate_rows(per_event), aggregate_rows(bulk)
    assert len(a["intel_facets"]) > 1000 and len(a["intel_totals"]) > 50 and len(a["intel_hourly"]) > 20
    for table in a:
        assert a[table] == b[table], table
    assert q.cursor(per_event) == q.cursor(bulk)


def test_every_counter_kind_is_exercised(stores: tuple[Store, Store]) -> None:
    # Guards the equivalence test against a generator that stops covering a rule.
    store = stores[0]
    store.add_events(generated_events(3000))
    aggregates.refresh(store, ownership=OWNERS, bulk_min=1)
    rows = aggregate_rows(store)
    facets = {(r[0].split(":", 1)[0], r[1]) for r in rows["intel_facets"]}
    expected_ip = {"kind", "ua", "tool", "method", "username", "password", "sensor", "transport", "day"}
    expected_ip |= {"number", "dial", "country", "cracked", "credential", "registered", "answered", "recording"}
    assert {f for s, f in facets if s == "ip"} == expected_ip
    assert {f for s, f in facets if s == "acct"} == {"success_ip", "fail_ip", "use_ip"}
    assert {f for s, f in facets if s == "num"} == {"ip", "dial", "ua", "day", "kind"}
    dims = {r[0] for r in rows["intel_totals"]}
    assert dims == {
        "kind", "ua", "tool", "password", "username", "sensor", "number", "dest_country", "ip", "network", "src_country",
    }  # fmt: skip
    registered = {r[2] for r in rows["intel_facets"] if r[1] == "registered"}
    assert registered  # "reg\u0131ster".upper() == "REGISTER" in Python, and the bulk path agrees
    flood = q.total(store, "kind", "flood")
    assert flood is not None and flood.count > sum(1 for ev in generated_events(3000) if ev.kind == "flood")


def test_mixed_paths_in_any_order_match(stores: tuple[Store, Store]) -> None:
    # Live folding between bulk catch-ups: per-event, bulk, per-event, bulk on one store.
    per_event, mixed = stores
    events = generated_events(2400, seed=11)
    per_event.add_events(events)
    aggregates.refresh(per_event, bulk_min=None)
    for lo, hi, bulk_min in ((0, 300, None), (300, 1500, 100), (1500, 1700, None), (1700, 2400, 1)):
        mixed.add_events(events[lo:hi])
        assert aggregates.refresh(mixed, bulk_min=bulk_min, bulk_chunk=250) == hi - lo
    assert aggregate_rows(per_event) == aggregate_rows(mixed)


def test_range_end_leaves_small_backlogs_to_the_per_event_path(stores: tuple[Store, Store]) -> None:
    store = stores[0]
    events = generated_events(50, seed=3)
    store.add_events(events)
    ids = sorted(ev.id for ev in events)
    assert aggregates_bulk.range_end(store, None, chunk=20, minimum=10) == (ids[19], 20)
    assert aggregates_bulk.range_end(store, ids[19], chunk=40, minimum=10) == (ids[-1], 30)
    assert aggregates_bulk.range_end(store, ids[39], chunk=40, minimum=11) is None
    assert aggregates_bulk.range_end(store, ids[-1], chunk=40, minimum=1) is None


def test_a_failed_chunk_changes_nothing(stores: tuple[Store, Store], monkeypatch: pytest.MonkeyPatch) -> None:
    store = stores[0]
    store.add_events(generated_events(600, seed=5))

    def broken(*_args: object) -> None:
        raise RuntimeError("ownership source failed")

    monkeypatch.setattr(aggregates_bulk, "_owner_totals", broken)
    with pytest.raises(RuntimeError):
        aggregates.refresh(store, bulk_min=1)
    assert q.cursor(store) is None
    assert all(not rows for rows in aggregate_rows(store).values())
    monkeypatch.undo()
    assert aggregates.refresh(store, bulk_min=1) == 600
