"""Catching up after a disconnect: the net changes since the kept cursor, or, when the agent has no
cursor or fell further behind than one page of changes, a snapshot of the whole list, reconciled."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert
from tests.agent.agent_testkit import ATTACKER, ATTACKER2, ATTACKER6, event, free_port, hub_keys, hub_process

from sipwarden.agent import CURSOR_KEY, Agent, AgentSettings
from sipwarden.config import Settings
from sipwarden.enforce.dryrun import DryRunBackend
from sipwarden.enforce.guard import Guard
from sipwarden.events import Decision, new_id, utcnow
from sipwarden.hub.api import MAX_DELTA
from sipwarden.store import Store
from sipwarden.store.hub_tables import hub_changes, hub_listings


def list_directly(url: str, ips: list[str]) -> None:
    """List many addresses straight into the hub's tables (as a long-running hub would have)."""
    store = Store.open(url)
    now = utcnow()
    try:
        with store.engine.begin() as conn:
            seq = conn.execute(insert(hub_changes).returning(hub_changes.c.seq), {"ip": ips[0], "op": "add", "ts": now})
            first = int(seq.scalar_one())
            conn.execute(insert(hub_changes), [{"ip": ip, "op": "add", "ts": now} for ip in ips[1:]])
            conn.execute(
                insert(hub_listings),
                [
                    {
                        "ip": ip,
                        "listed": True,
                        "decision_id": new_id(),
                        "score": 1.0,
                        "reporters": 1,
                        "events": 1,
                        "reason": "honeypot probe",
                        "first_seen": now,
                        "last_evidence": now,
                        "expires_at": now + timedelta(days=7),
                        "seq": first + i,
                    }
                    for i, ip in enumerate(ips)
                ],
            )
    finally:
        store.close()


def submit(url: str, key: str, ip: str) -> None:
    response = httpx.post(f"{url}/v1/events", json=[event(ip)], headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 202 and response.json()["listed"] == [ip], response.text


def addresses(n: int) -> list[str]:
    return [f"45.{100 + i // 62500}.{(i // 250) % 250}.{i % 250 + 1}" for i in range(n)]


def banned(guard: Guard) -> set[str]:
    assert isinstance(guard.backend, DryRunBackend)
    return {b.value for b in guard.backend.list()}


def fleet_member(tmp_path: Path) -> tuple[str, dict[str, str], int, Store, Guard, Agent]:
    """A hub database with keys, a free port for its process, and one agent with its store and Guard."""
    hub_db = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    Store.open(hub_db).close()
    keys = hub_keys(hub_db)
    port = free_port()
    local = Store.open(f"sqlite:///{tmp_path / 'local.sqlite'}")
    guard = Guard.from_settings(Settings(), DryRunBackend(), local, own=())
    settings = AgentSettings(hub_url=f"http://127.0.0.1:{port}", key=keys["pbx1"], name="fleet", push=False)
    return hub_db, keys, port, local, guard, Agent.for_guard(settings, tmp_path, guard, local)


async def test_net_changes_after_a_short_disconnect_and_a_snapshot_after_a_long_one(tmp_path: Path) -> None:
    hub_db, keys, port, local, guard, agent = fleet_member(tmp_path)
    with hub_process(hub_db, port) as url:
        async with httpx.AsyncClient(timeout=60) as client:
            await asyncio.to_thread(submit, url, keys["trusted"], ATTACKER)
            # First contact: no cursor, so the whole list.
            assert await agent.catch_up(client) == local.get_kv(CURSOR_KEY)
            assert agent.snapshots == 1 and banned(guard) == {ATTACKER}
            # A short disconnect: ATTACKER6 listed, ATTACKER2 listed and delisted again, ATTACKER delisted.
            for ip in (ATTACKER6, ATTACKER2):
                await asyncio.to_thread(submit, url, keys["trusted"], ip)
            admin = Store.open(hub_db)
            from sipwarden.hub.repo import HubRepo
            from sipwarden.hub.settings import HubSettings

            repo = HubRepo(admin, HubSettings())
            assert repo.delist(ATTACKER2, "false positive", utcnow()) and repo.delist(ATTACKER, "expired", utcnow())
            admin.close()
            before = agent.applied
            await agent.catch_up(client)
            assert agent.snapshots == 1  # the net changes were enough
            assert agent.applied - before == 1  # ATTACKER6 only: ATTACKER2 came and went while we were away
            assert banned(guard) == {ATTACKER6}
            # A long disconnect: more changes than one page, and a hub ban we hold that the hub dropped
            # in a way we never heard of (the stale one must be lifted by the reconciliation).
            now = utcnow()
            stale = Decision(
                ts=now, scope="ip", value="185.53.88.99", action="ban", scenario="hub", reason="old",
                until=now + timedelta(days=3), origin="hub:fleet",
            )  # fmt: skip
            await guard.apply([stale])
            many = addresses(MAX_DELTA + 10)
            await asyncio.to_thread(list_directly, hub_db, many)
            await agent.catch_up(client)
    assert agent.snapshots == 2
    assert banned(guard) == {ATTACKER6, *many}
    assert {d.value for d in local.active_decisions(utcnow()) if d.origin == "hub:fleet"} == {ATTACKER6, *many}
    assert int(local.get_kv(CURSOR_KEY) or 0) >= MAX_DELTA + 10
    local.close()


async def test_a_cursor_older_than_the_hubs_change_log_takes_a_snapshot(tmp_path: Path) -> None:
    from sipwarden.hub.repo import HubRepo
    from sipwarden.hub.settings import HubSettings

    hub_db, keys, port, local, guard, agent = fleet_member(tmp_path)
    with hub_process(hub_db, port) as url:
        async with httpx.AsyncClient(timeout=60) as client:
            await asyncio.to_thread(submit, url, keys["trusted"], ATTACKER)
            await agent.catch_up(client)
            assert agent.snapshots == 1 and banned(guard) == {ATTACKER}
            # While the agent is away: two more listings and a delisting, then the hub forgets them.
            for ip in (ATTACKER2, ATTACKER6):
                await asyncio.to_thread(submit, url, keys["trusted"], ip)
            admin = Store.open(hub_db)
            repo = HubRepo(admin, HubSettings())
            assert repo.delist(ATTACKER, "false positive", utcnow())
            assert repo.prune_changes(utcnow() + timedelta(seconds=1)) == 3
            admin.close()
            await agent.catch_up(client)  # 410 Gone for its cursor: the whole list instead
            assert agent.snapshots == 2
            assert banned(guard) == {ATTACKER2, ATTACKER6}
    local.close()
