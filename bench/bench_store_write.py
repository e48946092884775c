"""Store write and read speed: EventWriter throughput, put() cost, and the queries the UI and CLI run.

The goal (docs/design.md, "Data flow"): writes never slow the event loop, and the store keeps up
with a honeypot under a scan flood (10,000 events/s on the reference 2-core machine).

    python -m bench store_write --events 200000
    python -m bench store_write --db postgresql://user@127.0.0.1:5432/db --events 100000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import loadavg, markdown_table, write_results
from sipwarden.events import Event
from sipwarden.store import EventWriter, Store

T0 = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)
#: Events per second the writer must sustain (a SIPVicious scan from many sources, not aggregated).
GOAL_EVENTS_PER_S = 10_000
#: Query repetitions for the latency figures (median is reported).
QUERY_REPEATS = 20


def _events(n: int) -> list[Event]:
    # Realistic rows: an OPTIONS probe with a User-Agent and a bounded raw message.
    raw = (
        "OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.0.1:5060\r\nUser-Agent: friendly-scanner\r\n\r\n"
    )
    return [
        Event(
            ts=T0 + timedelta(milliseconds=i),
            kind="probe" if i % 3 else "auth_failure",
            source="honeypot",
            sensor="bench",
            src_ip=f"198.18.{(i >> 8) & 255}.{i & 255}",
            src_port=5060,
            transport="udp",
            method="OPTIONS",
            user_agent="friendly-scanner",
            tool="sipvicious/svmap",
            raw=raw,
            detail={"seq": i},
        )
        for i in range(n)
    ]


def _median_ms(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(QUERY_REPEATS):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def run(url: str, n: int, batch: int) -> dict[str, Any]:
    """Write `n` events through an EventWriter into `url`; time it and a few queries."""
    events = _events(n)
    store = Store.open(url)
    try:
        writer = EventWriter(store, max_batch=batch, max_queue=n + 1)
        started = time.perf_counter()
        for ev in events:
            writer.put(ev)
        put_s = time.perf_counter() - started
        writer.flush(timeout=600)
        total_s = time.perf_counter() - started
        writer.close()
        middle = events[n // 2].id
        result: dict[str, Any] = {
            "backend": store.dialect,
            "events": n,
            "batch": batch,
            "events_per_s": round(n / total_s),
            "put_us": round(put_s / n * 1e6, 2),
            "dropped": writer.dropped,
            "after_id_100_ms": _median_ms(lambda: store.events(after_id=middle, limit=100)),
            "newest_100_ms": _median_ms(lambda: store.events(limit=100, newest=True)),
            "by_ip_ms": _median_ms(lambda: store.events(ip="198.18.1.1", limit=100)),
            "kind_since_100_ms": _median_ms(
                lambda: store.events(kind="auth_failure", since=T0 + timedelta(seconds=n / 2000), limit=100)
            ),
            "load_1m": loadavg(),
        }
    finally:
        store.close()
    return result


def main(argv: Sequence[str]) -> int:
    """Entry point of `python -m bench store_write`."""
    parser = argparse.ArgumentParser(prog="python -m bench store_write", description=__doc__)
    parser.add_argument("--db", default=None, help="store URL (default: a new SQLite file in a temp dir)")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sipwarden-bench-") as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        result = run(url, args.events, args.batch)
    name = f"store_write_{result['backend']}"
    write_results(
        name, {"goal": {"events_per_s": GOAL_EVENTS_PER_S}, "result": result}, Path(args.out) if args.out else None
    )
    print(markdown_table(list(result), [list(result.values())]))
    return 0 if result["events_per_s"] >= GOAL_EVENTS_PER_S and not result["dropped"] else 1
