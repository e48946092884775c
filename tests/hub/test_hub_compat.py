"""The interfaces existing clients speak, driven the way each client drives them (same requests,
same parsing): APIBAN's batch loop (as kamcli's apiban command and apiban-client do), SentryPeer's
routes, and the CrowdSec firewall bouncer's decisions stream."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_testkit import ATTACKER, ATTACKER6, Hub, event, serving

from sipwarden.hub.compat import APIBAN_BATCH, go_duration
from sipwarden.store import Store


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    store = Store.open(f"sqlite:///{tmp_path / 'compat.db'}")
    with Hub(store) as h:
        yield h
    store.close()


def many(n: int) -> list[str]:
    return [f"45.{134 + i // 250}.{(i // 250) % 250}.{i % 250 + 1}" for i in range(n)]


def apiban_fetch(base: str, key: str) -> list[str]:
    """APIBAN's client loop: GET /api/KEY/banned[/ID] until "ID" is "none"."""
    addresses: list[str] = []
    suffix = ""
    for _ in range(100):  # bounded: 100 batches
        with urllib.request.urlopen(f"{base}/api/{key}/banned{suffix}", timeout=10) as response:  # noqa: S310
            assert response.status == 200
            data = json.loads(response.read())
        addresses += data["ipaddress"]
        if data["ID"] == "none":
            return addresses
        suffix = "/" + data["ID"]
    raise AssertionError("the ID cursor never reached none")


def test_apiban_batches_and_cursor(hub: Hub) -> None:
    ips = many(600)
    hub.submit(hub.trusted, *(event(ip) for ip in ips))
    with serving(hub.app) as base:
        assert apiban_fetch(base, hub.reader) == ips
        first = hub.get(f"/api/{hub.reader}/banned").json()
        assert len(first["ipaddress"]) == APIBAN_BATCH and first["ID"].isdigit()
        # Incremental: from the last ID, only what was listed since.
        last = hub.get(f"/api/{hub.reader}/banned/{first['ID']}").json()
        while last["ID"] != "none":
            cursor = last["ID"]
            last = hub.get(f"/api/{hub.reader}/banned/{cursor}").json()
        hub.submit(hub.trusted, event(ATTACKER6))
        assert hub.get(f"/api/{hub.reader}/banned/{cursor}").json()["ipaddress"] == [ATTACKER6]
    assert hub.get("/api/sw_wrong/banned").status_code == 401
    assert hub.get(f"/api/{hub.reader}/banned/abc").status_code == 400


def test_apiban_check_and_post_forms(hub: Hub) -> None:
    hub.submit(hub.trusted, event(ATTACKER))
    listed = hub.get(f"/api/{hub.reader}/check/{ATTACKER}")
    assert listed.status_code == 200 and listed.json()["ipaddress"] == [ATTACKER]
    clean = hub.get(f"/api/{hub.reader}/check/81.2.69.160")
    assert clean.status_code == 404 and clean.json() == {"ipaddress": ["not blocked"], "ID": "none"}
    got = hub.client.post("/api/get", json={"apikey": hub.reader, "id": 0}).json()
    assert got["ipaddress"] == [ATTACKER]
    assert hub.client.post("/api/check", json={"apikey": hub.reader, "ip": ATTACKER}).status_code == 200
    assert hub.client.post("/api/check", json={"apikey": "nope", "ip": ATTACKER}).status_code == 401


def test_sentrypeer_routes(hub: Hub) -> None:
    assert hub.get("/ip-addresses", hub.reader).json() == {"message": "No bad actors found"}
    call = event(
        ATTACKER, kind="call_attempt", target="900441234567890", target_e164="+441234567890", target_country="GB"
    )
    hub.submit(hub.trusted, call)
    body = hub.get("/ip-addresses", hub.reader).json()
    assert body["ip_addresses_total"] == 1
    assert body["ip_addresses"][0]["ip_address"] == ATTACKER
    assert set(body["ip_addresses"][0]) == {"ip_address", "seen_last", "seen_count"}
    assert hub.get(f"/ip-addresses/{ATTACKER}", hub.reader).json()["ip_address_found"] == ATTACKER
    assert hub.get("/ip-addresses/81.2.69.160", hub.reader).status_code == 404
    numbers = hub.get("/numbers", hub.reader).json()
    assert numbers["called_numbers_total"] == 1 and numbers["called_numbers"][0]["called_number"] == "+441234567890"
    assert hub.get("/numbers/441234567890", hub.reader).json() == {"phone_number_found": "+441234567890"}
    assert hub.get("/numbers/+15550000000", hub.reader).status_code == 404


def test_crowdsec_bouncer_stream(hub: Hub) -> None:
    headers = {"X-Api-Key": hub.reader, "User-Agent": "crowdsec-firewall-bouncer/v0.0.31"}
    hub.submit(hub.trusted, event(ATTACKER))
    start = hub.client.get("/v1/decisions/stream", params={"startup": "true"}, headers=headers).json()
    assert start["deleted"] is None
    [decision] = start["new"]
    assert decision["value"] == ATTACKER and decision["scope"] == "Ip" and decision["type"] == "ban"
    assert decision["duration"].endswith("s") and "h" in decision["duration"]
    # Nothing new since the last poll.
    assert hub.client.get("/v1/decisions/stream", headers=headers).json() == {"new": None, "deleted": None}
    hub.submit(hub.trusted, event(ATTACKER6))
    hub.post(f"/v1/admin/delist/{ATTACKER}", hub.admin, params={"reason": "false positive"})
    delta = hub.client.get("/v1/decisions/stream", headers=headers).json()
    assert [d["value"] for d in delta["new"]] == [ATTACKER6]
    assert [d["value"] for d in delta["deleted"]] == [ATTACKER]
    # Each key has its own cursor, kept in the database.
    other = {"X-Api-Key": hub.admin}
    assert [d["value"] for d in hub.client.get("/v1/decisions/stream", headers=other).json()["new"]] == [ATTACKER6]
    live = hub.client.get("/v1/decisions", params={"ip": ATTACKER6}, headers=headers).json()
    assert live[0]["value"] == ATTACKER6
    assert hub.client.get("/v1/decisions", params={"ip": ATTACKER}, headers=headers).json() is None
    assert hub.client.get("/v1/decisions/stream", headers={"X-Api-Key": "bad"}).status_code == 401


def test_go_duration() -> None:
    assert go_duration(7 * 86400) == "168h0m0s"
    assert go_duration(61.9) == "0h1m1s"
    assert go_duration(-5) == "0h0m0s"
