"""`python -m bench hub_feed`: the full feed of 1,000,000 listed addresses (plain and nft), cold and
cached. Also holds what the other hub benchmarks share: filling a store fast, starting a hub."""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Final

import httpx
from sqlalchemy import insert

from bench.common import LOOPBACK, READY_TIMEOUT_S, sipwarden_command, stop_process
from sipwarden.events import new_id, utcnow
from sipwarden.store import Store
from sipwarden.store.hub_tables import hub_changes, hub_listings

#: Public addresses used as data only (never contacted): 45.0.0.0/8 holds 16 M of them.
FIRST_ADDRESS: Final = int(ipaddress.IPv4Address("45.0.0.1"))
CHUNK: Final = 50_000


def address(i: int) -> str:
    """The i-th benchmark address."""
    return str(ipaddress.IPv4Address(FIRST_ADDRESS + i))


def fill(store: Store, count: int) -> None:
    """List `count` addresses directly in the tables (the API path is measured elsewhere)."""
    now = utcnow()
    until = now + timedelta(days=7)
    with store.engine.begin() as conn:
        for start in range(0, count, CHUNK):
            stop = min(count, start + CHUNK)
            conn.execute(
                insert(hub_changes),
                [{"seq": i + 1, "ip": address(i), "op": "add", "ts": now} for i in range(start, stop)],
            )
            conn.execute(
                insert(hub_listings),
                [
                    {
                        "ip": address(i),
                        "listed": True,
                        "decision_id": new_id(),
                        "score": 1.0,
                        "reporters": 1,
                        "events": 1,
                        "reason": "honeypot probe",
                        "first_seen": now,
                        "last_evidence": now,
                        "expires_at": until,
                        "seq": i + 1,
                        "delisted_at": None,
                        "delisted_reason": None,
                    }
                    for i in range(start, stop)
                ],
            )


@contextmanager
def hub_server(db: str, port: int, workers: int = 1, config: str | None = None) -> Iterator[str]:
    """`sipwarden hub` on loopback; yields its base URL once /health-check answers."""
    argv = [sipwarden_command(), "hub", "--db", db, "--listen", f"{LOOPBACK}:{port}", "--workers", str(workers)]
    if config:
        argv += ["--config", config]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ))
    url = f"http://{LOOPBACK}:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"hub exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            try:
                if httpx.get(f"{url}/health-check", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("hub did not answer in time")
            time.sleep(0.1)
        yield url
    finally:
        stop_process(proc, signal.SIGTERM)


#: Goal: the whole feed served in under this many seconds.
FEED_GOAL_S: Final = 2.0


def main(argv: list[str]) -> int:
    """Fill a store, start a hub, time full downloads of the plain and nft feeds."""
    import argparse
    import tempfile

    from bench.common import free_udp_port, write_results
    from sipwarden.hub.repo import HubRepo
    from sipwarden.hub.settings import HubSettings

    parser = argparse.ArgumentParser(prog="python -m bench hub_feed")
    parser.add_argument("--count", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="sipwarden-bench-hub-")
    db = f"sqlite:///{work}/hub.db"
    store = Store.open(db)
    started = time.perf_counter()
    fill(store, args.count)
    key, _ = HubRepo(store, HubSettings()).create_key("bench", "reader", trusted=False, now=utcnow())
    store.close()
    print(f"filled {args.count} listings in {time.perf_counter() - started:.1f} s")
    rows = []
    with (
        hub_server(db, free_udp_port()) as url,
        httpx.Client(timeout=120, headers={"X-Api-Key": key, "Accept-Encoding": "identity"}) as client,
    ):
        for fmt in ("plain", "nft"):
            for label in ("cold (rendered)", "cached", "cached"):
                t0 = time.perf_counter()
                response = client.get(f"{url}/v1/blocklist", params={"format": fmt})
                elapsed = time.perf_counter() - t0
                assert response.status_code == 200
                lines = response.text.count("\n")
                rows.append(
                    {
                        "format": fmt,
                        "request": label,
                        "seconds": round(elapsed, 3),
                        "bytes": len(response.content),
                        "lines": lines,
                    }
                )
                print(f"{fmt:6} {label:16} {elapsed:6.3f} s  {len(response.content) / 1e6:6.1f} MB")
            t0 = time.perf_counter()
            with client.stream(
                "GET", f"{url}/v1/blocklist", params={"format": fmt}, headers={"Accept-Encoding": "gzip"}
            ) as response:
                size = sum(len(c) for c in response.iter_raw())
            elapsed = time.perf_counter() - t0
            rows.append(
                {"format": fmt, "request": "cached, gzip", "seconds": round(elapsed, 3), "bytes": size, "lines": None}
            )
            print(f"{fmt:6} {'cached, gzip':16} {elapsed:6.3f} s  {size / 1e6:6.1f} MB")
    path = write_results("hub_feed", {"count": args.count, "goal_s": FEED_GOAL_S, "rows": rows})
    print(f"results: {path}")
    return 0
