"""The live web page and its API, over a real SQLite store."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from tests.servekit import serving

from sipwarden.events import Event, utcnow
from sipwarden.hub.web import MAX_API_LIMIT, create_web_app
from sipwarden.store import Store

STATIC = Path(__file__).resolve().parents[2] / "src" / "sipwarden" / "hub" / "static"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path / 'web.db'}")
    yield opened
    opened.close()


@pytest.fixture
def client(store: Store) -> TestClient:
    return TestClient(create_web_app(store, title="edge <PBX> & co"))


def probe(minutes_ago: float = 0, ip: str = "192.0.2.1", **kw: object) -> Event:
    return Event(ts=utcnow() - timedelta(minutes=minutes_ago), kind="probe", source="honeypot", src_ip=ip, **kw)  # type: ignore[arg-type]


def test_page_is_self_contained_and_escaped(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "edge &lt;PBX&gt; &amp; co" in r.text and "<PBX>" not in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    # every script and style the page loads is served by sipwarden itself
    assets = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert assets and all(not a.startswith(("http:", "https:", "//")) for a in assets)
    assert "<script>" not in r.text  # no inline script: the CSP would block it anyway
    for asset in assets:
        served = client.get("/" + asset)
        assert served.status_code == 200, asset
    assert client.get("/static/live.js").headers["content-type"].startswith("text/javascript")


def test_script_never_writes_html() -> None:
    script = (STATIC / "live.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script.replace("never innerHTML", ""), sink
    assert "textContent" in script
    assert "api/events" in script and "after" in script


def test_health_check(client: TestClient, store: Store) -> None:
    assert client.get("/health-check").json() == {"status": "ok"}
    broken = OperationalError("SELECT 1", {}, Exception("disk I/O error"))
    with mock.patch.object(store, "ping", side_effect=broken):
        r = client.get("/health-check")
    assert r.status_code == 503 and r.json()["status"] == "error"


def test_first_poll_then_only_new_events(client: TestClient, store: Store) -> None:
    old = [probe(10 - i) for i in range(5)]
    store.add_events(old)
    first = client.get("/api/events", params={"limit": 3}).json()
    assert [e["id"] for e in first["events"]] == [e.id for e in old[2:]]  # newest three, oldest first
    assert first["cursor"] == old[-1].id
    # nothing new: same cursor back
    idle = client.get("/api/events", params={"after": first["cursor"]}).json()
    assert idle == {"events": [], "cursor": old[-1].id, "limit": 100}
    new = [probe(0, ip="198.51.100.7", user_agent="<script>alert(1)</script>"), probe(0)]
    store.add_events(new)
    got = client.get("/api/events", params={"after": first["cursor"]}).json()
    assert [e["id"] for e in got["events"]] == [e.id for e in new]
    assert got["events"][0]["user_agent"] == "<script>alert(1)</script>"  # data, served as JSON
    assert got["cursor"] == new[-1].id


def test_a_burst_larger_than_a_page_is_read_in_pages(client: TestClient, store: Store) -> None:
    assert client.get("/api/events").json()["cursor"] is None  # empty store: no cursor yet
    store.add_events([probe(1)])
    cursor = client.get("/api/events").json()["cursor"]
    burst = [probe(0, src_port=i + 1) for i in range(25)]
    store.add_events(burst)
    seen: list[str] = []
    sizes: list[int] = []
    for _ in range(10):
        page = client.get("/api/events", params={"after": cursor, "limit": 10}).json()
        sizes.append(len(page["events"]))
        if not page["events"]:
            break
        seen += [e["id"] for e in page["events"]]
        cursor = page["cursor"]
    assert sizes == [10, 10, 5, 0]
    assert seen == [e.id for e in burst]


def test_filters_like_the_cli(client: TestClient, store: Store) -> None:
    a = probe(120, ip="192.0.2.1")
    b = probe(5, ip="2001:db8::1")
    c = Event(ts=utcnow(), kind="auth_failure", source="asterisk", src_ip="192.0.2.1")
    store.add_events([a, b, c])

    def ids(**params: str) -> list[str]:
        r = client.get("/api/events", params=params)
        assert r.status_code == 200, r.text
        return [e["id"] for e in r.json()["events"]]

    assert ids(since="1h") == [b.id, c.id]
    assert ids(kind="auth_failure") == [c.id]
    assert ids(ip="192.0.2.1") == [a.id, c.id]
    assert ids(ip="2001:DB8::1") == [b.id]
    assert ids(after=a.id, kind="probe") == [b.id]


@pytest.mark.parametrize(
    ("params", "status", "text"),
    [
        ({"since": "last tuesday"}, 400, "neither a span"),
        ({"kind": "bogus"}, 400, "unknown event kind"),
        ({"after": "1' OR '1'='1"}, 400, "event id"),
        ({"limit": str(MAX_API_LIMIT + 1)}, 422, "limit"),
        ({"limit": "0"}, 422, "limit"),
    ],
)
def test_bad_parameters_are_clear_errors(client: TestClient, params: dict[str, str], status: int, text: str) -> None:
    r = client.get("/api/events", params=params)
    assert r.status_code == status
    assert text in r.text


# --- in a real browser ------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: Virtual time Chromium gives the page: the script polls once a second, so about four polls.
VIRTUAL_MS = 4000


@pytest.mark.tools
def test_browser_shows_events_live_and_inert(store: Store) -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium not installed (make system-deps)")
        pytest.skip("chromium not installed")
    hostile = '<img src=x onerror="document.title=1">'
    first = [probe(3, ip="192.0.2.1"), probe(2, ip="2001:db8::5", src_port=5070, user_agent=hostile)]
    later = [Event(ts=utcnow(), kind="auth_success", source="honeypot", src_ip="198.51.100.7", username="1001")]
    store.add_events(first)
    real_events = store.events
    calls: list[dict[str, object]] = []

    def events_spy(**kw: Any) -> list[Event]:
        # The second poll finds a new event, exactly as if a sensor had just recorded it.
        calls.append(kw)
        if len(calls) == 2:
            store.add_events(later)
        return real_events(**kw)

    with mock.patch.object(store, "events", side_effect=events_spy), serving(create_web_app(store)) as url:
        argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--virtual-time-budget={VIRTUAL_MS}"]
        dom = subprocess.run([*argv, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True).stdout
    assert len(calls) >= 3, "the page did not keep polling"
    assert calls[0]["after_id"] is None and calls[1]["after_id"] == first[-1].id
    ids = re.findall(r'<tr data-id="([0-9A-Z]{26})"', dom)
    assert ids == [later[0].id, first[1].id, first[0].id]  # newest on top
    assert "[2001:db8::5]:5070" in dom
    # the attacker's markup is text in a cell, not an element
    assert "&lt;img src=x onerror=" in dom and "<img" not in dom
    assert "<title>sipwarden — live events</title>" in dom
    assert 'class="ok"' in dom
