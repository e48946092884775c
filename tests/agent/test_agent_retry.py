"""A hub decision the firewall failed to carry out is retried until it succeeds, never skipped."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from tests.agent.agent_testkit import ATTACKER, ATTACKER2, wait_for

from sipwarden.agent import CURSOR_KEY, Agent, AgentSettings
from sipwarden.config import Settings
from sipwarden.enforce.backend import Ban, EnforceError, Target
from sipwarden.enforce.dryrun import DryRunBackend
from sipwarden.enforce.guard import Guard
from sipwarden.events import Decision, utcnow
from sipwarden.store import Store


class FlakyBackend(DryRunBackend):
    """Failure injection: the first `failures` firewall calls fail as a broken nft would."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.calls = 0

    def _maybe_fail(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise EnforceError(f"nft -f - failed (1): injected failure {self.calls}")

    def ban_many(self, bans: Iterable[Ban]) -> int:
        self._maybe_fail()
        return super().ban_many(bans)

    def unban(self, target: str | Target) -> None:
        self._maybe_fail()
        super().unban(target)


def decision(ip: str, hours: float = 24) -> str:
    now = utcnow()
    record = Decision(
        ts=now, scope="ip", value=ip, action="ban", scenario="hub", reason="listed", until=now + timedelta(hours=hours)
    )
    return json.dumps(record.to_dict())


def banned(guard: Guard) -> set[str]:
    assert isinstance(guard.backend, DryRunBackend)
    return {b.value for b in guard.backend.list()}


async def test_a_failed_ban_is_retried_until_the_firewall_takes_it(tmp_path: Path) -> None:
    local = Store.open(f"sqlite:///{tmp_path / 'local.sqlite'}")
    backend = FlakyBackend(failures=2)
    guard = Guard.from_settings(Settings(), backend, local, own=())
    agent = Agent.for_guard(AgentSettings(hub_url="http://127.0.0.1:9", name="h"), tmp_path, guard, local)
    now = utcnow()
    await agent.handle("new", decision(ATTACKER), "11", now)
    assert banned(guard) == set() and set(agent.failed) == {ATTACKER} and agent.failures == 1
    # The cursor moves on (the stream goes on), but the decision is kept: in memory for the retry,
    # and in the store, so a restart's reconciliation would carry it out too.
    assert local.get_kv(CURSOR_KEY) == "11"
    assert [d.value for d in local.active_decisions(now)] == [ATTACKER]
    assert await agent.retry_failed(utcnow()) == 1  # fails again (2nd injected failure)
    assert await agent.retry_failed(utcnow()) == 0
    assert banned(guard) == {ATTACKER} and agent.applied == 1 and agent.failures == 2
    local.close()


async def test_a_failed_unban_is_retried_and_a_newer_decision_replaces_a_pending_one(tmp_path: Path) -> None:
    local = Store.open(f"sqlite:///{tmp_path / 'local.sqlite'}")
    backend = FlakyBackend(failures=0)
    guard = Guard.from_settings(Settings(), backend, local, own=())
    agent = Agent.for_guard(AgentSettings(hub_url="http://127.0.0.1:9", name="h"), tmp_path, guard, local)
    now = utcnow()
    await agent.handle("new", decision(ATTACKER), "1", now)
    await agent.handle("new", decision(ATTACKER2), "2", now)
    assert banned(guard) == {ATTACKER, ATTACKER2}
    backend.failures = backend.calls + 2  # the next two firewall calls fail
    await agent.handle("deleted", decision(ATTACKER), "3", now)
    await agent.handle("deleted", decision(ATTACKER2), "4", now)
    assert set(agent.failed) == {ATTACKER, ATTACKER2}
    # The hub lists ATTACKER2 again before the retry: the pending delisting is dropped, not replayed.
    await agent.handle("new", decision(ATTACKER2), "5", now)
    assert set(agent.failed) == {ATTACKER}
    assert await agent.retry_failed(utcnow()) == 0
    assert banned(guard) == {ATTACKER2}
    assert {d.value for d in local.active_decisions(utcnow())} == {ATTACKER2}
    local.close()


async def test_the_retry_loop_runs_with_the_agent_and_expired_decisions_are_dropped(tmp_path: Path) -> None:
    backend = FlakyBackend(failures=3)
    guard = Guard.from_settings(Settings(), backend, None, own=())
    settings = AgentSettings(hub_url="http://127.0.0.1:9", retry_min_seconds=0.05, retry_max_seconds=0.1, push=False)
    agent = Agent.for_guard(settings, tmp_path, guard, None)
    now = utcnow()
    await agent.handle("new", decision(ATTACKER2, hours=-1), None, now - timedelta(hours=2))  # expires meanwhile
    await agent.handle("new", decision(ATTACKER), None, now)
    assert set(agent.failed) == {ATTACKER, ATTACKER2}
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run_retries(stop))
    try:
        assert await wait_for(lambda: not agent.failed, 20)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert banned(guard) == {ATTACKER}


async def test_hub_bans_go_through_the_guard_but_not_to_the_notify_channels(tmp_path: Path) -> None:
    # Hub decisions are applied by Guard.apply (stored, banned, retried on a firewall error) but,
    # often thousands at once, kept off the [notify] channels; the Guard's own decisions reach them.
    from tests.enforce.receiver import Receiver

    from sipwarden.enforce.notify_settings import NotifySettings

    local = Store.open(f"sqlite:///{tmp_path / 'local.sqlite'}")
    with Receiver() as rx:
        settings = Settings(notify=NotifySettings(urls=[rx.url]))
        guard = Guard.from_settings(settings, FlakyBackend(failures=1), local, own=())
        agent = Agent.for_guard(AgentSettings(hub_url="http://127.0.0.1:9", name="h"), tmp_path, guard, local)
        await agent.handle("new", decision(ATTACKER), "11", utcnow())
        assert set(agent.failed) == {ATTACKER}
        assert await agent.retry_failed(utcnow()) == 0
        assert banned(guard) == {ATTACKER} and guard.decisions == 1  # counted once carried out
        assert [d.value for d in local.active_decisions(utcnow())] == [ATTACKER]
        assert rx.posts == []
        await guard.apply([Decision.from_dict(json.loads(decision(ATTACKER2)))])  # a local decision
    [post] = rx.posts
    assert ATTACKER2 in post["title"]
    local.close()
