"""Push: the durable queue, and events reaching a real hub process across an outage."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from sqlalchemy import text
from tests.agent.agent_testkit import ATTACKER, free_port, hub_keys, hub_process, wait_for

from sipwarden.agent import Agent, AgentSettings, PushQueue
from sipwarden.events import Event, utcnow
from sipwarden.store import Store


def events(n: int, ip: str = ATTACKER, **kw: object) -> list[Event]:
    now = utcnow()
    return [Event(ts=now, kind="auth_failure", source="asterisk", src_ip=ip, username=f"u{i}", **kw) for i in range(n)]  # type: ignore[arg-type]


def hub_event_ids(url: str) -> list[str]:
    store = Store.open(url)
    try:
        with store.engine.connect() as conn:
            return [r[0] for r in conn.execute(text("SELECT id FROM events"))]
    finally:
        store.close()


def test_queue_survives_reopen_and_keeps_order(tmp_path: Path) -> None:
    queue = PushQueue(tmp_path)
    sent = events(5)
    assert queue.add(sent) == 5
    queue.close()
    queue = PushQueue(tmp_path)
    rows = queue.peek(10)
    assert [Event.from_dict(json.loads(b)).id for _s, b in rows] == [e.id for e in sent]
    queue.done(rows[2][0])
    assert queue.pending() == 2
    queue.reject([rows[3][0], rows[4][0]], "422: bad")
    assert (queue.pending(), queue.rejected()) == (0, 2)
    queue.close()


def test_hub_events_are_not_sent_back(tmp_path: Path) -> None:
    agent = Agent(AgentSettings(hub_url="http://127.0.0.1:9"), PushQueue(tmp_path))
    now = utcnow()
    agent.queue_events([Event(ts=now, kind="probe", source="hub"), Event(ts=now, kind="probe", source="honeypot")])
    assert agent.queue.pending() == 1


async def test_push_survives_a_hub_outage_without_loss_or_duplicates(tmp_path: Path) -> None:
    hub_db = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    Store.open(hub_db).close()
    keys = hub_keys(hub_db)
    port = free_port()
    settings = AgentSettings(
        hub_url=f"http://127.0.0.1:{port}",
        key=keys["pbx1"],
        batch_size=40,
        retry_min_seconds=0.1,
        retry_max_seconds=0.5,
        pull=False,
    )
    agent = Agent(settings, PushQueue(tmp_path / "q"))
    first = events(100)
    await asyncio.to_thread(agent.queue_events, first)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        await asyncio.sleep(1.0)  # the hub is down: several failed attempts
        assert agent.pushed == 0 and agent.queue.pending() == 100
        with hub_process(hub_db, port):
            assert await wait_for(lambda: agent.queue.pending() == 0, 30)
            # More events while it is up, then again while it is down.
            second = events(30)
            await asyncio.to_thread(agent.queue_events, second)
            assert await wait_for(lambda: agent.queue.pending() == 0, 30)
        third = events(25)
        await asyncio.to_thread(agent.queue_events, third)
        await asyncio.sleep(0.5)
        assert agent.queue.pending() == 25
        # A replayed batch (as after a crash between the hub's 2xx and our delete) is harmless.
        await asyncio.to_thread(agent.queue.add, first[:10])
        with hub_process(hub_db, port):
            assert await wait_for(lambda: agent.queue.pending() == 0, 30)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    ids = hub_event_ids(hub_db)
    assert sorted(ids) == sorted(e.id for e in [*first, *second, *third])
    assert agent.pushed == 165


async def test_a_refused_batch_is_moved_aside_and_the_rest_goes_on(tmp_path: Path) -> None:
    hub_db = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    Store.open(hub_db).close()
    keys = hub_keys(hub_db)
    port = free_port()
    settings = AgentSettings(hub_url=f"http://127.0.0.1:{port}", key=keys["pbx1"], batch_size=5, pull=False)
    agent = Agent(settings, PushQueue(tmp_path / "q"))
    bad = events(1, user_agent="x" * 5000)  # over the hub's 1 KiB per field
    good = events(3)
    await asyncio.to_thread(agent.queue_events, bad)
    await asyncio.to_thread(agent.queue_events, good)
    with hub_process(hub_db, port):
        async with httpx.AsyncClient() as client:
            assert await agent.push_once(client) == 0  # refused: aside
            assert agent.queue.rejected() == 1
            assert await agent.push_once(client) == 3
    assert sorted(hub_event_ids(hub_db)) == sorted(e.id for e in good)
