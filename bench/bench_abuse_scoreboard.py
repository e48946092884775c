"""`python -m bench abuse_scoreboard`: draw the abuse desk's per-network scoreboard over many listed
addresses, half of them in networks whose owner is cached, half grouped by their /24.

Measures wall and CPU time of this process (the scoreboard is computed in the hub process: a store
read of every attacking address, then grouping and verdicts), with the load average recorded.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import random
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Final

from sqlalchemy import insert

from bench.common import loadavg, markdown_table, set_niceness, write_results
from sipwarden.events import new_id, utcnow
from sipwarden.hub.abuse.desk import AbuseDesk
from sipwarden.hub.abuse.settings import AbuseSettings
from sipwarden.store import Store
from sipwarden.store.hub_tables import abuse_reports, hub_listings
from sipwarden.store.intel_tables import intel_owners

CHUNK: Final = 20_000
#: Owner networks are /22s under 45.0.0.0/8: public space used as data only (never contacted).
FIRST_NET: Final = int(ipaddress.IPv4Address("45.0.0.0"))


def fill(store: Store, addresses: int, networks: int, seed: int = 1) -> None:
    """`networks` cached owners, `addresses` listed addresses (half inside those networks), and one
    sent report per tenth network, so every verdict is drawn."""
    rnd = random.Random(seed)
    now = utcnow()
    nets = [ipaddress.IPv4Network((FIRST_NET + i * 1024, 22)) for i in range(networks)]
    with store.engine.begin() as conn:
        conn.execute(
            insert(intel_owners),
            [
                {
                    "network": str(n),
                    "version": 4,
                    "prefixlen": 22,
                    "handle": f"NET-{i}",
                    "name": f"BENCH-NET-{i}",
                    "org": "Bench Hosting",
                    "asn": 64500 + i % 10,
                    "country": "NL",
                    "abuse_email": f"abuse{i}@bench.example",
                    "source": "bench",
                    "fetched_at": now,
                    "expires_at": now + timedelta(days=30),
                }
                for i, n in enumerate(nets)
            ],
        )
        seen: set[int] = set()
        rows = []
        for i in range(addresses):
            while True:
                if i % 2:
                    number = int(nets[rnd.randrange(networks)].network_address) + rnd.randrange(1, 1023)
                else:
                    number = rnd.randrange(
                        int(ipaddress.IPv4Address("46.0.0.1")), int(ipaddress.IPv4Address("95.0.0.0"))
                    )
                if number not in seen:
                    seen.add(number)
                    break
            last = now - timedelta(hours=rnd.randrange(0, 24 * 30))
            rows.append(
                {
                    "ip": str(ipaddress.IPv4Address(number)),
                    "listed": True,
                    "decision_id": new_id(),
                    "score": 1.0,
                    "reporters": 1,
                    "events": rnd.randrange(1, 500),
                    "reason": "honeypot probe",
                    "first_seen": last - timedelta(days=1),
                    "last_evidence": last,
                    "expires_at": now + timedelta(days=7),
                    "seq": i + 1,
                    "delisted_at": None,
                    "delisted_reason": None,
                }
            )
        for start in range(0, len(rows), CHUNK):
            conn.execute(insert(hub_listings), rows[start : start + CHUNK])
        reports = [
            {
                "id": new_id(),
                "ip": str(n.network_address + 1),
                "network": str(n),
                "recipient": f"abuse{i}@bench.example",
                "status": "sent",
                "events": 1,
                "message": "",
                "created_at": now - timedelta(days=10),
                "attempts": 1,
                "sent_at": now - timedelta(days=10),
            }
            for i, n in enumerate(nets[::10])
        ]
        if reports:
            conn.execute(insert(abuse_reports), reports)


def main(argv: list[str]) -> int:
    """Fill a SQLite store, then draw the scoreboard `--rounds` times."""
    parser = argparse.ArgumentParser(prog="python -m bench abuse_scoreboard")
    parser.add_argument("--addresses", type=int, default=100_000, help="listed addresses")
    parser.add_argument("--networks", type=int, default=5_000, help="cached owner networks")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nice", type=int, default=0, help="niceness (negative needs root)")
    parser.add_argument("--out", type=Path, default=None, help="result JSON (default bench/results/...)")
    args = parser.parse_args(argv)
    if args.nice:
        set_niceness(args.nice)
    work = tempfile.mkdtemp(prefix="sipwarden-bench-abuse-")
    store = Store.open(f"sqlite:///{work}/abuse.db")
    try:
        started = time.perf_counter()
        fill(store, args.addresses, args.networks)
        print(f"filled {args.addresses} listings and {args.networks} owners in {time.perf_counter() - started:.1f} s")
        desk = AbuseDesk(store, AbuseSettings())
        runs = []
        for round_no in range(args.rounds):
            wall, cpu = time.perf_counter(), time.process_time()
            lines = desk.scoreboard(utcnow())
            runs.append(
                {
                    "round": round_no + 1,
                    "wall_seconds": round(time.perf_counter() - wall, 3),
                    "cpu_seconds": round(time.process_time() - cpu, 3),
                    "networks": len(lines),
                    "verdicts": {v: sum(1 for n in lines if n.verdict == v) for v in ("ignores", "acts", "unreported")},
                    "loadavg": loadavg(),
                }
            )
    finally:
        store.close()
    path = write_results(
        "abuse_scoreboard",
        {
            "addresses": args.addresses,
            "owner_networks": args.networks,
            "niceness": os.getpriority(os.PRIO_PROCESS, 0),
            "runs": runs,
        },
        args.out,
    )
    print(
        markdown_table(
            ["round", "wall s", "CPU s", "networks", "load"],
            [[r["round"], r["wall_seconds"], r["cpu_seconds"], r["networks"], r["loadavg"]] for r in runs],
        )
    )
    print(f"results: {path}")
    return 0
