"""`run_watch`: a log file followed live, events stored, attackers banned (dry-run backend)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sipwarden.cli.watch_cmd import run_watch
from sipwarden.config import Settings
from sipwarden.enforce.dryrun import DryRunBackend
from sipwarden.store import Store

LINE = " 1(77) NOTICE: <script>: sipwarden: auth failed src={ip} port=5062 proto=udp method=REGISTER user='{user}' ua='Yealink'\n"


async def test_watch_bans_from_a_growing_log(tmp_path: Path) -> None:
    log = tmp_path / "kamailio.log"
    log.write_text("")
    settings = Settings.model_validate(
        {"general": {"data_dir": str(tmp_path)}, "enforce": {"protect_own_addresses": False}}
    )
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    backend = DryRunBackend()
    stop = asyncio.Event()
    task = asyncio.create_task(run_watch(settings, [str(log)], backend, store, fmt="kamailio", stop=stop))
    await asyncio.sleep(0.5)
    with log.open("a") as f:
        for i in range(6):
            f.write(LINE.format(ip="192.0.2.66", user=str(100 + i % 2)))
            f.flush()
    for _ in range(100):  # bounded: 10 s
        if backend.list():
            break
        await asyncio.sleep(0.1)
    stop.set()
    guard = await asyncio.wait_for(task, 10)
    assert [b.value for b in backend.list()] == ["192.0.2.66"]
    assert guard.decisions == 1
    [d] = store.active_decisions(__import__("sipwarden.events").events.utcnow())
    assert d.scenario == "bruteforce" and len(d.event_ids) == 5
    assert store.count_events(ip="192.0.2.66") >= 5
    store.close()
