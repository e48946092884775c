"""The dashboard's routes over a real SQLite store: access rules, pages, bans, recordings, escaping."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bench.intel_data import BRUTE, FRAUDSTER
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sipwarden.events import Event, utcnow
from sipwarden.hub.ui import ui_router
from sipwarden.store import Store

LOCAL = ("127.0.0.1", 40000)
REMOTE = ("198.51.100.200", 40000)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "form without a CSRF token"
    return match.group(1)


def login(client: TestClient, password: str) -> int:
    page = client.get("/ui/login")
    r = client.post(
        "/ui/login",
        data={"username": "admin", "password": password, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    return r.status_code


def test_loopback_reads_without_login_remote_needs_one(ui_app: FastAPI, admin_password: str) -> None:
    local = TestClient(ui_app, client=LOCAL)
    r = local.get("/ui/")
    assert r.status_code == 200 and "Top sources" in r.text
    assert "default-src 'none'" in r.headers["content-security-policy"]
    remote = TestClient(ui_app, client=REMOTE)
    r = remote.get("/ui/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    assert remote.get("/ui/api/feed").status_code == 401
    assert login(remote, "wrong") == 401
    assert login(remote, admin_password) == 303
    assert remote.get("/ui/").status_code == 200
    assert remote.get(f"/ui/attackers/{FRAUDSTER}").status_code == 200


def test_overview_lists_and_chart_data(ui_app: FastAPI) -> None:
    html = TestClient(ui_app, client=LOCAL).get("/ui/").text
    assert f'href="/ui/attackers/{BRUTE}"' in html
    assert 'href="/ui/numbers/+2314599711"' in html
    assert '<script type="application/json" id="chart-data">' in html
    for asset in re.findall(r'(?:src|href)="(/ui/static/[^"]+)"', html):
        assert TestClient(ui_app, client=LOCAL).get(asset).status_code == 200
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)


def test_attacker_page_shows_dossier_and_links(ui_app: FastAPI) -> None:
    client = TestClient(ui_app, client=LOCAL)
    html = client.get(f"/ui/attackers/{FRAUDSTER}").text
    assert "+2314599711" in html and "LR" in html and "risk-high" in html
    assert f'<a href="/ui/attackers/{BRUTE}">{BRUTE}</a>' in html  # the brute-forcer, linked
    assert "crack-link" in html and "Zoiper" in html
    assert client.get("/ui/attackers/not-an-ip").status_code == 404
    assert client.get("/ui/attackers/192.0.2.250").status_code == 404


def test_number_page_and_search(ui_app: FastAPI) -> None:
    client = TestClient(ui_app, client=LOCAL)
    html = client.get("/ui/numbers/+2314599711").text
    assert "human-paced" in html and "9011" in html and "4 variants" in html
    assert client.get("/ui/search", params={"q": "9002314599711"}).url.path == "/ui/numbers/+2314599711"
    assert client.get("/ui/search", params={"q": BRUTE}).url.path == f"/ui/attackers/{BRUTE}"
    assert "Zoiper" in client.get("/ui/search", params={"q": "zoip"}).text
    assert client.get("/ui/numbers/12").status_code == 404


def test_hostile_text_is_escaped(ui_app: FastAPI, seeded_store: Store) -> None:
    evil = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    seeded_store.add_events([Event(ts=utcnow(), kind="probe", source="honeypot", src_ip="192.0.2.66", user_agent=evil)])
    client = TestClient(ui_app, client=LOCAL)
    for path in ("/ui/", "/ui/attackers/192.0.2.66", "/ui/search?q=script"):
        html = client.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;" in html


def test_ban_and_unban_need_login_and_csrf(ui_app: FastAPI, seeded_store: Store, admin_password: str) -> None:
    client = TestClient(ui_app, client=REMOTE)
    assert client.post("/ui/bans", data={"ip": BRUTE, "csrf": "x"}).status_code == 401
    assert login(client, admin_password) == 303
    page = client.get("/ui/bans")
    token = csrf_of(page.text)
    assert client.post("/ui/bans", data={"ip": BRUTE, "csrf": "forged"}).status_code == 403
    r = client.post("/ui/bans", data={"ip": BRUTE, "reason": "svcrack <b>", "days": "2", "csrf": token})
    assert r.status_code == 200 and "banned 198.51.100.7" in r.text
    [ban] = seeded_store.active_decisions(utcnow())
    assert (ban.value, ban.origin, ban.action) == (BRUTE, "manual", "ban") and "(by admin)" in ban.reason
    assert "svcrack &lt;b&gt;" in r.text
    assert client.post("/ui/bans", data={"ip": "not-an-ip", "csrf": token}).status_code == 400
    r = client.post("/ui/bans/remove", data={"value": BRUTE, "csrf": token})
    assert "lifted 1" in r.text
    assert seeded_store.active_decisions(utcnow()) == []


def test_recording_is_served_and_traversal_refused(ui_app: FastAPI, seeded_store: Store, tmp_path: Path) -> None:
    client = TestClient(ui_app, client=LOCAL)
    [rec] = seeded_store.events(kind="recording")
    r = client.get(f"/ui/recordings/{rec.id}.wav")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav" and r.content[:4] == b"RIFF"
    secret = tmp_path / "secret.wav"
    secret.write_bytes(b"RIFFsecret")
    for path in ("../secret.wav", str(secret), "../../etc/passwd", "call-lr-1.txt"):
        ev = Event(ts=utcnow(), kind="recording", source="honeypot", src_ip="192.0.2.5", detail={"path": path})
        seeded_store.add_events([ev])
        assert client.get(f"/ui/recordings/{ev.id}.wav").status_code == 404
    assert client.get("/ui/recordings/..%2F..%2Fetc%2Fpasswd.wav").status_code == 404
    assert client.get(f"/ui/recordings/{rec.id}.wav", headers={}).status_code == 200
    assert "<audio" in client.get("/ui/recordings").text


def test_feed_cursor(ui_app: FastAPI, seeded_store: Store) -> None:
    client = TestClient(ui_app, client=LOCAL)
    first = client.get("/ui/api/feed").json()
    assert first["events"] and first["cursor"] == seeded_store.last_event_id()
    assert client.get("/ui/api/feed", params={"after": first["cursor"]}).json()["events"] == []
    assert client.get("/ui/api/feed", params={"after": "x"}).status_code == 400


def test_static_assets_are_a_fixed_list(ui_app: FastAPI) -> None:
    client = TestClient(ui_app, client=LOCAL)
    assert client.get("/ui/static/chart.umd.min.js").text.startswith("/*!\n * Chart.js v4")
    assert client.get("/ui/static/..%2Fauth.py").status_code == 404
    assert client.get("/ui/static/README.txt").status_code == 404


@pytest.mark.parametrize("open_on_loopback", [False])
def test_loopback_can_be_closed(seeded_store: Store, open_on_loopback: bool) -> None:
    from sipwarden.config import settings_from_mapping

    settings = settings_from_mapping({"ui": {"open_on_loopback": open_on_loopback}})
    app = FastAPI()
    app.include_router(ui_router(seeded_store, settings), prefix="/ui")
    assert TestClient(app, client=LOCAL).get("/ui/", follow_redirects=False).status_code == 303
