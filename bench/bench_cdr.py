"""CDR scan throughput: read Asterisk Master.csv records and run every fraud rule on them.

    python -m bench cdr [--records 1000000] [--accounts 300] [--workers 2] [--nice -10] [--file PATH] [--out FILE]

A Master.csv of office traffic (national, local and internal calls of `--accounts` accounts over
working days, with a premium-rate night burst at the end) is generated in a temporary directory
(or `--file` is read if it exists, and written there first if it does not), then scanned with
`scan_cdr_files` as `sipwarden cdr scan` does, each time in a fresh fork of this process: once in
one process and once over `--workers` processes. Both must give the very same alerts. Generation is not timed. For scale, the
time `csv.reader` alone takes to split the file is measured too: no Python reader can go below it.
Goal: 1,000,000 records in under 10 s (wall clock).
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final

from bench.common import REPO_DIR, loadavg, markdown_table, set_niceness, write_results

sys.path.insert(0, str(REPO_DIR / "tests" / "cdr"))
from cdrgen import GenCall, asterisk_row, national_number, premium_burst

from sipwarden.fraud.alerts import FraudAlert
from sipwarden.fraud.settings import FraudSettings
from sipwarden.sensors.cdr.scan import ScanTotals, scan_cdr_files

GOAL_RECORDS: Final = 1_000_000
GOAL_SECONDS: Final = 10.0


def generate(path: Path, records: int, accounts: int, seed: int = 7) -> int:
    """Write `records` office calls (plus a night burst) to an Asterisk Master.csv; the burst size."""
    rng = random.Random(seed)
    day = datetime(2026, 11, 2, 8, 0)  # a Monday
    per_day = max(1, accounts * 40)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL)
        t = day
        for i in range(records - 40):
            if i and i % per_day == 0:
                day += timedelta(days=1 if day.isoweekday() < 5 else 3)
            t = day + timedelta(seconds=int((i % per_day) * 36000 / per_day))
            account = str(1000 + rng.randrange(accounts))
            dst = national_number(rng) if rng.random() < 0.8 else str(1000 + rng.randrange(accounts))
            call = GenCall(t, account, dst, 0 if rng.random() < 0.2 else rng.randint(15, 600), 5, "", f"{i}.{i}")
            w.writerow(asterisk_row(call))
        for call in premium_burst(day.replace(hour=23), account="1004", calls=40):
            w.writerow(asterisk_row(call))
    return 40


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def csv_floor(path: Path) -> float:
    """CPU seconds `csv.reader` takes just to split every row of `path`."""
    cpu = time.process_time()
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        for _ in csv.reader(fh):
            pass
    return round(time.process_time() - cpu, 2)


def run_scan(path: Path, workers: int) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """Time `scan_cdr_files` over `path` with `workers` processes; the figures, the alerts, the max RSS (MB).

    Each run forks from the benchmark before any scan, so it starts as `sipwarden cdr scan` does:
    modules imported, no memory left over from an earlier run.
    """
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_scan_child, args=(path, workers, send))
    child.start()
    send.close()
    result, alerts, rss = receive.recv()
    child.join()
    return result, alerts, rss


def _scan_child(path: Path, workers: int, out: Connection) -> None:
    totals = ScanTotals()
    alerts: list[dict[str, Any]] = []
    started, cpu = time.perf_counter(), _cpu()
    for item in scan_cdr_files([path], "asterisk-csv", UTC, FraudSettings(), workers=workers, totals=totals):
        if isinstance(item, FraudAlert):
            alerts.append(item.to_dict())
    elapsed = time.perf_counter() - started
    result = {
        "workers": workers,
        "records": totals.records,
        "external_calls": totals.external_calls,
        "bad": totals.bad,
        "alerts": totals.alerts,
        "seconds": round(elapsed, 2),
        "cpu_seconds": round(_cpu() - cpu, 2),  # this process and its workers
        "records_per_second": round(totals.records / elapsed),
        "load": loadavg(),
    }
    # The scanning process itself, or its biggest worker.
    rss = resource.getrusage(resource.RUSAGE_SELF if workers == 1 else resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    out.send((result, alerts, rss))
    out.close()


def main(argv: Sequence[str]) -> int:
    """Entry point of `python -m bench cdr`."""
    parser = argparse.ArgumentParser(prog="python -m bench cdr", description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=GOAL_RECORDS)
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes of the split run")
    parser.add_argument("--nice", type=int, default=None, help="niceness of the benchmark (e.g. -10, needs root)")
    parser.add_argument("--file", type=Path, default=None, help="reuse (or first write) the generated file here")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.nice is not None:
        set_niceness(args.nice)
    with tempfile.TemporaryDirectory(prefix="bench-cdr-") as tmp:
        path = args.file or Path(tmp) / "Master.csv"
        t0 = time.perf_counter()
        if not path.exists():
            generate(path, args.records, args.accounts)
        gen_s = time.perf_counter() - t0
        size = os.path.getsize(path)
        floor = csv_floor(path)
        single, alerts_single, rss_single = run_scan(path, 1)
        split, alerts_split, rss_workers = run_scan(path, args.workers)
    same = alerts_single == alerts_split
    best = min((single, split), key=lambda r: float(r["seconds"]))
    meets = same and int(best["records"]) >= GOAL_RECORDS and float(best["seconds"]) < GOAL_SECONDS
    result = {
        "args": vars(args)
        | {"out": str(args.out) if args.out else None, "file": str(args.file) if args.file else None},
        "file_mb": round(size / 1e6, 1),
        "generate_seconds": round(gen_s, 1),
        "csv_reader_cpu_seconds": floor,
        "single": single,
        "split": split,
        "same_alerts": same,
        "max_rss_mb": {"single": rss_single, "worker": rss_workers},
        "niceness": os.getpriority(os.PRIO_PROCESS, 0),
        "meets_goal": meets,
    }
    out = write_results("cdr", result, args.out)
    print(markdown_table(
        ["processes", "records", "wall s", "CPU s", "records/s (wall)", "alerts", "load", "max RSS MB"],
        [[r["workers"], f"{r['records']:,}", r["seconds"], r["cpu_seconds"], f"{r['records_per_second']:,}", r["alerts"],
          r["load"], rss] for r, rss in ((single, rss_single), (split, rss_workers))],
    ))  # fmt: skip
    print(f"csv.reader alone: {floor} CPU s; same alerts: {same}; goal (1M < 10 s): {'met' if meets else 'missed'}")
    print(f"results: {out}")
    return 0 if meets else 1
