"""Helpers shared by the hub tests: a store-backed hub, keys, events, a uvicorn server on loopback,
and network namespaces for loading feeds into real firewalls."""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.servekit import serving  # noqa: F401  (re-exported for the hub tests)

from sipwarden.events import utcnow
from sipwarden.hub.api import create_hub_app
from sipwarden.hub.repo import HubRepo
from sipwarden.hub.settings import HubSettings
from sipwarden.store import Store

# Public addresses used as data only (no packet is ever sent to them); documentation ranges
# (192.0.2.0/24 ...) cannot serve here, because the hub rightly refuses to list them.
ATTACKER = "45.134.26.7"
ATTACKER2 = "185.53.88.10"
ATTACKER6 = "2a01:4f8::99"


class Hub:
    """A hub app over a store, with keys of every kind and a test client that sends them."""

    def __init__(self, store: Store, settings: HubSettings | None = None, client_host: str = "198.51.100.1") -> None:
        self.store = store
        self.settings = settings or HubSettings()
        self.app = create_hub_app(store, self.settings)
        self.repo = HubRepo(store, self.settings)
        now = utcnow()
        self.trusted, _ = self.repo.create_key("honeypot-1", "sensor", trusted=True, now=now)
        self.sensors = [self.repo.create_key(f"pbx-{i}", "sensor", trusted=False, now=now)[0] for i in range(4)]
        self.reader, _ = self.repo.create_key("reader", "reader", trusted=False, now=now)
        self.admin, _ = self.repo.create_key("admin", "admin", trusted=False, now=now)
        self.client = TestClient(self.app, client=(client_host, 50000))

    def __enter__(self) -> Hub:
        self.client.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.__exit__(*exc)

    def get(self, url: str, key: str | None = None, **kw: Any) -> Any:
        headers = kw.pop("headers", {})
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return self.client.get(url, headers=headers, **kw)

    def post(self, url: str, key: str | None = None, **kw: Any) -> Any:
        headers = kw.pop("headers", {})
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return self.client.post(url, headers=headers, **kw)

    def submit(self, key: str, *events: dict[str, Any]) -> Any:
        response = self.post("/v1/events", key, json=list(events))
        assert response.status_code == 202, response.text
        return response.json()

    def plain(self) -> list[str]:
        response = self.get("/v1/blocklist", self.reader)
        assert response.status_code == 200, response.text
        return response.text.split()


def event(
    ip: str, kind: str = "probe", source: str = "honeypot", ts: datetime | None = None, **kw: Any
) -> dict[str, Any]:
    """An event as a sensor submits it."""
    when = (ts or utcnow()).isoformat().replace("+00:00", "Z")
    return {"ts": when, "kind": kind, "source": source, "src_ip": ip, **kw}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def need_root_tools(*tools: str) -> None:
    """Skip unless root with every tool on PATH (network namespaces need both)."""
    import os

    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    missing = [t for t in ("ip", *tools) if shutil.which(t) is None]
    if missing:
        pytest.skip(f"missing tools: {', '.join(missing)} (scripts/install-system-deps.sh)")


def run(
    *argv: str, ns: str | None = None, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a command (inside namespace `ns` when given), bounded in time."""
    full = ["ip", "netns", "exec", ns, *argv] if ns else list(argv)
    done = subprocess.run(full, input=stdin, capture_output=True, text=True, timeout=120, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(full)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


@contextmanager
def netns() -> Iterator[str]:
    """A network namespace of our own, removed afterwards."""
    name = f"swhub-{uuid.uuid4().hex[:8]}"
    run("ip", "netns", "add", name)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30, check=False)
