"""The dashboard in a real browser (Playwright driving Debian's Chromium) against a seeded store.

Screenshots are kept under test-artifacts/ui/ for people to look at; the assertions are what counts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bench.intel_data import BRUTE, FRAUDSTER
from fastapi import FastAPI
from tests.servekit import serving

from sipwarden.events import utcnow
from sipwarden.store import Store

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
#: Milliseconds any single browser wait may take on a busy 2-core machine.
WAIT_MS = 20_000

pytestmark = pytest.mark.tools


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium not installed (scripts/install-system-deps.sh)")
        pytest.skip("chromium not installed")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def site(ui_app: FastAPI) -> Iterator[str]:
    with serving(ui_app) as url:
        yield url


class Recorder:
    """Every request a page makes, to prove none leaves sipwarden."""

    def __init__(self, page: Any) -> None:
        self.urls: list[str] = []
        page.on("request", lambda request: self.urls.append(request.url))

    def assert_only(self, base: str) -> None:
        assert self.urls, "no requests recorded"
        outside = [u for u in self.urls if not u.startswith(base + "/")]
        assert not outside, f"requests outside sipwarden: {outside}"


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_overview_renders_charts_and_feed(browser: Any, site: str) -> None:
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    requests = Recorder(page)
    page.goto(f"{site}/ui/")
    page.wait_for_function("window.sipwardenCharts && window.sipwardenCharts.length === 3", timeout=WAIT_MS)
    sizes = page.eval_on_selector_all("canvas", "cs => cs.map(c => [c.id, c.width, c.height])")
    assert {s[0] for s in sizes} == {"chart-hours", "chart-countries", "chart-kinds"}
    assert all(w > 50 and h > 50 for _, w, h in sizes)
    # the hourly chart holds the scenario's events; the countries chart shows Liberia
    drawn = page.evaluate("window.sipwardenCharts.map(c => c.data.datasets[0].data.reduce((a, b) => a + b, 0))")
    assert drawn[0] >= 2 and drawn[1] >= 5 and drawn[2] > 0  # imported history is charted, not an empty week
    page.wait_for_selector("#feed tr", timeout=WAIT_MS)
    assert page.locator("#feed-status").text_content() == "live"
    assert page.locator(f"#top-sources a[href='/ui/attackers/{BRUTE}']").count() == 1
    shot(page, "overview")
    requests.assert_only(site)
    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone_requests = Recorder(phone)
    phone.goto(f"{site}/ui/")
    phone.wait_for_function("window.sipwardenCharts && window.sipwardenCharts.length === 3", timeout=WAIT_MS)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"page wider than a phone: {width}px"
    shot(phone, "overview-phone")
    phone_requests.assert_only(site)


def test_attacker_page_shows_dossier_with_brute_forcer_and_number(browser: Any, site: str) -> None:
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    requests = Recorder(page)
    page.goto(f"{site}/ui/attackers/{FRAUDSTER}")
    assert page.locator("#numbers a.number").first.text_content() == "+2314599711"
    assert "LR" in (page.locator("#numbers").text_content() or "")
    link = page.locator("#links tr.crack-link")
    assert link.count() == 1
    assert BRUTE in (link.text_content() or "") and "1001" in (link.text_content() or "")
    assert page.locator("#facet-dial td.v").count() == 4
    shot(page, "attacker")
    # follow the link to the brute-forcer's own dossier
    page.locator(f"#links a.linked[href='/ui/attackers/{BRUTE}']").click()
    page.wait_for_url(f"{site}/ui/attackers/{BRUTE}", timeout=WAIT_MS)
    assert "automated" in (page.locator("#cadence").text_content() or "")
    page.goto(f"{site}/ui/numbers/+2314599711")
    assert page.locator("#variants tbody tr").count() == 4
    assert "human-paced" in (page.locator("#cadence").text_content() or "")
    shot(page, "number")
    requests.assert_only(site)


def test_recording_plays(browser: Any, site: str) -> None:
    page = browser.new_page()
    requests = Recorder(page)
    page.goto(f"{site}/ui/recordings")
    audio = page.locator("audio").first
    audio.evaluate("a => { a.muted = true; return a.play(); }")
    page.wait_for_function(
        "() => { const a = document.querySelector('audio'); return a.readyState >= 2 && a.currentTime > 0.2; }",
        timeout=WAIT_MS,
    )
    assert audio.evaluate("a => a.error") is None
    assert audio.evaluate("a => a.duration") == pytest.approx(2.0, abs=0.1)
    shot(page, "recordings")
    requests.assert_only(site)


def test_ban_and_unban_through_the_page(browser: Any, site: str, seeded_store: Store, admin_password: str) -> None:
    page = browser.new_page()
    requests = Recorder(page)
    page.goto(f"{site}/ui/bans")
    assert page.locator("#ban-form").count() == 0  # reading is open on loopback; acting is not
    page.goto(f"{site}/ui/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", admin_password)
    page.click("form.login button")
    page.wait_for_url(f"{site}/ui/", timeout=WAIT_MS)
    page.goto(f"{site}/ui/attackers/{BRUTE}")
    page.fill("#who input[name=reason]", "cracked 1001")
    page.click("#who button")
    page.wait_for_selector("#message", timeout=WAIT_MS)
    assert BRUTE in (page.locator("#bans").text_content() or "")
    [ban] = seeded_store.active_decisions(utcnow())
    assert ban.value == BRUTE and ban.reason.startswith("cracked 1001")
    shot(page, "bans")
    page.click("#bans button.unban")
    page.wait_for_selector("#message", timeout=WAIT_MS)
    assert "lifted 1" in (page.locator("#message").text_content() or "")
    assert seeded_store.active_decisions(utcnow()) == []
    requests.assert_only(site)
