"""`run_main` with `[agent] hub_url`: honeypot events the store committed reach a real hub process."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from tests.agent.agent_testkit import free_port, hub_keys, hub_process, wait_for

from sipwarden.agent import AgentSettings
from sipwarden.app import Running, run_main
from sipwarden.config import GeneralSettings, Settings, WebSettings
from sipwarden.enforce.settings import EnforceSettings
from sipwarden.sensors.honeypot.settings import HoneypotSettings
from sipwarden.store import Store
from sipwarden.store.settings import StoreSettings

OPTIONS = (
    "OPTIONS sip:100@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-agent-1\r\n"
    "From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:100@127.0.0.1>\r\n"
    "Call-ID: agent-run-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nUser-Agent: friendly-scanner\r\n"
    "Content-Length: 0\r\n\r\n"
)


def hub_sources(url: str) -> list[tuple[str, str]]:
    """(sensor, detail) of the test's events in the hub's store."""
    store = Store.open(url)
    try:
        with store.engine.connect() as conn:
            query = text("SELECT sensor, detail FROM events WHERE call_id = 'agent-run-1'")
            return [(r[0], str(r[1])) for r in conn.execute(query)]
    except OperationalError:  # the hub process is writing right now
        return []
    finally:
        store.close()


async def test_run_queues_committed_events_for_the_hub(tmp_path: Path) -> None:
    hub_db = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    Store.open(hub_db).close()
    keys = hub_keys(hub_db)
    sip_port, hub_port = free_port(), free_port()
    settings = Settings(
        general=GeneralSettings(sensor="node-1", data_dir=tmp_path / "var"),
        store=StoreSettings(url=f"sqlite:///{tmp_path / 'local.sqlite'}"),
        web=WebSettings(enabled=False),
        honeypot=HoneypotSettings(listen=[f"udp:127.0.0.1:{sip_port}"]),
        enforce=EnforceSettings(backend="dry-run"),
        agent=AgentSettings(hub_url=f"http://127.0.0.1:{hub_port}", key=keys["pbx1"], retry_min_seconds=0.1),
    )
    started: list[Running] = []
    stop = asyncio.Event()
    with hub_process(hub_db, hub_port):
        task = asyncio.create_task(run_main(settings, stop=stop, ready=started.append))
        try:
            assert await wait_for(lambda: bool(started), 30)
            assert started[0].agent is not None
            arrived = False
            for _attempt in range(3):  # UDP: a datagram may be lost even on loopback
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                    sock.sendto(OPTIONS.encode(), ("127.0.0.1", sip_port))
                # Only the agent writes to the hub's store: the event came through it, recorded under the
                # key's name (pbx-1), with the name this node gave itself kept as `reported_sensor`.
                arrived = await wait_for(lambda: bool(hub_sources(hub_db)), 10)
                if arrived:
                    break
            assert arrived
            [(sensor, detail)] = set(hub_sources(hub_db))
            assert sensor == "pbx-1" and '"reported_sensor": "node-1"' in detail.replace('":"', '": "')
            assert await wait_for(lambda: started[0].agent is not None and started[0].agent.queue.pending() == 0, 10)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
