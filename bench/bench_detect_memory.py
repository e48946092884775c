"""Detection memory: the engine tracking N distinct sources (goal: 1,000,000 under 300 MB).

Each source sends a few failed REGISTERs (different usernames), staying under every limit, so nothing
is banned and every source stays tracked. Memory is measured two ways: tracemalloc (Python
allocations made while feeding, events themselves freed) and the growth of the process RSS.

    python -m bench detect_memory --sources 1000000 --events-per-source 3 --no-trace --nice -10
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import os
import resource
import time
import tracemalloc
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bench.common import markdown_table, set_niceness, write_results
from sipwarden.detect import DetectSettings, Engine
from sipwarden.events import Event

T0 = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)
#: Base of the synthetic sources: documentation and benchmark ranges only (never routed).
BASE_V4 = int(ipaddress.ip_address("198.18.0.0"))  # RFC 2544 benchmark block, a /15


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run(sources: int, per_source: int, *, trace: bool) -> dict[str, float | int]:
    """Feed `sources` x `per_source` events; return memory and time figures."""
    gc.collect()
    rss0 = _rss_mib()  # before the engine: its address index is sized up front and counts too
    if trace:
        tracemalloc.start()
    engine = Engine(DetectSettings())
    started = time.perf_counter()
    cpu0 = time.process_time()
    decisions = 0
    for round_ in range(per_source):
        for i in range(sources):
            ip = str(ipaddress.IPv4Address(BASE_V4 + i % (1 << 17))) if sources <= (1 << 17) else _ip(i)
            event = Event(
                ts=T0 + timedelta(seconds=round_ * 5 + i / sources),
                kind="auth_failure",
                source="asterisk",
                src_ip=ip,
                username=f"{100 + round_}",  # a new string per event, as a parser makes it
            )
            decisions += len(engine.feed(event))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    traced = 0
    if trace:
        traced, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    gc.collect()
    rss = _rss_mib() - rss0
    return {
        "sources": sources,
        "events_per_source": per_source,
        "tracked": len(engine.sources),
        "decisions": decisions,
        "traced_mib": round(traced / 2**20, 1),
        "rss_growth_mib": round(rss, 1),
        "bytes_per_source": round((traced or rss * 2**20) / max(1, sources)),
        "events_per_second": round(sources * per_source / elapsed),
        "events_per_cpu_second": round(sources * per_source / max(cpu, 1e-9)),
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _ip(i: int) -> str:
    # Beyond a /15, spread over 10.0.0.0/8 (never sent anywhere: these are only dictionary keys).
    return str(ipaddress.IPv4Address(0x0A000000 + i))


def main(argv: Sequence[str]) -> int:
    """Entry point of `python -m bench detect_memory`."""
    parser = argparse.ArgumentParser(prog="python -m bench detect_memory", description=__doc__)
    parser.add_argument("--sources", type=int, default=1_000_000)
    parser.add_argument("--events-per-source", type=int, default=2)
    parser.add_argument("--no-trace", action="store_true", help="RSS only (tracemalloc slows feeding ~2x)")
    parser.add_argument("--limit-mib", type=float, default=300.0, help="fail when memory exceeds this")
    parser.add_argument("--out", default=None)
    parser.add_argument("--nice", type=int, help="niceness of the benchmark (e.g. -10 as root)")
    args = parser.parse_args(argv)
    if args.nice is not None:
        set_niceness(args.nice)
    result = run(args.sources, args.events_per_source, trace=not args.no_trace)
    from pathlib import Path

    result["load"] = round(os.getloadavg()[0], 1)
    write_results(
        "detect_memory", {"result": result, "limit_mib": args.limit_mib}, Path(args.out) if args.out else None
    )
    print(markdown_table(list(result), [list(result.values())]))
    used = result["traced_mib"] or result["rss_growth_mib"]
    return 0 if used <= args.limit_mib else 1
