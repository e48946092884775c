"""The Guard with a real SQLite store, the dry-run backend and a webhook receiver."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sipwarden.config import Settings
from sipwarden.detect import DetectSettings, Engine
from sipwarden.enforce.dryrun import DryRunBackend
from sipwarden.enforce.guard import Guard
from sipwarden.enforce.notify import Notifier
from sipwarden.enforce.notify_settings import NotifySettings
from sipwarden.events import Decision, Event, utcnow
from sipwarden.store import Store

from .receiver import Receiver

T0 = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)


def failure(i: int, ip: str = "203.0.113.9", **kw: Any) -> Event:
    return Event(ts=T0 + timedelta(seconds=i), kind="auth_failure", source="asterisk", src_ip=ip, username="100", **kw)


def live(i: int, ip: str = "203.0.113.9") -> Event:
    return Event(
        ts=utcnow() + timedelta(seconds=i / 100), kind="auth_failure", source="kamailio", src_ip=ip, username="100"
    )


async def test_guard_bans_stores_and_notifies(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    backend = DryRunBackend()
    with Receiver() as rx:
        guard = Guard(Engine(DetectSettings()), backend, store=store, notifier=Notifier(NotifySettings(urls=[rx.url])))
        assert await guard.start() == 0
        out = []
        for i in range(5):
            out += await guard.handle(live(i, ip="192.0.2.44"))
    [d] = out
    assert [b.value for b in backend.list()] == ["192.0.2.44"]
    [stored] = store.active_decisions(utcnow())
    assert stored.id == d.id and len(stored.event_ids) == 5
    [post] = rx.posts
    assert "192.0.2.44" in post["title"] and "Evidence: 5 events" in post["message"]
    store.close()


async def test_restart_reconciles_the_firewall_with_the_store(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    now = utcnow()
    store.add_decisions([
        Decision(ts=now, scope="ip", value="192.0.2.1", action="ban", scenario="x", reason="r", until=now + timedelta(hours=1)),
        Decision(ts=now, scope="range", value="198.51.100.0/24", action="ban", scenario="x", reason="r", until=None),
        Decision(ts=now, scope="ip", value="192.0.2.2", action="ban", scenario="x", reason="r", until=now - timedelta(seconds=1)),
        Decision(ts=now, scope="account", value="alice", action="watch", scenario="x", reason="r", until=now + timedelta(hours=1)),
    ])  # fmt: skip
    store.remove_decision("192.0.2.1", reason="test", now=now)
    store.add_decisions([Decision(ts=now, scope="ip", value="192.0.2.3", action="ban", scenario="x", reason="r")])
    backend = DryRunBackend()
    backend.ban("10.0.0.1", None)  # left over from before: not in the store any more
    guard = Guard(Engine(DetectSettings()), backend, store=store)
    assert await guard.start() == 2
    assert sorted(b.value for b in backend.list()) == ["192.0.2.3", "198.51.100.0/24"]
    # An address banned in the store is not banned twice by detection.
    assert await guard.handle(live(0, ip="192.0.2.3").replace(tool="svcrack")) == []
    store.close()


async def test_expired_bans_are_lifted_on_tick() -> None:
    backend = DryRunBackend()
    guard = Guard(Engine(DetectSettings(ban_time="10s")), backend)
    [d] = await guard.handle(live(0).replace(tool="sipvicious"))
    assert d.until is not None
    assert await guard.tick(d.until - timedelta(seconds=1)) == []
    assert [x.value for x in await guard.tick(d.until)] == ["203.0.113.9"]
    backend.ban_many([])
    assert backend._bans == {}


async def test_failing_backend_and_store_do_not_stop_the_stream(tmp_path: Path) -> None:
    class Broken(DryRunBackend):
        def ban_many(self, bans: Any) -> int:
            raise RuntimeError("firewall gone")

    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    guard = Guard(Engine(DetectSettings()), Broken(), store=store)
    store.close()
    store.engine.dispose()
    (tmp_path / "s.db").unlink()
    (tmp_path / "s.db").mkdir()  # the database file is now unusable
    out = await guard.handle(live(0).replace(tool="x"))
    assert len(out) == 1
    assert len(await guard.handle(live(1, ip="192.0.2.99").replace(tool="x"))) == 1


def test_from_settings_protects_own_addresses() -> None:
    guard = Guard.from_settings(Settings(), DryRunBackend(), own=["192.0.2.10"])
    assert guard.engine.is_protected(__import__("ipaddress").ip_address("192.0.2.10"))
    assert guard.notifier is None
