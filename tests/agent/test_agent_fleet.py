"""A fleet: two hub processes on one PostgreSQL, three agent processes.

Agent 1 (`sipwarden run --hub --key`, a trusted honeypot) pushes honeypot evidence to hub A; agents 2
(`sipwarden agent`, hub A) and 3 (`sipwarden agent`, hub B) must enforce the listing within 2 s, and
killing hub A (-9) while they push and listen, then starting it again, must lose nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from sqlalchemy import text
from tests.agent.agent_testkit import ROOT, HubProcess, event, free_port, hub_keys, hub_process
from tests.servekit import stop

from sipwarden.agent import PushQueue
from sipwarden.events import Event, utcnow
from sipwarden.store import Store

#: Public addresses used as data only (no packet is sent to them).
WARMUP_IP = "91.200.12.77"
PROBE_IP = "193.32.162.41"
#: Reported only by one untrusted sensor (agent 2's PBX): must never be listed.
UNTRUSTED_IP = "185.224.128.9"
#: The goal: a trusted honeypot's listing enforced fleet-wide within this many seconds.
FLEET_GOAL_S = 2.0


@contextmanager
def agent_process(tmp: Path, argv: list[str], hub: str, key: str) -> Iterator[Path]:
    """A sipwarden agent process with its own data dir and SQLite store; yields the data dir."""
    tmp.mkdir()
    config = tmp / "sipwarden.toml"
    config.write_text(
        f'[general]\ndata_dir = "{tmp}"\nsensor = "{tmp.name}"\n'
        "[honeypot]\nenabled = false\n[web]\nenabled = false\n"
        "[agent]\nretry_min_seconds = 0.05\nretry_max_seconds = 0.5\n",
        encoding="utf-8",
    )
    cmd = [sys.executable, "-m", "sipwarden", *argv, "--hub", hub, "--key", key, "--backend", "dry-run"]
    cmd += ["--config", str(config), "--db", f"sqlite:///{tmp / 'local.sqlite'}"]
    log = (tmp / "out.log").open("w")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT)
    try:
        yield tmp
    finally:
        stop(proc, 10, 5)
        log.close()


def enforced(data_dir: Path, ip: str) -> bool:
    """True when the agent's store holds an active hub decision about `ip`."""
    path = data_dir / "local.sqlite"
    if not path.exists():
        return False
    store = Store.open(f"sqlite:///{path}")
    try:
        return any(d.value == ip and d.origin.startswith("hub:") for d in store.active_decisions(utcnow()))
    except Exception:  # the agent may still be creating its tables
        return False
    finally:
        store.close()


def wait_enforced(dirs: list[Path], ip: str, timeout: float) -> dict[str, float]:
    """Seconds until each agent enforced `ip` (polling every 20 ms, bounded by `timeout`)."""
    start = time.monotonic()
    seen: dict[str, float] = {}
    while len(seen) < len(dirs) and time.monotonic() - start < timeout:
        for d in dirs:
            if d.name not in seen and enforced(d, ip):
                seen[d.name] = time.monotonic() - start
        time.sleep(0.02)
    return seen


def wait_stored(url: str, ip: str, timeout: float) -> bool:
    """True once the hub's store holds an event from `ip` (within `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        store = Store.open(url)
        try:
            with store.engine.connect() as conn:
                if conn.execute(text("SELECT 1 FROM events WHERE src_ip = :ip"), {"ip": ip}).first():
                    return True
        finally:
            store.close()
        time.sleep(0.1)
    return False


def test_fleet_enforces_a_trusted_honeypot_listing_within_two_seconds(tmp_path: Path, postgres_fresh_url: str) -> None:
    postgres_url = postgres_fresh_url  # a database of its own: no listings left by other tests
    keys = hub_keys(postgres_url)
    with ExitStack() as stack:
        hub_a = stack.enter_context(hub_process(postgres_url, free_port()))
        hub_b = stack.enter_context(hub_process(postgres_url, free_port()))
        one = stack.enter_context(agent_process(tmp_path / "agent1", ["run"], hub_a, keys["trusted"]))
        two = stack.enter_context(agent_process(tmp_path / "agent2", ["agent"], hub_a, keys["pbx1"]))
        three = stack.enter_context(agent_process(tmp_path / "agent3", ["agent"], hub_b, keys["pbx2"]))

        def push(ip: str) -> None:
            # What agent 1's EventWriter does after a commit: the event enters its durable queue.
            queue = PushQueue(one / "agent")
            queue.add([Event.from_dict({**event(ip), "sensor": "agent1"})])
            queue.close()

        # Warm-up (no timing): every process is up and subscribed once this arrives everywhere.
        deadline = time.monotonic() + 60
        while not (one / "agent").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        push(WARMUP_IP)
        warm = wait_enforced([one, two, three], WARMUP_IP, 60)
        assert set(warm) == {"agent1", "agent2", "agent3"}, (one / "out.log").read_text()

        # One untrusted reporter: agent 2's own evidence reaches the hub but lists nothing.
        queue = PushQueue(two / "agent")
        queue.add([Event.from_dict({**event(UNTRUSTED_IP), "sensor": "agent2"})])
        queue.close()
        assert wait_stored(postgres_url, UNTRUSTED_IP, 60), (two / "out.log").read_text()

        push(PROBE_IP)
        took = wait_enforced([two, three], PROBE_IP, 10)
        print(
            f"\nfleet: trusted honeypot listing enforced by agent2 in {took.get('agent2')} s, "
            f"agent3 in {took.get('agent3')} s"
        )
        (tmp_path / "fleet.json").write_text(json.dumps(took))
        assert set(took) == {"agent2", "agent3"}
        assert max(took.values()) < FLEET_GOAL_S
        # The stream is ordered: had the untrusted report listed its address, that would have arrived
        # before the probe everywhere.
        assert not any(enforced(d, UNTRUSTED_IP) for d in (one, two, three))


#: Events agent 1 queues in the kill/restart test (one attacker address each), and their pace.
KILL_EVENTS = 60
KILL_PACE_S = 0.05
#: Log line of the dry-run backend for one ban (enforce/dryrun.py).
WOULD_BAN = re.compile(r"dry-run: would ban (\S+) until")


def attacker(i: int) -> str:
    """The i-th attacker address of the kill test (public addresses used as data only)."""
    return f"193.32.{160 + i // 250}.{i % 250 + 1}"


def hub_event_ids(url: str, ids: set[str]) -> list[str]:
    """Every stored event id of `ids` in the hub's store, once per row (duplicates would repeat)."""
    store = Store.open(url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(text("SELECT id FROM events")).scalars()
            return [r for r in rows if r in ids]
    finally:
        store.close()


def dry_run_bans(data_dir: Path) -> set[str]:
    """Addresses the agent's dry-run firewall was told to ban, from its log."""
    path = data_dir / "out.log"
    return set(WOULD_BAN.findall(path.read_text(errors="replace"))) if path.exists() else set()


def test_killing_and_restarting_a_hub_loses_nothing(tmp_path: Path, postgres_fresh_url: str) -> None:
    postgres_url = postgres_fresh_url  # a database of its own: no listings left by other tests
    keys = hub_keys(postgres_url)
    port_a = free_port()
    hub_a = HubProcess(postgres_url, port_a, log=tmp_path / "hub-a.log")
    with ExitStack() as stack:
        stack.callback(hub_a.stop)
        url_a = hub_a.start()
        hub_b = stack.enter_context(hub_process(postgres_url, free_port()))
        one = stack.enter_context(agent_process(tmp_path / "agent1", ["run"], url_a, keys["trusted"]))
        two = stack.enter_context(agent_process(tmp_path / "agent2", ["agent"], url_a, keys["pbx1"]))
        three = stack.enter_context(agent_process(tmp_path / "agent3", ["agent"], hub_b, keys["pbx2"]))
        deadline = time.monotonic() + 60
        while not (one / "agent").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        queue = PushQueue(one / "agent")
        stack.callback(queue.close)
        queue.add([Event.from_dict({**event(WARMUP_IP), "sensor": "agent1"})])
        warm = wait_enforced([two, three], WARMUP_IP, 60)
        assert set(warm) == {"agent2", "agent3"}, (two / "out.log").read_text()

        # Agent 1 keeps attacking (queueing evidence) while hub A is killed and started again.
        sent: list[Event] = []

        def attack() -> None:
            for i in range(KILL_EVENTS):
                ev = Event.from_dict({**event(attacker(i)), "sensor": "agent1"})
                queue.add([ev])
                sent.append(ev)
                time.sleep(KILL_PACE_S)

        attacking = threading.Thread(target=attack, daemon=True)
        attacking.start()
        time.sleep(KILL_EVENTS * KILL_PACE_S / 3)
        hub_a.kill()  # mid-push, mid-stream
        time.sleep(1.0)  # agent 1 queues, agent 2 has lost its stream, agent 3 (hub B) hears nothing new
        hub_a.start()
        attacking.join(60)
        assert not attacking.is_alive() and len(sent) == KILL_EVENTS

        ids = {e.id for e in sent}
        wanted = {attacker(i) for i in range(KILL_EVENTS)}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            stored = hub_event_ids(postgres_url, ids)
            if (
                len(set(stored)) == len(ids)
                and queue.pending() == 0
                and all(wanted <= dry_run_bans(d) for d in (two, three))
            ):
                break
            time.sleep(0.2)
        stored = hub_event_ids(postgres_url, ids)
        # Every queued event reached the hub's store exactly once.
        assert sorted(stored) == sorted(ids), f"{len(set(stored))} of {len(ids)} stored, {len(stored)} rows"
        assert queue.pending() == 0 and queue.rejected() == 0
        # Agents 2 and 3 enforced every decision: their firewalls and their stores.
        for d in (two, three):
            missing = wanted - dry_run_bans(d)
            assert not missing, f"{d.name} never banned {sorted(missing)[:5]}...: {(d / 'out.log').read_text()[-3000:]}"
            assert all(enforced(d, ip) for ip in wanted)
        # The outage was real: agent 1 could not push for a while, agent 2 lost its stream.
        assert "cannot push" in (one / "out.log").read_text()
        assert "lost" in (two / "out.log").read_text()
