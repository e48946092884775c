"""`python -m bench hub_check`: one-address check lookups per second from loopback, driven by wrk,
against `sipwarden hub --workers N` on SQLite with `--listed` addresses on the list.

With `--distinct 100000` every lookup asks about a different address (half listed, half not), so
nothing is served from a cache: each answer comes from the process's in-memory index of the listed
set (hub/lookup.py). Also measures, in this process, how long loading the index takes and how much
memory it holds for `--index-listed` addresses (1,000,000 by default).
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from bench import bench_hub_feed
from bench.bench_hub_feed import FIRST_ADDRESS, fill, hub_server
from bench.common import (
    cpu_seconds,
    free_udp_port,
    loadavg,
    process_tree,
    rss_kib,
    set_niceness,
    write_results,
)
from sipwarden.events import utcnow
from sipwarden.hub.lookup import HubIndex
from sipwarden.hub.repo import HubRepo
from sipwarden.hub.settings import HubSettings
from sipwarden.store import Store

#: Goal: lookups per second.
CHECK_GOAL: Final = 5000
#: Endpoints a PBX may ask, by `--endpoint`.
ENDPOINTS: Final = ("native", "apiban", "apiban-v2", "sentrypeer")
#: Even lookups ask about listed address FIRST_ADDRESS + i, odd ones about 81.x.y.z (never listed).
#: Each wrk thread starts at its own offset, so with --distinct 100000 no address is asked twice.
LUA: Final = """
local counter = 0
function setup(thread)
  thread:set("offset", counter * 50021)
  counter = counter + 1
end
local n = nil
local function octets(v)
  return math.floor(v / 16777216) % 256 .. "." .. math.floor(v / 65536) % 256 .. "." ..
         math.floor(v / 256) % 256 .. "." .. v % 256
end
request = function()
  if n == nil then n = offset end
  n = n + 1
  local m = n % DISTINCT
  local ip
  if m % 2 == 0 then
    ip = octets(FIRST + (m / 2) % LISTED)
  else
    ip = "81." .. math.floor(m / 65536) % 256 .. "." .. math.floor(m / 256) % 256 .. "." .. m % 256
  end
  ENDPOINT
end
"""
REQUESTS: Final = {
    "native": 'return wrk.format("GET", "/v1/check/" .. ip)',
    "apiban": 'return wrk.format("GET", "/api/KEY/check/" .. ip)',
    "apiban-v2": 'return wrk.format("POST", "/api/check", {["Authorization"] = "Bearer KEY"}, '
    '\'{"set":"sip","ipaddress":"\' .. ip .. \'"}\')',
    "sentrypeer": 'return wrk.format("GET", "/ip-addresses/" .. ip)',
}


def hub_pids(port: int) -> list[int]:
    """The hub process listening on `port` and its workers."""
    needle = f"127.0.0.1:{port}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"hub" in cmdline and needle in cmdline:
            return process_tree(int(entry.name))
    return []


def wait_idle(pids: list[int], timeout: float = 300.0) -> float:
    """Seconds until the hub processes stop using CPU (their indexes are loaded)."""
    start = time.monotonic()
    last = cpu_seconds(pids)
    while time.monotonic() - start < timeout:
        time.sleep(0.5)
        now = cpu_seconds(pids)
        if now - last < 0.05:
            break
        last = now
    return time.monotonic() - start


def index_footprint(listed: int, work: Path) -> dict[str, Any]:
    """Load an index of `listed` addresses in this process: seconds and RSS growth."""
    db = f"sqlite:///{work}/index.db"
    store = Store.open(db)
    fill(store, listed)
    repo = HubRepo(store, HubSettings())
    gc.collect()
    before = rss_kib([_self()])
    index = HubIndex(repo)
    started = time.perf_counter()
    index.load(utcnow())
    seconds = time.perf_counter() - started
    gc.collect()
    after = rss_kib([_self()])
    stats = index.stats()
    store.close()
    return {
        "listed": stats.listed,
        "load_seconds": round(seconds, 2),
        "rss_growth_mib": round((after - before) / 1024, 1),
        "bytes_per_listing": round((after - before) * 1024 / max(1, stats.listed)),
    }


def _self() -> int:
    return os.getpid()


def main(argv: Sequence[str]) -> int:
    """Run wrk against a hub and record requests per second, CPU time and memory."""
    parser = argparse.ArgumentParser(prog="python -m bench hub_check")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--listed", type=int, default=100_000, help="Addresses on the list during the run.")
    parser.add_argument("--distinct", type=int, default=100_000, help="Distinct addresses asked (half listed).")
    parser.add_argument("--endpoint", choices=ENDPOINTS, default="native")
    parser.add_argument("--index-listed", type=int, default=1_000_000, help="Index footprint size (0: skip).")
    parser.add_argument("--nice", type=int, help="niceness for the benchmark and its servers (e.g. -10 as root)")
    parser.add_argument("--tag", default="", help="Suffix of the results file name.")
    args = parser.parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed (scripts/install-system-deps.sh)")
        return 2
    if args.nice is not None:
        set_niceness(args.nice)
    work = Path(tempfile.mkdtemp(prefix="sipwarden-bench-hub-check-"))
    footprint = index_footprint(args.index_listed, work) if args.index_listed else None
    if footprint:
        print(f"index of {footprint['listed']:,} listed: {footprint}")
    db = f"sqlite:///{work}/hub.db"
    store = Store.open(db)
    fill(store, args.listed)
    key, _ = HubRepo(store, HubSettings()).create_key("bench", "reader", trusted=False, now=utcnow())
    store.close()
    script = work / "check.lua"
    lua = LUA.replace("ENDPOINT", REQUESTS[args.endpoint].replace("KEY", key))
    lua = lua.replace("DISTINCT", str(args.distinct)).replace("LISTED", str(args.listed))
    script.write_text(lua.replace("FIRST", str(FIRST_ADDRESS)))
    port = free_udp_port()
    # Two workers importing the app on a busy shared machine can take longer than the usual bound.
    bench_hub_feed.READY_TIMEOUT_S = max(bench_hub_feed.READY_TIMEOUT_S, 180.0)
    with hub_server(db, port, workers=args.workers) as url:
        pids = hub_pids(port)
        settle = wait_idle(pids)
        rss_before = rss_kib(pids)
        cpu_before = cpu_seconds(pids)
        load_before = loadavg()
        argv_wrk = [wrk, "-t2", f"-c{args.connections}", f"-d{args.seconds}s", "-s", str(script)]
        argv_wrk += ["-H", f"X-Api-Key: {key}", url]
        done = subprocess.run(argv_wrk, capture_output=True, text=True, timeout=args.seconds + 60, check=True)
        cpu_used = cpu_seconds(pids) - cpu_before
        rss_after = rss_kib(pids)
    print(done.stdout)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", done.stdout).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", done.stdout).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    payload = {
        "endpoint": args.endpoint,
        "workers": args.workers,
        "listed": args.listed,
        "distinct": args.distinct,
        "connections": args.connections,
        "seconds": args.seconds,
        "requests": total,
        "requests_per_second": rate,
        "hub_cpu_seconds": round(cpu_used, 2),
        "requests_per_hub_cpu_second": round(total / cpu_used) if cpu_used else None,
        # Not-listed answers are 404 on APIBAN and SentryPeer by design; native answers are all 200.
        "non_2xx": int(errors.group(1)) if errors else 0,
        "hub_rss_mib": {"before": round(rss_before / 1024, 1), "after": round(rss_after / 1024, 1)},
        "settle_seconds": round(settle, 1),
        "index_footprint": footprint,
        "goal": CHECK_GOAL,
        "loadavg": {"before": load_before, "after": loadavg()},
        "nice": args.nice,
        "wrk": done.stdout,
    }
    name = "hub_check" + (f"_{args.tag}" if args.tag else "")
    print(f"results: {write_results(name, payload)}")
    return 0
