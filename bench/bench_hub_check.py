"""`python -m bench hub_check`: `/v1/check/{ip}` lookups per second from loopback, driven by wrk,
against `sipwarden hub --workers N` on SQLite with 100,000 listed addresses."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from bench.bench_hub_feed import address, fill, hub_server
from bench.common import free_udp_port, loadavg, write_results
from sipwarden.events import utcnow
from sipwarden.hub.repo import HubRepo
from sipwarden.hub.settings import HubSettings
from sipwarden.store import Store

#: Goal: lookups per second.
CHECK_GOAL: Final = 5000
#: wrk asks about DISTINCT addresses in turn (half listed, half not): a few hundred sources is what a
#: PBX under attack sees; with thousands, most answers miss the one-second cache.
LUA: Final = """
counter = 0
request = function()
  counter = counter + 1
  local n = counter % DISTINCT
  local ip = "45.0." .. math.floor(n / 250) .. "." .. (n % 250 + 1)
  if n % 2 == 1 then ip = "81.2.69." .. (n % 250 + 1) end
  return wrk.format("GET", "/v1/check/" .. ip)
end
"""


def main(argv: Sequence[str]) -> int:
    """Run wrk against a hub and record requests per second."""
    parser = argparse.ArgumentParser(prog="python -m bench hub_check")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--distinct", type=int, default=200, help="Distinct addresses asked about (half listed).")
    args = parser.parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed (scripts/install-system-deps.sh)")
        return 2
    work = Path(tempfile.mkdtemp(prefix="sipwarden-bench-hub-check-"))
    db = f"sqlite:///{work}/hub.db"
    store = Store.open(db)
    fill(store, 100_000)
    key, _ = HubRepo(store, HubSettings()).create_key("bench", "reader", trusted=False, now=utcnow())
    store.close()
    script = work / "check.lua"
    script.write_text(LUA.replace("DISTINCT", str(args.distinct)))
    assert address(0) == "45.0.0.1"
    with hub_server(db, free_udp_port(), workers=args.workers) as url:
        time.sleep(1)
        argv_wrk = [
            wrk,
            "-t2",
            f"-c{args.connections}",
            f"-d{args.seconds}s",
            "-s",
            str(script),
            "-H",
            f"X-Api-Key: {key}",
            url,
        ]
        done = subprocess.run(argv_wrk, capture_output=True, text=True, timeout=args.seconds + 60, check=True)
    print(done.stdout)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", done.stdout).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    payload = {
        "workers": args.workers,
        "distinct": args.distinct,
        "connections": args.connections,
        "seconds": args.seconds,
        "requests_per_second": rate,
        "non_2xx": int(errors.group(1)) if errors else 0,
        "goal": CHECK_GOAL,
        "loadavg": loadavg(),
        "wrk": done.stdout,
    }
    print(f"results: {write_results('hub_check', payload)}")
    return 0
