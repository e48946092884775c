"""`python -m bench hub_stream`: how long a new decision takes to reach 100 stream subscribers.

A `sipwarden hub` runs on loopback (SQLite); 100 clients hold `/v1/stream` open; a trusted sensor
submits one event, and the time until the last subscriber has the `new` decision is recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Sequence
from typing import Final

import httpx

from bench.bench_hub_feed import hub_server
from bench.common import free_udp_port, loadavg, write_results
from sipwarden.events import utcnow
from sipwarden.hub.repo import HubRepo
from sipwarden.hub.settings import HubSettings
from sipwarden.store import Store

#: Goal: every subscriber has the decision within this many seconds.
STREAM_GOAL_S: Final = 1.0
#: Bound on any wait (seconds).
WAIT_S: Final = 30.0


async def subscriber(
    client: httpx.AsyncClient, url: str, key: str, ready: asyncio.Event, connected: list[int]
) -> float:
    """Open the stream, then return the monotonic time at which the first `new` event arrived."""
    async with client.stream("GET", f"{url}/v1/stream", headers={"X-Api-Key": key}) as response:
        async for line in response.aiter_lines():
            if line.startswith(": sipwarden"):
                connected.append(1)
                ready.set()
            elif line == "event: new":
                return time.monotonic()
    raise RuntimeError("stream ended")


async def run(url: str, sensor: str, reader: str, subscribers: int, rounds: int) -> list[float]:
    limits = httpx.Limits(max_connections=subscribers + 10)
    latencies: list[float] = []
    async with httpx.AsyncClient(timeout=WAIT_S, limits=limits) as client:
        for round_no in range(rounds):
            connected: list[int] = []
            ready = asyncio.Event()
            tasks = [asyncio.create_task(subscriber(client, url, reader, ready, connected)) for _ in range(subscribers)]
            deadline = time.monotonic() + WAIT_S
            while len(connected) < subscribers and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert len(connected) == subscribers, f"only {len(connected)} subscribers connected"
            ip = f"45.1.{round_no}.9"
            event = {"ts": utcnow().isoformat(), "kind": "probe", "source": "honeypot", "src_ip": ip}
            sent = time.monotonic()
            response = await client.post(f"{url}/v1/events", json=[event], headers={"X-Api-Key": sensor})
            assert response.status_code == 202 and response.json()["listed"] == [ip], response.text
            arrivals = await asyncio.wait_for(asyncio.gather(*tasks), WAIT_S)
            latencies.append(max(arrivals) - sent)
            print(f"round {round_no + 1}: last of {subscribers} subscribers after {latencies[-1] * 1000:.0f} ms")
    return latencies


def main(argv: Sequence[str]) -> int:
    """Start a hub, run the rounds, record the latencies."""
    parser = argparse.ArgumentParser(prog="python -m bench hub_stream")
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="sipwarden-bench-hub-stream-")
    db = f"sqlite:///{work}/hub.db"
    store = Store.open(db)
    repo = HubRepo(store, HubSettings())
    sensor, _ = repo.create_key("honeypot", "sensor", trusted=True, now=utcnow())
    reader, _ = repo.create_key("reader", "reader", trusted=False, now=utcnow())
    store.close()
    with hub_server(db, free_udp_port()) as url:
        latencies = asyncio.run(run(url, sensor, reader, args.subscribers, args.rounds))
    payload = {
        "subscribers": args.subscribers,
        "latencies_s": [round(x, 4) for x in latencies],
        "max_s": round(max(latencies), 4),
        "median_s": round(statistics.median(latencies), 4),
        "goal_s": STREAM_GOAL_S,
        "loadavg": loadavg(),
    }
    print(f"results: {write_results('hub_stream', payload)}")
    return 0
