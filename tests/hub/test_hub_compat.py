"""The interfaces existing clients speak, driven the way each client drives them (same requests,
same parsing): APIBAN's batch loop (as kamcli's apiban command and apiban-client do), SentryPeer's
routes, and the CrowdSec firewall bouncer's decisions stream."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hub_testkit import ATTACKER, ATTACKER6, Hub, event, serving

from sipwarden.hub.compat import APIBAN_BATCH, APIBAN_ID_BASE, go_duration
from sipwarden.store import Store


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    store = Store.open(f"sqlite:///{tmp_path / 'compat.db'}")
    with Hub(store) as h:
        yield h
    store.close()


def many(n: int) -> list[str]:
    return [f"45.{134 + i // 250}.{(i // 250) % 250}.{i % 250 + 1}" for i in range(n)]


def apiban_fetch(base: str, key: str, start: str = "") -> list[str]:
    """APIBAN's v1 client loop (palner/apiban clients/go, kamcli): GET /api/KEY/banned[/ID] until
    "ID" is "none", which comes as 400 `{"ipaddress": ["no new bans"], "ID": "none"}`."""
    addresses: list[str] = []
    suffix = f"/{start}" if start else ""
    for _ in range(100):  # bounded: 100 batches
        try:
            with urllib.request.urlopen(f"{base}/api/{key}/banned{suffix}", timeout=10) as response:  # noqa: S310
                assert response.status == 200
                data = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            assert exc.code == 400
            assert json.loads(exc.read()) == {"ipaddress": ["no new bans"], "ID": "none"}
            return addresses
        addresses += data["ipaddress"]
        suffix = "/" + data["ID"]
    raise AssertionError("the ID cursor never reached none")


def golib_post(base: str, path: str, key: str, payload: dict[str, str]) -> tuple[int, Any]:
    """One request as apiban/golib's queryServerv2 sends it: POST, `Authorization: Bearer KEY`, the
    JSON body from json.Marshal (no spaces) and no Content-Type header at all."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    parts = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        # http.client sends only the headers given (and Host, Content-Length), like Go's client.
        conn.request("POST", f"/api/{path}", body=body, headers={"Authorization": "Bearer " + key})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def golib_banned(base: str, key: str, start: str = "100") -> tuple[list[str], str]:
    """golib.Banned: the same body `{"set":"sip","id":START}` again and again until "ID" is "none"
    (200 with addresses, or 400/403/404 with "no new bans"); returns the addresses and the last ID."""
    addresses: list[str] = []
    last = start
    for _ in range(100):
        status, data = golib_post(base, "get", key, {"set": "sip", "id": start})
        if status in (400, 403, 404):
            assert data["ID"] == "none" and data["ipaddress"][0] == "no new bans", (status, data)
            return addresses, last
        assert status == 200, (status, data)
        if data["ID"] == "none":
            return addresses, last
        last = data["ID"]
        addresses += data["ipaddress"]
    raise AssertionError("golib's loop would never end")


def golib_check(base: str, key: str, ip: str) -> bool:
    """golib.Check: 200 is blocked (unless the list says "not blocked"); 400/403/404 are not."""
    status, data = golib_post(base, "check", key, {"set": "sip", "ipaddress": ip})
    if status in (400, 403, 404):
        return False
    assert status == 200, (status, data)
    return data["ipaddress"] != ["not blocked"]


def test_apiban_batches_and_cursor(hub: Hub) -> None:
    ips = many(600)
    hub.submit(hub.trusted, *(event(ip) for ip in ips))
    with serving(hub.app) as base:
        assert apiban_fetch(base, hub.reader) == ips
        # Start values clients use: golib's "100", the v1 Go client's "a year ago" timestamp.
        assert apiban_fetch(base, hub.reader, "100") == ips
        assert apiban_fetch(base, hub.reader, str(int(time.time()) - 365 * 86400)) == ips
        first = hub.get(f"/api/{hub.reader}/banned").json()
        assert len(first["ipaddress"]) == APIBAN_BATCH and int(first["ID"]) > APIBAN_ID_BASE
        # Incremental: from the last ID, only what was listed since.
        cursor = first["ID"]
        last = hub.get(f"/api/{hub.reader}/banned/{cursor}")
        while last.status_code == 200:
            cursor = last.json()["ID"]
            last = hub.get(f"/api/{hub.reader}/banned/{cursor}")
        assert last.status_code == 400 and last.json() == {"ipaddress": ["no new bans"], "ID": "none"}
        hub.submit(hub.trusted, event(ATTACKER6))
        assert hub.get(f"/api/{hub.reader}/banned/{cursor}").json()["ipaddress"] == [ATTACKER6]
    wrong = hub.get("/api/sw_wrong/banned")
    assert wrong.status_code == 403 and wrong.json() == {"ipaddress": "none", "ID": "unauthorized"}
    assert hub.get(f"/api/{hub.reader}/banned/abc").status_code == 400


def test_apiban_check_and_post_forms(hub: Hub) -> None:
    hub.submit(hub.trusted, event(ATTACKER))
    listed = hub.get(f"/api/{hub.reader}/check/{ATTACKER}")
    assert listed.status_code == 200 and listed.json()["ipaddress"] == [ATTACKER]
    clean = hub.get(f"/api/{hub.reader}/check/81.2.69.160")
    assert clean.status_code == 404 and clean.json() == {"ipaddress": ["not blocked"], "ID": "none"}
    # The older sipwarden form of the POST bodies (key in the body) still works.
    got = hub.client.post("/api/get", json={"apikey": hub.reader, "id": 0}).json()
    assert got["ipaddress"] == [ATTACKER]
    assert hub.client.post("/api/check", json={"apikey": hub.reader, "ip": ATTACKER}).status_code == 200
    refused = hub.client.post("/api/check", json={"apikey": "nope", "ip": ATTACKER})
    assert refused.status_code == 403 and refused.json() == {"ipaddress": "none", "ID": "unauthorized"}


def test_apiban_v2_as_golib_sends_it(hub: Hub) -> None:
    """apiban/golib (the library of apiban-client-nftables): POST /api/get with the same body until
    "ID" is "none", POST /api/check with `ipaddress`, Bearer key, no Content-Type."""
    ips = many(600)
    hub.submit(hub.trusted, *(event(ip) for ip in ips))
    with serving(hub.app) as base:
        got, last = golib_banned(base, hub.reader)
        assert got == ips  # every address exactly once, in order
        # The client keeps the last ID (its LKID) and starts from it next time: only what is new.
        assert golib_banned(base, hub.reader, last) == ([], last)
        hub.submit(hub.trusted, event(ATTACKER6))
        assert golib_banned(base, hub.reader, last)[0] == [ATTACKER6]
        # "FULL" (LKID reset to 100) gets the whole list again, a walk at a time.
        assert golib_banned(base, hub.reader)[0] == [*ips, ATTACKER6]
        assert golib_check(base, hub.reader, ips[0]) is True
        assert golib_check(base, hub.reader, "81.2.69.160") is False
        status, data = golib_post(base, "check", hub.reader, {"set": "sip", "ipaddress": ips[0]})
        assert status == 200 and data["ipaddress"] == [ips[0]] and int(data["ID"]) > APIBAN_ID_BASE
        status, data = golib_post(base, "get", "sw_wrong", {"set": "sip", "id": "100"})
        assert status == 403 and data == {"ipaddress": "none", "ID": "unauthorized"}


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
