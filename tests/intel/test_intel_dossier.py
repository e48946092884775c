"""Aggregates, dossiers, number reports and campaigns over a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bench.intel_data import BASE, BRUTE, FRAUDSTER, SCANNER, scenario_events

from sipwarden.intel import aggregates
from sipwarden.intel.campaigns import load_campaigns
from sipwarden.intel.dossier import build_dossier, build_number_report
from sipwarden.intel.ownership import Owner, StaticOwnership
from sipwarden.store import Store
from sipwarden.store import intel_queries as q


@pytest.fixture
def seeded(store: Store) -> Store:
    store.add_events(scenario_events())
    assert aggregates.refresh(store) == len(scenario_events())
    return store


def test_refresh_is_incremental_and_counts_once(store: Store) -> None:
    events = scenario_events()
    store.add_events(events[:10])
    assert aggregates.refresh(store, batch=3) == 10
    assert aggregates.refresh(store) == 0  # nothing new: nothing counted twice
    store.add_events(events[10:])
    assert aggregates.refresh(store) == len(events) - 10
    assert q.total(store, "ip", BRUTE) is not None
    assert q.total(store, "ip", BRUTE).count == 21  # type: ignore[union-attr]
    hours = q.hourly(store, "all", BASE - timedelta(days=2))
    assert sum(n for _, n in hours) == len(events)
    assert [r.key for r in q.top(store, "ip", 1)] == [BRUTE]


def test_reset_rebuilds_the_same_counters(seeded: Store) -> None:
    before = q.top(seeded, "password", 50)
    q.reset(seeded)
    assert q.top(seeded, "password", 50) == []
    aggregates.refresh(seeded)
    assert q.top(seeded, "password", 50) == before


def test_dossier_of_the_user_of_a_cracked_account(seeded: Store) -> None:
    owners = StaticOwnership(
        {"203.0.113.0/24": Owner("203.0.113.0/24", "Example Hosting", 64500, "NL", "abuse@example.net")}
    )
    d = build_dossier(seeded, FRAUDSTER, ownership=owners)
    assert d.owner is not None and d.owner.abuse_email == "abuse@example.net"
    assert d.events == 6 and d.first_seen == BASE + timedelta(minutes=40)
    assert [n.e164 for n in d.numbers] == ["+2314599711"]
    assert d.numbers[0].country == "LR" and d.numbers[0].risk == "high"
    assert {r.key for r in d.values("dial")} == {"002314599711", "92314599711", "9002314599711", "90112314599711"}
    assert [r.key for r in d.values("registered")] == ["1001"]
    assert [r.key for r in d.values("answered")] == ["+2314599711"]
    # the brute-forcer is linked explicitly
    assert [(lk.account, lk.cracked_by, lk.used_by) for lk in d.crack_links] == [("1001", BRUTE, FRAUDSTER)]
    assert d.linked == [BRUTE]
    assert len(d.campaigns) == 1
    assert not d.returning
    assert d.to_dict()["crack_links"][0]["cracked_by"] == BRUTE


def test_dossier_of_the_brute_forcer(seeded: Store) -> None:
    d = build_dossier(seeded, BRUTE)
    assert d.owner is None and d.network == "198.51.100.0/24"
    assert [r.key for r in d.values("cracked")] == ["1001"]
    assert "1001:1234" in {r.key for r in d.values("credential")}
    assert len(d.values("password")) == 21
    assert d.cadence.pace == "automated"
    assert [r.key for r in d.values("tool")] == ["sipvicious/svcrack"]
    assert d.linked == [FRAUDSTER]


def test_returning_scanner(seeded: Store) -> None:
    d = build_dossier(seeded, SCANNER)
    assert d.returning and len(d.visits) == 2
    assert d.campaigns == []  # scanning alone joins no campaign


def test_number_report_one_target_four_variants_human_paced(seeded: Store) -> None:
    r = build_number_report(seeded, "90112314599711")  # any variant finds the number
    assert r is not None
    assert r.info.e164 == "+2314599711" and r.info.country == "LR"
    assert [v.prefix for v in r.variants] == ["00", "9", "900", "9011"]
    gaps = [(b.first - a.first).total_seconds() / 60 for a, b in zip(r.variants, r.variants[1:], strict=False)]
    assert gaps == [6, 7, 6]
    assert r.cadence.pace == "human-paced"
    assert [s.key for s in r.sources] == [FRAUDSTER]
    assert build_number_report(seeded, "+15550100") is None


def test_campaign_joins_brute_forcer_and_user(seeded: Store) -> None:
    [campaign] = load_campaigns(seeded)
    assert campaign.addresses == tuple(sorted((BRUTE, FRAUDSTER)))
    assert campaign.numbers == ("+2314599711",)
    assert "1001" in campaign.accounts
    assert campaign.cadence.pace == "human-paced"
    assert campaign.score > 20


def test_hostile_text_is_bounded(store: Store) -> None:
    [ev] = scenario_events()[:1]
    store.add_events([ev.replace(user_agent="A" * 5000 + "\x00")])
    aggregates.refresh(store)
    [row] = q.top(store, "ua", 5)
    assert len(row.key) == q.MAX_KEY_CHARS and "\x00" not in row.key


def test_campaign_walk_is_bounded(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from sipwarden.events import Event
    from sipwarden.intel import campaigns

    monkeypatch.setattr(campaigns, "MAX_COMPONENT_ADDRESSES", 5)
    store.add_events(
        [
            Event(
                ts=BASE,
                kind="call_attempt",
                source="honeypot",
                src_ip=f"192.0.2.{i}",
                target="002314599711",
                target_e164="+2314599711",
                target_country="LR",
            )
            for i in range(1, 40)
        ]
    )
    aggregates.refresh(store)
    found = campaigns.campaign_of(store, "192.0.2.1")
    assert found is not None and "192.0.2.1" in found.addresses and len(found.addresses) <= 6
    assert len(load_campaigns(store)[0].addresses) == 39  # the full graph still sees everyone
