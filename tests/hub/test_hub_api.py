"""The hub API over a real store (SQLite and PostgreSQL): keys, submission, listing policy,
expiry, delisting, reports, feeds' caching headers and cursors."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from hub_testkit import ATTACKER, ATTACKER2, ATTACKER6, Hub, event

from sipwarden.events import utcnow
from sipwarden.hub.policy import Evidence
from sipwarden.hub.settings import HubSettings
from sipwarden.store import Store


@pytest.fixture
def hub(store: Store) -> Iterator[Hub]:
    with Hub(store, HubSettings(allowlist=["81.2.69.0/24"])) as h:
        yield h


# -- keys ---------------------------------------------------------------------------------------------


def test_reading_needs_a_key_outside_anonymous_networks(hub: Hub) -> None:
    assert hub.get("/v1/blocklist").status_code == 401
    assert hub.get("/v1/blocklist", "sw_not-a-key").status_code == 401
    assert hub.get("/v1/blocklist", hub.reader).status_code == 200
    assert hub.get("/v1/blocklist", headers={"X-Api-Key": hub.reader}).status_code == 200
    assert hub.get("/health-check").json() == {"status": "ok"}


def test_anonymous_read_from_a_configured_network(store: Store) -> None:
    with Hub(store, HubSettings(anonymous_read=["127.0.0.0/8"]), client_host="127.0.0.1") as local:
        assert local.get("/v1/blocklist").status_code == 200
        # Reading anonymously is all: submitting still needs a sensor key.
        assert local.post("/v1/events", json=[]).status_code == 401
    with Hub(store, HubSettings(anonymous_read=[]), client_host="127.0.0.1") as closed:
        assert closed.get("/v1/blocklist").status_code == 401


def test_roles_are_enforced(hub: Hub) -> None:
    assert hub.post("/v1/events", hub.reader, json=[]).status_code == 403
    assert hub.post(f"/v1/admin/delist/{ATTACKER}?reason=x", hub.sensors[0]).status_code == 403
    assert hub.get("/v1/admin/reports", hub.reader).status_code == 403
    assert hub.get("/v1/admin/reports", hub.admin).status_code == 200


def test_keys_are_stored_hashed_and_revocable(hub: Hub) -> None:
    with hub.store.engine.connect() as conn:
        stored = " ".join(str(v) for row in conn.exec_driver_sql("SELECT * FROM hub_keys") for v in row)
    assert hub.reader not in stored and hub.reader[3:] not in stored
    assert hub.repo.revoke_key("reader", utcnow()) == 1
    hub.app.state.hub.auth._cache.clear()  # the per-process cache keeps a key for KEY_CACHE_SECONDS
    assert hub.get("/v1/blocklist", hub.reader).status_code == 401
    assert hub.repo.revoke_key("reader", utcnow()) == 0


# -- submission ---------------------------------------------------------------------------------------


def test_validation_names_the_item_and_field(hub: Hub) -> None:
    good = event(ATTACKER)
    bad = [good, {**good, "kind": "teleport"}, {**good, "src_port": 70000}, {**good, "colour": "red"}]
    response = hub.post("/v1/events", hub.trusted, json=bad)
    assert response.status_code == 422
    locs = {tuple(err["loc"]) for err in response.json()["detail"]}
    assert ("body", 1, "kind") in locs
    assert ("body", 2, "src_port") in locs
    assert ("body", 3, "colour") in locs
    # Nothing of a rejected batch is kept.
    assert hub.store.count_events() == 0
    assert hub.plain() == []


@pytest.mark.parametrize(
    ("body", "content_type", "where"),
    [
        (b"{not json", "application/json", ["body"]),
        (b'{"an": "object"}', "application/json", ["body"]),
        (b"\xff\xfe", "application/json", ["body"]),
        (b"[]", "text/csv", ["header", "content-type"]),
        (b'{"ts": "2026-01-01T00:00:00Z"}\nnope\n', "application/x-ndjson", ["body", "line 2"]),
    ],
)
def test_bad_bodies_are_clear_errors(hub: Hub, body: bytes, content_type: str, where: list[str]) -> None:
    response = hub.post("/v1/events", hub.trusted, content=body, headers={"Content-Type": content_type})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == where


def test_ndjson_batches_are_accepted(hub: Hub) -> None:
    lines = "\n".join(json.dumps(event(ip)) for ip in (ATTACKER, ATTACKER6)) + "\n"
    response = hub.post("/v1/events", hub.trusted, content=lines, headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 202
    assert response.json()["accepted"] == 2
    assert sorted(hub.plain()) == sorted([ATTACKER, ATTACKER6])
    assert {e.sensor for e in hub.store.events()} == {"honeypot-1"}


def test_size_bounds(store: Store) -> None:
    with Hub(store, HubSettings(max_body_bytes=2048, max_batch_events=3)) as small:
        many = [event(ATTACKER)] * 4
        assert small.post("/v1/events", small.trusted, json=many).status_code == 422
        assert small.post("/v1/events", small.trusted, content=b"[" + b" " * 4000 + b"]").status_code == 413
        long_agent = event(ATTACKER, user_agent="x" * 5000)
        response = small.post("/v1/events", small.trusted, json=[long_agent])
        assert response.status_code in (413, 422)


def test_rate_limit_per_key(store: Store) -> None:
    with Hub(store, HubSettings(rate_per_second=0.001, rate_burst=2)) as slow:
        assert (
            slow.post(
                "/v1/events", slow.sensors[0], json=[event(ATTACKER, kind="auth_failure", source="asterisk")]
            ).status_code
            == 202
        )
        assert (
            slow.post(
                "/v1/events", slow.sensors[0], json=[event(ATTACKER, kind="auth_failure", source="asterisk")]
            ).status_code
            == 202
        )
        limited = slow.post("/v1/events", slow.sensors[0], json=[event(ATTACKER)])
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1
        # Another key has its own bucket.
        assert slow.post("/v1/events", slow.sensors[1], json=[event(ATTACKER)]).status_code == 202


# -- listing policy -----------------------------------------------------------------------------------


def test_one_untrusted_reporter_cannot_list_three_can(hub: Hub) -> None:
    failure = event(ATTACKER, kind="auth_failure", source="asterisk")
    for _ in range(50):  # one reporter repeating itself is still one reporter
        hub.submit(hub.sensors[0], failure)
    assert hub.plain() == []
    hub.submit(hub.sensors[1], failure)
    assert hub.plain() == []
    result = hub.submit(hub.sensors[2], failure)
    assert result["listed"] == [ATTACKER]
    assert hub.plain() == [ATTACKER]
    check = hub.get(f"/v1/check/{ATTACKER}", hub.reader).json()
    assert check["listed"] is True and check["reporters"] == 3


def test_untrusted_honeypot_events_count_as_one_reporter(hub: Hub) -> None:
    hub.submit(hub.sensors[0], event(ATTACKER))
    assert hub.plain() == []


def test_benign_events_are_no_evidence(hub: Hub) -> None:
    for key in hub.sensors[:3]:
        hub.submit(
            key,
            event(ATTACKER, kind="auth_success", source="asterisk"),
            event(ATTACKER, kind="call_attempt", source="asterisk"),
        )
    assert hub.plain() == []


def test_trusted_honeypot_evidence_lists_at_once(hub: Hub) -> None:
    result = hub.submit(hub.trusted, event(ATTACKER, tool="sipvicious/svmap"), event(ATTACKER6, kind="register"))
    assert sorted(result["listed"]) == sorted([ATTACKER, ATTACKER6])
    assert hub.get(f"/v1/check/{ATTACKER}", hub.reader).json()["reason"] == "honeypot probe (sipvicious/svmap)"


def test_trusted_ban_decision_with_evidence_lists(hub: Hub) -> None:
    now = utcnow().isoformat()
    ban = {
        "ts": now,
        "scope": "ip",
        "value": ATTACKER,
        "action": "ban",
        "scenario": "sip/bruteforce",
        "reason": "20 failures",
    }
    assert hub.post("/v1/decisions", hub.trusted, json=[ban]).json()["listed"] == []  # no evidence: not enough
    proven = {**ban, "event_ids": ["01KQ0000000000000000000000"]}
    assert hub.post("/v1/decisions", hub.trusted, json=[proven]).json()["listed"] == [ATTACKER]
    bad = hub.post("/v1/decisions", hub.trusted, json=[{**ban, "value": "not-an-ip"}])
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", 0, "value"]


@pytest.mark.parametrize(
    "ip",
    [
        "10.1.2.3",
        "192.168.1.10",
        "172.16.5.5",
        "127.0.0.1",
        "100.64.1.1",
        "169.254.1.1",
        "::1",
        "fe80::1",
        "fd00::5",
        "192.0.2.7",
        "224.0.0.1",
        "::ffff:10.0.0.1",
        "81.2.69.160",
    ],
)
def test_private_reserved_and_allowlisted_are_never_listed(hub: Hub, ip: str) -> None:
    result = hub.submit(hub.trusted, event(ip))
    assert result["listed"] == []
    for key in hub.sensors:
        hub.submit(key, event(ip, kind="auth_failure", source="asterisk"))
    assert hub.plain() == []


def test_expiry_and_renewal(hub: Hub) -> None:
    repo, days = hub.repo, hub.settings.listing_days
    t0 = utcnow()
    evidence = Evidence(ip=ATTACKER, weight=1.0, trusted=True, count=1, reason="honeypot probe", ts=t0)
    assert repo.add_evidence("k1", [evidence], t0) == [ATTACKER]
    first = repo.listing(ATTACKER)
    assert first is not None and first.expires_at == t0 + timedelta(days=days)
    # New evidence renews without a new change (the address was listed all along).
    later = t0 + timedelta(days=days - 1)
    assert repo.add_evidence("k1", [evidence], later) == []
    renewed = repo.listing(ATTACKER)
    assert renewed is not None and renewed.expires_at == later + timedelta(days=days) and renewed.seq == first.seq
    assert repo.sweep_expired(t0 + timedelta(days=days + 0.5)) == 0
    assert repo.sweep_expired(later + timedelta(days=days, seconds=1)) == 1
    gone = repo.listing(ATTACKER)
    assert gone is not None and not gone.listed and gone.delisted_reason == "expired"
    assert repo.listed_ips() == []


def test_admin_delists_with_a_reason(hub: Hub) -> None:
    hub.submit(hub.trusted, event(ATTACKER), event(ATTACKER2))
    assert hub.post(f"/v1/admin/delist/{ATTACKER}", hub.admin, params={"reason": "customer NAT"}).status_code == 200
    assert hub.post(f"/v1/admin/delist/{ATTACKER}", hub.admin, params={"reason": "again"}).status_code == 404
    assert hub.plain() == [ATTACKER2]
    check = hub.get(f"/v1/check/{ATTACKER}", hub.reader).json()
    assert check["listed"] is False and check["delisted_reason"] == "customer NAT (by admin)"
    # Only new evidence lists it again.
    assert hub.submit(hub.trusted, event(ATTACKER))["listed"] == [ATTACKER]


def test_web_reports_wait_for_an_admin(hub: Hub) -> None:
    form = hub.get("/report")
    assert form.status_code == 200 and "<form" in form.text
    sent = hub.client.post("/report", data={"ip": ATTACKER, "evidence": "REGISTER flood <script>", "contact": "noc@x"})
    assert sent.status_code == 201 and "waiting for review" in sent.text and "<script>" not in sent.text
    assert hub.client.post("/report", data={"ip": "nonsense", "evidence": "x"}).status_code == 400
    assert hub.client.post("/report", data={"ip": ATTACKER}).status_code == 400
    assert hub.plain() == []
    pending = hub.get("/v1/admin/reports", hub.admin).json()["reports"]
    assert [r["ip"] for r in pending] == [ATTACKER]
    accepted = hub.post(f"/v1/admin/reports/{pending[0]['id']}/accept", hub.admin)
    assert accepted.json()["status"] == "accepted"
    assert hub.plain() == [ATTACKER]
    assert hub.post(f"/v1/admin/reports/{pending[0]['id']}/reject", hub.admin).status_code == 404


# -- feeds --------------------------------------------------------------------------------------------


def test_etag_and_not_modified(hub: Hub) -> None:
    hub.submit(hub.trusted, event(ATTACKER))
    first = hub.get("/v1/blocklist?format=nft", hub.reader)
    etag = first.headers["ETag"]
    again = hub.get("/v1/blocklist?format=nft", hub.reader, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    hub.submit(hub.trusted, event(ATTACKER2))
    changed = hub.get("/v1/blocklist?format=nft", hub.reader, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag and ATTACKER2 in changed.text


def test_gzip(hub: Hub) -> None:
    hub.submit(hub.trusted, *(event(f"45.134.{i}.{j}") for i in range(2) for j in range(1, 200)))
    raw = hub.client.get("/v1/blocklist", headers={"Authorization": f"Bearer {hub.reader}", "Accept-Encoding": "gzip"})
    assert raw.headers["Content-Encoding"] == "gzip"
    assert len(raw.text.split()) == 398
    stream = hub.client.stream(
        "GET", "/v1/blocklist", headers={"Authorization": f"Bearer {hub.reader}", "Accept-Encoding": "gzip"}
    )
    with stream as response:
        compressed = b"".join(response.iter_raw())
    assert len(compressed) < len(raw.content) / 2
    assert gzip.decompress(compressed) == raw.content


def test_cursor_sync(hub: Hub) -> None:
    hub.submit(hub.trusted, event(ATTACKER))
    first = hub.get("/v1/blocklist?format=json&since=0", hub.reader).json()
    assert [a["ip"] for a in first["added"]] == [ATTACKER] and first["removed"] == []
    cursor = first["cursor"]
    assert hub.get(f"/v1/blocklist?format=json&since={cursor}", hub.reader).json()["added"] == []
    hub.submit(hub.trusted, event(ATTACKER2))
    hub.post(f"/v1/admin/delist/{ATTACKER}", hub.admin, params={"reason": "test"})
    delta = hub.get(f"/v1/blocklist?format=json&since={cursor}", hub.reader).json()
    assert [a["ip"] for a in delta["added"]] == [ATTACKER2]
    assert delta["removed"] == [ATTACKER]
    assert delta["cursor"] > cursor
    assert hub.get("/v1/blocklist?format=nft&since=0", hub.reader).status_code == 400
    assert hub.get("/v1/blocklist?format=xml", hub.reader).status_code == 400


def test_numbers_feed_from_trusted_honeypots(hub: Hub) -> None:
    call = event(ATTACKER, kind="call_attempt", target="0023276123456", target_e164="+23276123456", target_country="SL")
    hub.submit(hub.trusted, call, call)
    hub.submit(hub.sensors[0], event(ATTACKER2, kind="call_attempt", target_e164="+4930123456", target_country="DE"))
    numbers = hub.get("/v1/numbers", hub.reader).json()
    assert numbers["numbers"] == [{**numbers["numbers"][0], "number": "+23276123456", "country": "SL", "count": 2}]
    assert hub.get("/v1/numbers?format=plain", hub.reader).text == "+23276123456\n"
    assert hub.get("/v1/numbers?format=csv", hub.reader).text.startswith("number,country,count")


def test_concurrent_first_reports_of_one_address(store: Store) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from sipwarden.hub.repo import HubRepo

    repo = HubRepo(store, HubSettings())
    now = utcnow()

    def report(i: int) -> list[str]:
        ev = Evidence(ip=ATTACKER, weight=1.0, trusted=False, count=1, reason="auth_failure", ts=now)
        return repo.add_evidence(f"key{i:023d}", [ev], now)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(report, range(8)))
    # Every report counted, and the address listed exactly once (by whichever was third).
    assert sum(len(r) for r in results) == 1
    listing = repo.listing(ATTACKER)
    assert listing is not None and listing.reporters == 8 and listing.listed
    assert [c.op for c, _ in repo.changes(0)] == ["add"]
