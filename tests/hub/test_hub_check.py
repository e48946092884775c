"""Check lookups answered from each process's in-memory index (hub/lookup.py, hub/fastpath.py):
the same answers as the database path, current after changes made here or through another process,
revocations honoured at the next refresh, and the database never asked."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hub_testkit import ATTACKER, ATTACKER2, ATTACKER6, Hub, event

from sipwarden.events import utcnow
from sipwarden.hub.lookup import (
    REFRESH_SECONDS,
    STALE_SECONDS,
    V6_FLAG,
    HubIndex,
    address_key,
    key_address,
    pack_listing,
    unpack_listing,
)
from sipwarden.hub.repo import HubRepo, Listing, hash_key
from sipwarden.store import Store

CLEAN = "81.2.69.160"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    store = Store.open(f"sqlite:///{tmp_path / 'check.db'}")
    with Hub(store) as h:
        yield h
    store.close()


def index_of(hub: Hub) -> HubIndex:
    index = hub.app.state.hub_index
    assert isinstance(index, HubIndex)
    deadline = time.monotonic() + 20
    while not index.ready() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert index.ready()
    return index


def no_database(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    """Failure injection: any single-address read of the database now fails the request."""

    def refuse(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("the database was asked")

    monkeypatch.setattr(hub.app.state.hub.repo, "listing", refuse)


def test_address_keys() -> None:
    assert address_key("45.134.26.7") == (45 << 24) | (134 << 16) | (26 << 8) | 7
    assert address_key("::ffff:45.134.26.7") == address_key("45.134.26.7")
    v6 = address_key("2A01:4F8::99")
    assert v6 is not None and v6 & V6_FLAG and key_address(v6) == "2a01:4f8::99"
    # ::a.b.c.d (IPv4-compatible IPv6) is not the IPv4 address a.b.c.d.
    assert address_key("::45.134.26.7") != address_key("45.134.26.7")
    for bad in ("", "999.1.1.1", "example.com", "1.2.3.4/32", "1.2.3.4\x00"):
        assert address_key(bad) is None
    assert key_address(address_key("45.134.26.7") or 0) == "45.134.26.7"


def test_records_round_trip() -> None:
    now = utcnow()
    listing = Listing(
        ip=ATTACKER6,
        listed=False,
        decision_id="01JCZ0000000000000000000AB",
        score=2.5,
        reporters=3,
        events=12_345_678_901,
        reason="honeypot probe (sipvicious/svmap) – «ünïcode»",
        first_seen=now - timedelta(days=3),
        last_evidence=now,
        expires_at=now + timedelta(days=7),
        seq=987_654_321,
        delisted_at=None,
        delisted_reason="customer NAT (by admin)",
    )
    assert unpack_listing(ATTACKER6, pack_listing(listing), listed=False) == listing
    listed = Listing(**{**{k: getattr(listing, k) for k in Listing.__slots__}, "listed": True, "delisted_reason": None})
    assert unpack_listing(ATTACKER6, pack_listing(listed), listed=True) == listed


def test_answers_come_from_memory_and_match_the_database(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    hub.submit(hub.trusted, event(ATTACKER, tool="sipvicious/svmap"), event(ATTACKER6, kind="register"))
    before = {ip: hub.get(f"/v1/check/{ip}", hub.reader).json() for ip in (ATTACKER, ATTACKER6, CLEAN)}
    index = index_of(hub)
    index.refresh(utcnow(), full=True)
    assert index.stats().listed == 2
    no_database(hub, monkeypatch)
    for ip, expected in before.items():
        assert hub.get(f"/v1/check/{ip}", hub.reader).json() == expected
    assert before[ATTACKER]["listed"] is True and before[CLEAN] == {"ip": CLEAN, "listed": False}
    # The same address in another spelling is the same address.
    assert hub.get("/v1/check/::ffff:45.134.26.7", hub.reader).json() == before[ATTACKER]
    # APIBAN v1 and v2, SentryPeer: from memory too.
    apiban = hub.get(f"/api/{hub.reader}/check/{ATTACKER}")
    assert apiban.status_code == 200 and apiban.json() == {
        "ipaddress": [ATTACKER],
        "ID": str(2_000_000_000 + before[ATTACKER]["cursor"]),
    }
    assert hub.get(f"/api/{hub.reader}/check/{CLEAN}").status_code == 404
    v2 = hub.client.post("/api/check", content=f'{{"set":"sip","ipaddress":"{ATTACKER6}"}}', headers=bearer(hub))
    assert v2.status_code == 200 and v2.json()["ipaddress"] == [ATTACKER6]
    v2_clean = hub.client.post("/api/check", content=f'{{"set":"sip","ipaddress":"{CLEAN}"}}', headers=bearer(hub))
    assert v2_clean.status_code == 404 and v2_clean.json() == {"ipaddress": ["not blocked"], "ID": "none"}
    sp = hub.get(f"/ip-addresses/{ATTACKER}", hub.reader)
    assert sp.status_code == 200 and sp.json()["ip_address_found"] == ATTACKER
    assert hub.get(f"/ip-addresses/{CLEAN}", hub.reader).json() == {"message": "No bad actor found"}
    # Loopback may read without a key (anonymous_read), from memory as well.
    local = Hub.__new__(Hub)
    local.client = type(hub.client)(hub.app, client=("127.0.0.1", 50001))
    assert local.client.get(f"/v1/check/{ATTACKER}").json() == before[ATTACKER]
    # A request the fast path cannot answer goes on to the app (400 for a bad address).
    assert hub.get("/v1/check/not-an-address", hub.reader).status_code == 400


def bearer(hub: Hub) -> dict[str, str]:
    return {"Authorization": f"Bearer {hub.reader}"}


def test_local_changes_are_read_at_once(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    index_of(hub)
    no_database(hub, monkeypatch)
    failure = event(ATTACKER2, kind="auth_failure", source="asterisk")
    for key in hub.sensors[:2]:
        hub.submit(key, failure)
    assert hub.get(f"/v1/check/{ATTACKER2}", hub.reader).json() == {"ip": ATTACKER2, "listed": False}
    assert hub.submit(hub.sensors[2], failure)["listed"] == [ATTACKER2]
    listed = hub.get(f"/v1/check/{ATTACKER2}", hub.reader).json()
    assert listed["listed"] is True and listed["reporters"] == 3
    assert hub.post(f"/v1/admin/delist/{ATTACKER2}", hub.admin, params={"reason": "customer NAT"}).status_code == 200
    gone = hub.get(f"/v1/check/{ATTACKER2}", hub.reader).json()
    assert gone["listed"] is False and gone["delisted_reason"] == "customer NAT (by admin)"
    assert hub.get(f"/api/{hub.reader}/check/{ATTACKER2}").status_code == 404


def test_changes_through_another_process_and_revocations_arrive_with_the_next_refresh(hub: Hub) -> None:
    index = index_of(hub)
    other = HubRepo(hub.store, hub.settings)  # another hub process writing to the same database
    now = utcnow()
    _, evidence = other.create_key("other-honeypot", "sensor", trusted=True, now=now)
    from sipwarden.hub.policy import Evidence

    proof = Evidence(ip=ATTACKER, weight=1.0, trusted=True, count=1, reason="honeypot probe", ts=now)
    assert other.add_evidence(evidence.id, [proof], now) == [ATTACKER]
    index.refresh(utcnow(), full=True)
    first = hub.get(f"/v1/check/{ATTACKER}", hub.reader).json()
    assert first["listed"] is True and first["reporters"] == 1
    # New evidence renews a listing without a change-log entry: the refresh finds it by expiry.
    later = now + timedelta(minutes=5)
    pbx = hub.repo.keys()[1]
    more = Evidence(ip=ATTACKER, weight=1.0, trusted=False, count=4, reason="asterisk auth_failure", ts=later)
    other.add_evidence(pbx.id, [more], later)
    index.refresh(utcnow(), full=True)
    renewed = hub.get(f"/v1/check/{ATTACKER}", hub.reader).json()
    assert renewed["reporters"] == 2 and renewed["events"] == 5 and renewed["expires_at"] > first["expires_at"]
    assert other.delist(ATTACKER, "false positive", utcnow())
    index.refresh(utcnow(), full=True)
    assert hub.get(f"/v1/check/{ATTACKER}", hub.reader).json()["delisted_reason"] == "false positive"
    # Revocation: refused at the next refresh, with each interface's own refusal.
    assert hub.get(f"/v1/check/{ATTACKER}", hub.reader).status_code == 200
    assert other.revoke_key("reader", utcnow()) == 1
    index.refresh(utcnow(), full=True)
    assert hub.get(f"/v1/check/{ATTACKER}", hub.reader).status_code == 401
    refused = hub.get(f"/api/{hub.reader}/check/{ATTACKER}")
    assert refused.status_code == 403 and refused.json() == {"ipaddress": "none", "ID": "unauthorized"}
    v2 = hub.client.post("/api/check", content=f'{{"ipaddress":"{ATTACKER}"}}', headers=bearer(hub))
    assert v2.status_code == 403
    assert hub.get(f"/ip-addresses/{ATTACKER}", hub.reader).status_code == 401


def test_a_stale_index_steps_aside_and_keys_are_reread_each_second(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'stale.db'}")
    clock = [100.0]
    hub = Hub(store)
    index = HubIndex(hub.repo, clock=lambda: clock[0])
    assert not index.ready()  # not loaded: the database answers
    index.load(utcnow())
    assert index.ready() and index.key_is_live(hash_key(hub.reader))
    hub.repo.revoke_key("reader", utcnow())
    index.refresh(utcnow())  # woken again within the second: the change log only
    assert index.key_is_live(hash_key(hub.reader))
    clock[0] += REFRESH_SECONDS
    index.refresh(utcnow())
    assert not index.key_is_live(hash_key(hub.reader))
    clock[0] += STALE_SECONDS + 1  # no refresh succeeded for a while
    assert not index.ready()
    index.refresh(utcnow())
    assert index.ready()
    store.close()


def test_load_reads_every_listing_and_recent_delistings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sipwarden.hub.lookup as lookup

    monkeypatch.setattr(lookup, "LOAD_PAGE", 7)  # several pages
    monkeypatch.setattr(lookup, "DELISTED_MAX", 3)
    store = Store.open(f"sqlite:///{tmp_path / 'load.db'}")
    hub = Hub(store)
    ips = [f"45.{134 + i // 250}.{(i // 250) % 250}.{i % 250 + 1}" for i in range(40)]
    hub.submit(hub.trusted, *(event(ip) for ip in ips))
    for ip in ips[:5]:
        assert hub.repo.delist(ip, f"wrong {ip}", utcnow())
    index = HubIndex(hub.repo)
    index.load(utcnow())
    assert sorted(key_address(k) for k in index.listed) == sorted(ips[5:])
    # Only the three newest delistings are remembered.
    assert sorted(key_address(k) for k in index.delisted) == sorted(ips[2:5])
    assert b"wrong 45.134.0.5" in index.check_body(address_key(ips[4]) or 0)
    assert index.check_body(address_key(ips[0]) or 0) == f'{{"ip":"{ips[0]}","listed":false}}'.encode()
    store.close()


def test_hostile_check_requests_get_clear_errors(hub: Hub) -> None:
    index_of(hub)
    headers = bearer(hub)
    for body, status in (
        (b"[" * 2000 + b"]" * 2000, 422),  # nesting deeper than the JSON parser recurses
        (b"\xff\xfe{", 422),  # not UTF-8
        (b'{"ipaddress": 5}', 422),
        (b'{"ipaddress": "not-an-address"}', 400),
        (b'{"ipaddress": "' + b"1" * 5000 + b'"}', 413),  # longer than any check body
        (b"", 422),
    ):
        response = hub.client.post("/api/check", content=body, headers=headers)
        assert response.status_code == status, (body[:40], response.status_code, response.text)
    for path in ("/v1/check/" + "9" * 70, "/v1/check/1.2.3.4%00", "/api/" + "k" * 300 + "/check/1.2.3.4"):
        assert hub.get(path, hub.reader).status_code in (400, 401, 403, 404, 422)


def test_the_index_on_postgresql(postgres_fresh_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store.open(postgres_fresh_url)
    try:
        with Hub(store) as hub:
            hub.submit(hub.trusted, event(ATTACKER), event(ATTACKER6))
            expected = hub.get(f"/v1/check/{ATTACKER}", hub.reader).json()
            index = index_of(hub)
            index.refresh(utcnow(), full=True)
            assert index.stats().listed == 2
            # A fresh process loads from raw rows (aware times from PostgreSQL) and answers the same.
            fresh = HubIndex(hub.repo)
            fresh.load(utcnow())
            assert fresh.check_body(address_key(ATTACKER) or 0) == index.check_body(address_key(ATTACKER) or 0)
            no_database(hub, monkeypatch)
            assert hub.get(f"/v1/check/{ATTACKER}", hub.reader).json() == expected
            assert hub.post(f"/v1/admin/delist/{ATTACKER6}", hub.admin, params={"reason": "test"}).status_code == 200
            assert hub.get(f"/v1/check/{ATTACKER6}", hub.reader).json()["listed"] is False
    finally:
        store.close()
