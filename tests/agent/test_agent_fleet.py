"""A fleet: two hub processes on one PostgreSQL, three agent processes.

Agent 1 (`sipwarden run --hub --key`, a trusted honeypot) pushes honeypot evidence to hub A; agents 2
(`sipwarden agent`, hub A) and 3 (`sipwarden agent`, hub B) must enforce the listing within 2 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from tests.agent.agent_testkit import ROOT, event, free_port, hub_keys, hub_process

from sipwarden.agent import PushQueue
from sipwarden.events import Event, utcnow
from sipwarden.store import Store

#: Public addresses used as data only (no packet is sent to them).
WARMUP_IP = "91.200.12.77"
PROBE_IP = "193.32.162.41"
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
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
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


def test_fleet_enforces_a_trusted_honeypot_listing_within_two_seconds(tmp_path: Path, postgres_url: str) -> None:
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

        push(PROBE_IP)
        took = wait_enforced([two, three], PROBE_IP, 10)
        print(
            f"\nfleet: trusted honeypot listing enforced by agent2 in {took.get('agent2')} s, "
            f"agent3 in {took.get('agent3')} s"
        )
        (tmp_path / "fleet.json").write_text(json.dumps(took))
        assert set(took) == {"agent2", "agent3"}
        assert max(took.values()) < FLEET_GOAL_S
