"""Helpers for the agent tests: real hub processes (`sipwarden hub`) on loopback, with keys."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.hub.hub_testkit import ATTACKER, ATTACKER2, ATTACKER6, event, free_port
from tests.servekit import stop, wait_healthy

from sipwarden.events import utcnow
from sipwarden.hub.repo import HubRepo
from sipwarden.hub.settings import HubSettings
from sipwarden.store import Store

__all__ = [
    "ATTACKER",
    "ATTACKER2",
    "ATTACKER6",
    "HubProcess",
    "event",
    "free_port",
    "hub_keys",
    "hub_process",
    "wait_for",
]

ROOT = Path(__file__).resolve().parents[2]
#: Seconds a hub process may take to answer /health-check (imports are slow on a busy machine).
HUB_START_TIMEOUT_S = 90


def hub_keys(url: str) -> dict[str, str]:
    """Create a trusted sensor key, two untrusted sensor keys and a reader key in the hub's store."""
    store = Store.open(url)
    try:
        repo = HubRepo(store, HubSettings())
        now = utcnow()
        return {
            "trusted": repo.create_key("honeypot-1", "sensor", trusted=True, now=now)[0],
            "pbx1": repo.create_key("pbx-1", "sensor", trusted=False, now=now)[0],
            "pbx2": repo.create_key("pbx-2", "sensor", trusted=False, now=now)[0],
            "reader": repo.create_key("reader", "reader", trusted=False, now=now)[0],
        }
    finally:
        store.close()


class HubProcess:
    """A `sipwarden hub` process on 127.0.0.1:`port` that a test may kill (-9) and start again."""

    def __init__(self, db_url: str, port: int, *, config: Path | None = None, log: Path | None = None) -> None:
        self.argv = [sys.executable, "-m", "sipwarden", "hub", "--db", db_url, "--listen", f"127.0.0.1:{port}"]
        if config is not None:
            self.argv += ["--config", str(config)]
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        """Start it and wait until it answers; its base URL."""
        out = self.log.open("ab") if self.log is not None else subprocess.PIPE
        try:
            self.proc = subprocess.Popen(
                self.argv, cwd=ROOT, env=os.environ.copy(), stdout=out, stderr=subprocess.STDOUT
            )
        finally:
            if self.log is not None:
                out.close()  # type: ignore[union-attr]
        wait_healthy(self.proc, self.url, HUB_START_TIMEOUT_S)
        return self.url

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: no shutdown of any kind."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM; uvicorn waits for open streams, so after a short grace the hard way (a crash is fine too)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        stop(self.proc, 2, 5)


@contextmanager
def hub_process(db_url: str, port: int, *, config: Path | None = None) -> Iterator[str]:
    """A `sipwarden hub` process on 127.0.0.1:`port`; yields its base URL, stops it afterwards."""
    hub = HubProcess(db_url, port, config=config)
    try:
        yield hub.start()
    finally:
        hub.stop()


async def wait_for(check: Callable[[], bool | Awaitable[bool]], timeout: float = 20.0, step: float = 0.05) -> bool:
    """Poll `check` until it is true or `timeout` seconds pass; return its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result or time.monotonic() >= deadline:
            return result
        await asyncio.sleep(step)
