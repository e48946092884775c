"""The lean reads of the attacker page (cracked user names, event times, newest bans) against the
general reads they replace, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bench.intel_data import BRUTE, FRAUDSTER, SCANNER, scenario_events

from sipwarden.events import Decision, Event
from sipwarden.intel import aggregates
from sipwarden.intel.campaigns import campaign_of
from sipwarden.store import Store
from sipwarden.store import intel_queries as q

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
#: Tried by the scanner: user name -> attempts (so the scanner's ranking by count is known).
TRIED = {"100": 5, "1001": 3, "admin": 4, "200": 2, "300": 1, "1002": 3}
#: Accounts accepted (cracked) later, by another address.
CRACKED = ("1001", "300")
CRACKER = "192.0.2.77"


@pytest.fixture
def tried(store: Store) -> Store:
    events = []
    for i, (name, n) in enumerate(TRIED.items()):
        for k in range(n):
            ts = T0 + timedelta(minutes=i, seconds=k)
            events.append(Event(ts=ts, kind="auth_failure", source="honeypot", src_ip=SCANNER, username=name))
    for name in CRACKED:
        ts = T0 + timedelta(hours=1)
        events.append(Event(ts=ts, kind="auth_success", source="honeypot", src_ip=CRACKER, username=name))
    store.add_events(events)
    aggregates.refresh(store)
    return store


def _reference(store: Store, subjects: list[str], per_subject: int) -> dict[str, list[str]]:
    """What the walk used to do: every top user name, then a `success_ip` lookup of each."""
    out = {}
    for subject, facets in q.facets_many(store, subjects, per_facet=per_subject, only=("username",)).items():
        names = [r.key for r in facets.get("username", []) if q.facets(store, f"acct:{r.key}", only=("success_ip",))]
        if names:
            out[subject] = sorted(names)
    return out


def test_cracked_usernames_are_the_cracked_among_the_top_names(tried: Store) -> None:
    subjects = [f"ip:{SCANNER}", f"ip:{CRACKER}", "ip:192.0.2.250"]
    assert q.cracked_usernames(tried, subjects, per_subject=500) == {
        f"ip:{SCANNER}": ["1001", "300"],
        f"ip:{CRACKER}": ["1001", "300"],
    }
    # The per-address cut by count (then name): "1001" ranks 3rd (5, 4, 3 with "1001" < "1002"), "300" last.
    for per_subject in range(1, len(TRIED) + 1):
        assert q.cracked_usernames(tried, subjects, per_subject=per_subject) == _reference(
            tried, subjects, per_subject
        ), per_subject
    assert q.cracked_usernames(tried, [f"ip:{SCANNER}"], per_subject=2) == {}
    assert q.cracked_usernames(tried, [f"ip:{SCANNER}"], per_subject=3) == {f"ip:{SCANNER}": ["1001"]}
    assert q.cracked_usernames(tried, [], per_subject=3) == {}


def test_campaign_walk_keeps_the_brute_forcer_link(store: Store) -> None:
    store.add_events(scenario_events())
    aggregates.refresh(store)
    found = campaign_of(store, FRAUDSTER)
    assert found is not None
    assert [(lk.account, lk.cracked_by, lk.used_by) for lk in found.crack_links] == [("1001", BRUTE, FRAUDSTER)]
    assert BRUTE in found.addresses and SCANNER not in found.addresses


def test_event_times_are_those_of_the_newest_events(store: Store) -> None:
    store.add_events(scenario_events())
    for ip in (BRUTE, FRAUDSTER, "192.0.2.250"):
        for limit in (1, 3, 2000):
            expected = [ev.ts for ev in store.events(ip=ip, limit=limit, newest=True)]
            assert q.event_times(store, ip, limit=limit) == expected


def test_newest_active_bans_and_their_count(store: Store) -> None:
    now = T0 + timedelta(days=1)

    def decision(i: int, **fields: object) -> Decision:
        base: dict[str, object] = {
            "ts": T0 + timedelta(minutes=i),
            "scope": "ip",
            "value": f"192.0.2.{i}",
            "action": "ban",
            "scenario": "test",
            "reason": f"reason {i}",
            "until": now + timedelta(days=1),
            "origin": "local",
        }
        return Decision(**(base | fields))  # type: ignore[arg-type]

    store.add_decisions(
        [
            *(decision(i) for i in range(1, 6)),
            decision(6, until=now - timedelta(seconds=1)),  # expired
            decision(7, action="watch"),  # not a ban
            decision(8, until=None),  # permanent
        ]
    )
    store.remove_decision("192.0.2.5", reason="lifted", now=now)
    newest, count = q.newest_active_bans(store, now, limit=3)
    assert count == 5
    assert [d.value for d in newest] == ["192.0.2.8", "192.0.2.4", "192.0.2.3"]
    assert newest[1].reason == "reason 4" and newest[0].until is None
    full = [d for d in reversed(store.active_decisions(now)) if d.action == "ban"]
    assert q.newest_active_bans(store, now, limit=100) == (full, 5)
