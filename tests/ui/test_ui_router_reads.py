"""The dashboard's bans reads: the attacker page asks about its own address, the bans page lists the
newest bans and says how many there are."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bench.intel_data import BRUTE, FRAUDSTER
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sipwarden.events import Decision, utcnow
from sipwarden.hub.ui import router
from sipwarden.store import Store

LOCAL = ("127.0.0.1", 40000)


def ban(value: str, minutes: int = 0, action: str = "ban") -> Decision:
    now = utcnow()
    return Decision(
        ts=now - timedelta(minutes=minutes),
        scope="ip",
        value=value,
        action=action,  # type: ignore[arg-type]
        scenario="test",
        reason=f"reason for {value}",
        until=now + timedelta(days=1),
        origin="local",
    )


def test_attacker_page_shows_a_ban_of_its_own_address_only(ui_app: FastAPI, seeded_store: Store) -> None:
    client = TestClient(ui_app, client=LOCAL)
    seeded_store.add_decisions([ban(FRAUDSTER)])
    assert 'badge bad">banned' in client.get(f"/ui/attackers/{FRAUDSTER}").text
    assert 'badge bad">banned' not in client.get(f"/ui/attackers/{BRUTE}").text
    seeded_store.remove_decision(FRAUDSTER, reason="lifted", now=utcnow())
    assert 'badge bad">banned' not in client.get(f"/ui/attackers/{FRAUDSTER}").text


def test_bans_page_lists_the_newest_and_counts_all(
    ui_app: FastAPI, seeded_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = TestClient(ui_app, client=LOCAL)
    seeded_store.add_decisions([ban(f"192.0.2.{i}", minutes=i) for i in range(1, 6)] + [ban("192.0.2.9", 0, "watch")])
    html = client.get("/ui/bans").text
    assert "bans-shown" not in html
    assert html.index("192.0.2.1<") < html.index("192.0.2.5<") and "192.0.2.9<" not in html
    monkeypatch.setattr(router, "BANS_SHOWN", 2)
    html = client.get("/ui/bans").text
    assert "The newest 2 of 5 active bans" in html
    assert "192.0.2.1<" in html and "192.0.2.2<" in html and "192.0.2.3<" not in html
