"""A running Guard picks up bans added or lifted in the store by others (`[enforce] reconcile_seconds`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from sipwarden.detect import DetectSettings, Engine
from sipwarden.enforce.dryrun import DryRunBackend
from sipwarden.enforce.guard import Guard
from sipwarden.events import Decision, Event, utcnow
from sipwarden.store import Store


def manual(value: str, hours: float | None = 1.0, scope: str = "ip") -> Decision:
    now = utcnow()
    until = now + timedelta(hours=hours) if hours is not None else None
    return Decision(
        ts=now, scope=scope, value=value, action="ban", scenario="manual", reason="r", until=until, origin="manual"
    )  # type: ignore[arg-type]


async def probe(guard: Guard, ip: str) -> list[Decision]:
    """A tool's probe from `ip` through the Guard (detection bans it at once); what it decided."""
    return await guard.handle(Event(ts=utcnow(), kind="probe", source="asterisk", src_ip=ip, tool="x"))


def banned(backend: DryRunBackend) -> dict[str, object]:
    return {b.value: b.until for b in backend.list()}


async def test_bans_added_and_lifted_by_another_writer_are_applied(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    mine, other = Store.open(url), Store.open(url)  # two engines: as good as two processes for SQLite
    backend = DryRunBackend()
    guard = Guard(Engine(DetectSettings()), backend, store=mine)
    try:
        assert await guard.start() == 0
        assert await guard.sync() == (0, 0)
        ip_ban, net_ban = manual("192.0.2.50"), manual("198.51.100.0/24", hours=None, scope="range")
        other.add_decisions([ip_ban, net_ban])
        assert await guard.sync() == (2, 0)
        assert banned(backend) == {"192.0.2.50": ip_ban.until, "198.51.100.0/24": None}
        active = guard.engine.active("ip", "192.0.2.50", "ban")
        assert active is not None and active.id == ip_ban.id
        assert await guard.sync() == (0, 0)  # the overlap re-reads the same change: nothing to do
        assert other.remove_decision("192.0.2.50", reason="a person", now=utcnow()) == 1
        assert await guard.sync() == (0, 1)
        assert banned(backend) == {"198.51.100.0/24": None}
        assert guard.engine.active("ip", "192.0.2.50", "ban") is None
        # Detection bans the address again afterwards, as for any new offender.
        [d] = await probe(guard, "192.0.2.50")
        assert d.value == "192.0.2.50" and "192.0.2.50" in banned(backend)
    finally:
        mine.close()
        other.close()


async def test_a_local_ban_stays_when_an_older_decision_of_the_address_was_lifted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = Store.open(url)
    backend = DryRunBackend()
    guard = Guard(Engine(DetectSettings()), backend, store=store)
    try:
        await guard.start()
        store.add_decisions([manual("192.0.2.60")])
        store.remove_decision("192.0.2.60", reason="mistake", now=utcnow())
        # The engine bans the address (the decision is not stored yet when the poll runs).
        guard.store = None
        [d] = await probe(guard, "192.0.2.60")
        guard.store = store
        assert await guard.sync() == (0, 0)
        assert "192.0.2.60" in banned(backend)
        assert guard.engine.active("ip", "192.0.2.60", "ban") == d
    finally:
        store.close()


async def test_a_longer_ban_from_elsewhere_extends_the_firewall_timeout(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    backend = DryRunBackend()
    guard = Guard(Engine(DetectSettings(ban_time="1h")), backend, store=store)
    try:
        await guard.start()
        [d] = await probe(guard, "192.0.2.70")
        assert await guard.sync() == (0, 0)  # its own decision, already applied
        longer = manual("192.0.2.70", hours=48)
        store.add_decisions([longer])
        assert await guard.sync() == (1, 0)
        assert banned(backend)["192.0.2.70"] == longer.until
        shorter = manual("192.0.2.70", hours=0.5)
        store.add_decisions([shorter])
        assert await guard.sync() == (0, 0)  # the longest active decision wins
        assert banned(backend)["192.0.2.70"] == longer.until and d.until != longer.until
    finally:
        store.close()


async def test_tick_polls_every_reconcile_seconds(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    backend = DryRunBackend()
    guard = Guard(Engine(DetectSettings()), backend, store=store, sync_seconds=5)
    try:
        start = utcnow()
        await guard.start(start)
        store.add_decisions([manual("192.0.2.80")])
        await guard.tick(start + timedelta(seconds=4))
        assert banned(backend) == {}
        await guard.tick(start + timedelta(seconds=5))
        assert list(banned(backend)) == ["192.0.2.80"]
    finally:
        store.close()


def _sipwarden(*args: str, config: Path, db: str) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).parent / "sipwarden")
    return subprocess.run(
        [exe, *args, "--backend", "dry-run", "--config", str(config), "--db", db],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_a_running_watch_sees_bans_added_and_removed_by_the_bans_command(tmp_path: Path) -> None:
    log = tmp_path / "kamailio.log"
    log.write_text("")
    config = tmp_path / "sipwarden.toml"
    config.write_text(
        f'[general]\ndata_dir = "{tmp_path}"\nlog_level = "INFO"\n[enforce]\nreconcile_seconds = 1\n'
        "protect_own_addresses = false\n"
    )
    db = f"sqlite:///{tmp_path / 's.db'}"
    exe = str(Path(sys.executable).parent / "sipwarden")
    err = (tmp_path / "watch.err").open("w+")
    watch = subprocess.Popen(
        [exe, "watch", str(log), "--format", "kamailio", "--backend", "dry-run", "--config", str(config), "--db", db],
        stdout=subprocess.DEVNULL,
        stderr=err,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )

    def wait_for(text: str, limit: float = 20.0) -> bool:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if text in (tmp_path / "watch.err").read_text():
                return True
            if watch.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    try:
        assert wait_for("firewall reconciled with the store"), (tmp_path / "watch.err").read_text()
        _sipwarden("bans", "add", "192.0.2.91", "--for", "1h", config=config, db=db)
        assert wait_for("dry-run: would ban 192.0.2.91"), (tmp_path / "watch.err").read_text()
        _sipwarden("bans", "remove", "192.0.2.91", config=config, db=db)
        assert wait_for("dry-run: would unban 192.0.2.91"), (tmp_path / "watch.err").read_text()
    finally:
        watch.terminate()
        watch.wait(15)
        err.close()


@pytest.mark.postgres
async def test_sync_on_postgresql_uses_the_server_clock(postgres_fresh_url: str) -> None:
    mine, other = Store.open(postgres_fresh_url), Store.open(postgres_fresh_url)
    backend = DryRunBackend()
    guard = Guard(Engine(DetectSettings()), backend, store=mine)
    try:
        await guard.start()
        a, b = manual("192.0.2.101"), manual("192.0.2.102", hours=None)
        other.add_decisions([a, b])
        with mine.engine.connect() as conn:
            [stamp] = {r[0] for r in conn.exec_driver_sql("SELECT changed_at FROM decisions")}
        assert abs((stamp - mine.decision_clock()).total_seconds()) < 60  # the server's clock, one stamp
        assert {c.id for c in mine.decision_changes(mine.decision_clock() - timedelta(seconds=60))} == {a.id, b.id}
        assert await guard.sync() == (2, 0)
        other.remove_decision("192.0.2.102", reason="r", now=utcnow())
        assert await guard.sync() == (0, 1)
        assert banned(backend) == {"192.0.2.101": a.until}
    finally:
        mine.close()
        other.close()


async def test_a_lifted_ban_replaced_by_a_shorter_one_keeps_only_the_new_one(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    backend = DryRunBackend()
    guard = Guard(Engine(DetectSettings(ban_time="1d")), backend, store=store)
    try:
        await guard.start()
        [d] = await probe(guard, "192.0.2.95")
        store.remove_decision("192.0.2.95", reason="too long", now=utcnow())
        short = manual("192.0.2.95", hours=0.25)
        store.add_decisions([short])
        assert await guard.sync() == (1, 0)  # re-banned with the new end, never left open
        active = guard.engine.active("ip", "192.0.2.95", "ban")
        assert active is not None and active.id == short.id and d.until != short.until
        assert banned(backend) == {"192.0.2.95": short.until}
    finally:
        store.close()
