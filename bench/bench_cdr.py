"""CDR scan throughput: read Asterisk Master.csv records and run every fraud rule on them.

    python -m bench cdr [--records 1000000] [--accounts 300] [--out FILE]

A Master.csv of office traffic (national, local and internal calls of `--accounts` accounts over
working days, with a premium-rate night burst at the end) is generated in a temporary directory,
then read with `read_cdr_file` and fed to `FraudGuard` in one process, as `sipwarden cdr scan`
does. Generation is not timed. Goal: 1,000,000 records in under 10 s.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from bench.common import REPO_DIR, loadavg, markdown_table, write_results

sys.path.insert(0, str(REPO_DIR / "tests" / "cdr"))
from cdrgen import GenCall, asterisk_row, national_number, premium_burst

from sipwarden.fraud.guard import FraudGuard
from sipwarden.fraud.settings import FraudSettings
from sipwarden.sensors.cdr.scan import BadRecord, read_cdr_file

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


def run_scan(path: Path) -> dict[str, float | int]:
    """Time reading and examining every record of `path`."""
    guard = FraudGuard(FraudSettings())
    bad = alerts = 0
    started = time.perf_counter()
    cpu = time.process_time()
    for item in read_cdr_file(path, "asterisk-csv", UTC):
        if isinstance(item, BadRecord):
            bad += 1
            continue
        alerts += len(guard.feed(item))
    elapsed = time.perf_counter() - started
    return {
        "records": guard.records_seen,
        "external_calls": guard.external_calls,
        "bad": bad,
        "alerts": alerts,
        "seconds": round(elapsed, 3),
        "cpu_seconds": round(time.process_time() - cpu, 3),
        "records_per_second": round(guard.records_seen / elapsed),
    }


def main(argv: Sequence[str]) -> int:
    """Entry point of `python -m bench cdr`."""
    parser = argparse.ArgumentParser(prog="python -m bench cdr", description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=GOAL_RECORDS)
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-cdr-") as tmp:
        path = Path(tmp) / "Master.csv"
        t0 = time.perf_counter()
        generate(path, args.records, args.accounts)
        gen_s = time.perf_counter() - t0
        size = os.path.getsize(path)
        load = loadavg()
        result = run_scan(path)
    result.update({"file_mb": round(size / 1e6, 1), "generate_seconds": round(gen_s, 1), "load": load})
    meets = result["records"] >= GOAL_RECORDS and float(result["seconds"]) < GOAL_SECONDS
    result["meets_goal"] = meets
    out = write_results("cdr", {"args": vars(args) | {"out": str(args.out) if args.out else None}, **result}, args.out)
    print(markdown_table(
        ["records", "file MB", "seconds", "records/s", "alerts", "load", "goal (1M < 10 s)"],
        [[f"{result['records']:,}", result["file_mb"], result["seconds"], f"{result['records_per_second']:,}",
          result["alerts"], load, "met" if meets else "missed"]],
    ))  # fmt: skip
    print(f"results: {out}")
    return 0 if meets else 1
