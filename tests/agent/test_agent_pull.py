"""Pull: hub decisions reach a local Guard (dry-run backend) through the stream, with a kept cursor."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import httpx
from tests.agent.agent_testkit import ATTACKER, ATTACKER2, ATTACKER6, event, free_port, hub_keys, hub_process, wait_for

from sipwarden.agent import CURSOR_KEY, Agent, AgentSettings
from sipwarden.config import Settings
from sipwarden.detect.settings import DetectSettings
from sipwarden.enforce.dryrun import DryRunBackend
from sipwarden.enforce.guard import Guard
from sipwarden.events import Decision, utcnow
from sipwarden.store import Store


def submit(url: str, key: str, ip: str) -> None:
    response = httpx.post(f"{url}/v1/events", json=[event(ip)], headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 202, response.text
    assert response.json()["listed"] == [ip]


def banned(guard: Guard) -> set[str]:
    assert isinstance(guard.backend, DryRunBackend)
    return {b.value for b in guard.backend.list()}


async def test_hub_decisions_are_enforced_except_allowlisted_and_resume_from_cursor(tmp_path: Path) -> None:
    hub_db = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    Store.open(hub_db).close()
    keys = hub_keys(hub_db)
    port = free_port()
    settings = Settings(detect=DetectSettings(allowlist=[f"{ATTACKER2}/32"]))
    agent_settings = AgentSettings(
        hub_url=f"http://127.0.0.1:{port}",
        key=keys["pbx1"],
        name="fleet",
        retry_min_seconds=0.1,
        retry_max_seconds=0.3,
        push=False,
    )
    local = Store.open(f"sqlite:///{tmp_path / 'local.sqlite'}")
    guard = Guard.from_settings(settings, DryRunBackend(), local, own=())
    await guard.start()
    stop = asyncio.Event()
    agent = Agent.for_guard(agent_settings, tmp_path, guard, local)
    with hub_process(hub_db, port) as url:
        await asyncio.to_thread(submit, url, keys["trusted"], ATTACKER)  # listed before the agent starts
        task = asyncio.create_task(agent.run(stop))
        try:
            assert await wait_for(lambda: ATTACKER in banned(guard), 20)
            await asyncio.to_thread(submit, url, keys["trusted"], ATTACKER2)  # allowlisted here
            assert await wait_for(lambda: agent.skipped >= 1, 20)
            assert ATTACKER2 not in banned(guard)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
        stored = {d.value: d for d in local.active_decisions(utcnow())}
        assert stored[ATTACKER].origin == "hub:fleet"
        assert ATTACKER2 not in stored
        cursor = local.get_kv(CURSOR_KEY)
        assert cursor is not None and int(cursor) >= 2
        # While no agent listens, the hub lists one more address.
        await asyncio.to_thread(submit, url, keys["trusted"], ATTACKER6)
    # The hub restarts (a disconnect); a new agent over the same store resumes from the cursor.
    with hub_process(hub_db, port):
        stop = asyncio.Event()
        again = Agent.for_guard(agent_settings, tmp_path, guard, local)
        task = asyncio.create_task(again.run(stop))
        try:
            assert await wait_for(lambda: ATTACKER6 in banned(guard), 20)
            await asyncio.sleep(0.3)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
    assert again.applied == 1  # only the new listing: nothing before the cursor was replayed
    assert int(local.get_kv(CURSOR_KEY) or 0) > int(cursor)
    local.close()


async def test_reconnects_after_the_hub_goes_away(tmp_path: Path) -> None:
    hub_db = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    Store.open(hub_db).close()
    keys = hub_keys(hub_db)
    port = free_port()
    guard = Guard.from_settings(Settings(), DryRunBackend(), None, own=())
    agent_settings = AgentSettings(
        hub_url=f"http://127.0.0.1:{port}",
        key=keys["reader"],
        retry_min_seconds=0.1,
        retry_max_seconds=0.3,
        push=False,
    )
    agent = Agent.for_guard(agent_settings, tmp_path, guard, None)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        with hub_process(hub_db, port):
            assert await wait_for(agent.connected.is_set, 20)
        assert await wait_for(lambda: not agent.connected.is_set(), 20)
        with hub_process(hub_db, port) as url:
            await asyncio.to_thread(submit, url, keys["trusted"], ATTACKER)
            assert await wait_for(lambda: ATTACKER in banned(guard), 20)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_a_hub_delisting_lifts_hub_bans_but_not_local_ones(tmp_path: Path) -> None:
    local = Store.open(f"sqlite:///{tmp_path / 'local.sqlite'}")
    guard = Guard.from_settings(Settings(), DryRunBackend(), local, own=())
    agent = Agent.for_guard(AgentSettings(hub_url="http://127.0.0.1:9", name="h"), tmp_path, guard, local)
    now = utcnow()
    mine = Decision(
        ts=now, scope="ip", value=ATTACKER, action="ban", scenario="ssh", reason="local", until=now + timedelta(hours=1)
    )
    await guard.apply([mine])
    for ip in (ATTACKER, ATTACKER6):
        record = Decision(
            ts=now, scope="ip", value=ip, action="ban", scenario="hub", reason="listed", until=now + timedelta(days=7)
        )
        await agent.handle("new", json.dumps(record.to_dict()), "5", now)
    assert banned(guard) == {ATTACKER, ATTACKER6}
    for n, ip in enumerate((ATTACKER, ATTACKER6)):
        record = Decision(ts=now, scope="ip", value=ip, action="ban", scenario="hub", reason="delisted")
        await agent.handle("deleted", json.dumps(record.to_dict()), str(6 + n), now)
    assert banned(guard) == {ATTACKER}  # the local ban stands
    assert local.get_kv(CURSOR_KEY) == "7"
    await agent.handle("new", "{not json", "8", now)  # hostile input: skipped, cursor still advances
    assert agent.skipped == 1 and local.get_kv(CURSOR_KEY) == "8"
    local.close()
