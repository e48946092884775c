"""Ban speed with nftables, in a network namespace this benchmark creates (root only).

1. Latency: `sipwarden watch` (nft backend) follows a Kamailio log; one banning line (an attack-tool
   User-Agent) is appended for each of N new addresses, and the time from the write to the element
   appearing in the set is taken from `nft monitor` (median, p95; goal: median < 100 ms).
2. Bulk: 100,000 bans applied with one `ban_many` (one nft transaction), then a restart: a new
   Guard reconciles the firewall with 100,000 active decisions read from a SQLite store (goal < 5 s;
   this part's own target 1.5 s on a quiet machine). CPU seconds (all threads) are reported beside
   wall time, since a shared machine stretches wall time.

    python -m bench ban --lines 50 --bulk 100000 --nice -10
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import queue
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.common import markdown_table, set_niceness, write_results
from sipwarden.detect import DetectSettings, Engine
from sipwarden.enforce import Runner, make_ban
from sipwarden.enforce.guard import SYNC_OVERLAP, Guard, firewall_bans
from sipwarden.enforce.nft import NftBackend
from sipwarden.events import Decision, utcnow
from sipwarden.store import Store

LINE = " 1(77) NOTICE: <script>: sipwarden: auth failed src={ip} port=5060 proto=udp method=REGISTER user='1001' ua='friendly-scanner'\n"
#: Addresses used only as set elements inside the benchmark's own namespace (never sent to).
BASE = int(ipaddress.ip_address("10.200.0.0"))


def _ns_run(ns: str, *argv: str) -> str:
    return subprocess.run(
        ["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=60, check=True
    ).stdout


def latency(ns: str, workdir: Path, lines: int) -> dict[str, Any]:
    """Milliseconds from a banning line written to its address in the nft set."""
    log = workdir / "kamailio.log"
    log.write_text("")
    config = workdir / "sipwarden.toml"
    config.write_text(f'[general]\ndata_dir = "{workdir}"\nlog_level = "WARNING"\n')
    sipwarden = str(Path(sys.executable).parent / "sipwarden")
    watch = subprocess.Popen(
        ["ip", "netns", "exec", ns, sipwarden, "watch", str(log), "--format", "kamailio", "--backend", "nft",
         "--config", str(config), "--db", f"sqlite:///{workdir / 'watch.db'}"],
        stdout=subprocess.DEVNULL, stderr=(workdir / "watch.log").open("wb"),
    )  # fmt: skip
    seen: queue.Queue[tuple[float, str]] = queue.Queue()
    monitor = subprocess.Popen(
        ["ip", "netns", "exec", ns, "nft", "monitor", "new", "elements"], stdout=subprocess.PIPE, text=True
    )

    def read() -> None:
        assert monitor.stdout is not None
        for text in monitor.stdout:
            seen.put((time.monotonic(), text))

    threading.Thread(target=read, daemon=True).start()
    samples: list[float] = []
    try:
        deadline = time.monotonic() + 30
        while "sipwarden" not in _ns_run(ns, "nft", "list", "tables") and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # the follower has opened the file
        for i in range(lines):
            ip = str(ipaddress.ip_address(BASE + 1 + i))
            with log.open("a") as f:
                started = time.monotonic()
                f.write(LINE.format(ip=ip))
            limit = started + 5
            while time.monotonic() < limit:
                try:
                    when, text = seen.get(timeout=max(0.0, limit - time.monotonic()))
                except queue.Empty:
                    break
                if f" {ip} " in text:
                    samples.append((when - started) * 1000)
                    break
            time.sleep(0.05)
    finally:
        watch.terminate()
        monitor.terminate()
        watch.wait(15)
        monitor.wait(15)
    samples.sort()
    return {
        "lines": lines,
        "banned": len(samples),
        "median_ms": round(statistics.median(samples), 1) if samples else None,
        "p95_ms": round(samples[max(0, int(len(samples) * 0.95) - 1)], 1) if samples else None,
        "max_ms": round(samples[-1], 1) if samples else None,
    }


def _children_cpu() -> float:
    # CPU seconds of finished child processes (nft, via `ip netns exec`).
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bulk(ns: str, workdir: Path, count: int) -> dict[str, Any]:
    """Seconds to apply `count` bans in one go, and to reconcile them from the store after a restart."""
    runner = Runner.in_netns(ns)
    nft = NftBackend("bulk", runner=runner, flush_conntrack=False)
    nft.setup()
    now = utcnow()
    until = now + timedelta(hours=1)
    values = [str(ipaddress.ip_address(BASE + 65536 + i)) for i in range(count)]
    bans = [make_ban(v, until) for v in values]
    started = time.perf_counter()
    applied = nft.ban_many(bans)
    apply_s = time.perf_counter() - started
    in_set = len(nft.list())
    store = Store.open(f"sqlite:///{workdir / 'bulk.db'}")
    store.add_decisions(
        [
            Decision(ts=now, scope="ip", value=v, action="ban", scenario="bench", reason="bench", until=until)
            for v in values
        ]
    )
    nft.reconcile([])  # the firewall lost everything (a reboot); the store still knows
    store.close()
    store = Store.open(f"sqlite:///{workdir / 'bulk.db'}")  # a restarted process: a new connection
    restarted = NftBackend("bulk", runner=runner, flush_conntrack=False)
    guard = Guard(Engine(DetectSettings()), restarted, store=store)
    started, cpu0, nft0 = time.perf_counter(), time.process_time(), _children_cpu()
    reconciled = asyncio.run(guard.start())
    reconcile_s, reconcile_cpu = time.perf_counter() - started, time.process_time() - cpu0
    reconcile_nft_cpu = _children_cpu() - nft0
    after = len(restarted.list())
    # The same restart in its two halves: reading the store, and making the firewall match it.
    started, cpu0 = time.perf_counter(), time.process_time()
    active = store.active_refs(utcnow())
    store_s, store_cpu = time.perf_counter() - started, time.process_time() - cpu0
    nft.reconcile([])
    started = time.perf_counter()
    restarted.setup()
    Engine(DetectSettings()).restore(active)
    restarted.reconcile(firewall_bans(active))
    firewall_s = time.perf_counter() - started
    # Polls of a running Guard (every [enforce] reconcile_seconds) when nothing changed: right after
    # the 100,000 were written (they are re-read within SYNC_OVERLAP), and once that has passed.
    started = time.perf_counter()
    asyncio.run(guard.sync())
    bulk_sync_ms = (time.perf_counter() - started) * 1000
    time.sleep(SYNC_OVERLAP.total_seconds() + 1)
    asyncio.run(guard.sync())
    started = time.perf_counter()
    asyncio.run(guard.sync())
    idle_sync_ms = (time.perf_counter() - started) * 1000
    store.close()
    return {
        "bans": count,
        "applied": applied,
        "apply_s": round(apply_s, 2),
        "in_set_after_apply": in_set,
        "reconciled": reconciled,
        "restart_reconcile_s": round(reconcile_s, 2),
        "restart_reconcile_cpu_s": round(reconcile_cpu, 2),
        "restart_reconcile_nft_cpu_s": round(reconcile_nft_cpu, 2),
        "in_set_after_restart": after,
        "of_which_store_read_s": round(store_s, 2),
        "of_which_store_read_cpu_s": round(store_cpu, 2),
        "of_which_firewall_s": round(firewall_s, 2),
        "sync_after_bulk_ms": round(bulk_sync_ms, 1),
        "idle_sync_ms": round(idle_sync_ms, 1),
    }


def main(argv: Sequence[str]) -> int:
    """Entry point of `python -m bench ban`."""
    parser = argparse.ArgumentParser(prog="python -m bench ban", description=__doc__)
    parser.add_argument("--lines", type=int, default=50)
    parser.add_argument("--bulk", type=int, default=100_000)
    parser.add_argument("--out", default=None)
    parser.add_argument("--nice", type=int, help="niceness of the benchmark and its processes (e.g. -10)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench ban needs root (network namespace, nftables)", file=sys.stderr)
        return 2
    if args.nice is not None:
        set_niceness(args.nice)
    ns = f"swbench-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=30)
    try:
        _ns_run(ns, "ip", "link", "set", "lo", "up")
        with tempfile.TemporaryDirectory(prefix="sw-bench-ban-") as tmp:
            lat = latency(ns, Path(tmp), args.lines)
            big = bulk(ns, Path(tmp), args.bulk)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False, timeout=30)
    big["load"] = round(os.getloadavg()[0], 1)
    write_results("ban", {"latency": lat, "bulk": big}, Path(args.out) if args.out else None)
    print(markdown_table(list(lat), [list(lat.values())]))
    print()
    print(markdown_table(list(big), [list(big.values())]))
    ok = lat["banned"] == lat["lines"] and big["in_set_after_apply"] == big["bans"] == big["in_set_after_restart"]
    return 0 if ok else 1
