"""SIPp OPTIONS floods at rising rates against the honeypot and against Kamailio (the C reference).

    python -m bench options_flood [--rates 1000,2000,5000,10000,15000,20000] [--duration 10]
                                  [--targets honeypot,kamailio] [--senders 1] [--workers 1] [--out FILE]

For every target and rate a fresh server starts on a free loopback port, SIPp sends RATE x DURATION
OPTIONS (bench/scenarios/options_uac.xml) and the run records what SIPp counted (calls, answered,
failed, retransmissions), what the kernel dropped at the server's socket, and CPU time of server and
SIPp. For the honeypot the store is then opened and the sum of `count` over the stored events must
equal the requests the socket received: everything SIPp sent (retransmissions included) plus the
readiness probes, minus the socket's drops.

Goal (issue "foundation"): at least 10,000 requests/s answered with under 0.1 % loss on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import logging
import resource
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from bench.common import (
    BENCH_DIR,
    BENCH_USER,
    LOOPBACK,
    cpu_seconds,
    free_udp_port,
    loadavg,
    markdown_table,
    set_niceness,
    udp_drops,
    wait_udp_drained,
    write_results,
)
from bench.servers import HONEYPOT_BENCH_SETTINGS, HoneypotServer, KamailioServer, Server, store_totals

log = logging.getLogger(__name__)

SCENARIO: Final = BENCH_DIR / "scenarios" / "options_uac.xml"
DEFAULT_RATES: Final = (1000, 2000, 5000, 10000, 15000, 20000)
TARGETS: Final = ("honeypot", "kamailio")

#: The issue's goal: answered rate and loss ceiling.
GOAL_RATE: Final = 10_000
GOAL_LOSS_PERCENT: Final = 0.1

#: SIPp paces calls from its own timer and its clock starts before the first call, so an offered rate is
#: delivered a little short: 10,000/s for 10 s measured 9,910/s against Kamailio with no loss at all. A
#: run meets the goal when the offered rate is at least GOAL_RATE and this share of it was answered.
SIPP_PACING_TOLERANCE: Final = 0.97

#: SIPp gives up on a run this long after it should have ended (scenario recv timeout is 5 s, the
#: longest retransmission chain of RFC 3261 Timer E/F is 32 s).
SIPP_GRACE_S: Final = 45.0

#: Free ports drawn at most while looking for one with a given remainder (each draw has 1/workers odds).
MAX_PORT_TRIES: Final = 1000

#: How often the drop counter of SIPp's socket is read while it runs.
DROP_POLL_S: Final = 0.2

#: Calls in flight: one second's worth of calls at the target rate (at least 1000). A server that stops
#: answering then throttles SIPp instead of letting it open calls without bound.
MIN_CALL_LIMIT: Final = 1000


@dataclass(frozen=True, slots=True)
class SippRun:
    """What one SIPp process counted (its -stf statistics and -trace_counts message counts)."""

    calls: int  # OutgoingCall(C): calls started
    successful: int  # SuccessfulCall(C): 200 received
    failed: int  # FailedCall(C)
    retransmissions: int  # Retransmissions(C)
    requests_sent: int  # OPTIONS sent, first transmissions
    requests_retransmitted: int  # OPTIONS retransmitted (Timer E)
    elapsed_s: float  # CurrentTime - StartTime of the last statistics line
    exit_status: int
    socket_drops: int = 0  # answers the kernel dropped at SIPp's own socket (last value seen)


def _epoch(field: str) -> float:
    """SIPp writes times as 'date<TAB>time<TAB>epoch'; return the epoch."""
    return float(field.split("\t")[-1])


def _last_row(path: Path) -> dict[str, str]:
    with path.open(newline="", encoding="ascii", errors="replace") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    if not rows:
        raise RuntimeError(f"SIPp wrote no statistics to {path}")
    return rows[-1]


def parse_sipp_results(stats_csv: Path, counts_csv: Path, exit_status: int, socket_drops: int = 0) -> SippRun:
    """Read SIPp's final statistics line and final message counts."""
    stats = _last_row(stats_csv)
    counts = _last_row(counts_csv)
    return SippRun(
        calls=int(stats["OutgoingCall(C)"]),
        successful=int(stats["SuccessfulCall(C)"]),
        failed=int(stats["FailedCall(C)"]),
        retransmissions=int(stats["Retransmissions(C)"]),
        requests_sent=int(counts["0_OPTIONS_Sent"]),
        requests_retransmitted=int(counts["0_OPTIONS_Retrans"]),
        elapsed_s=_epoch(stats["CurrentTime"]) - _epoch(stats["StartTime"]),
        exit_status=exit_status,
        socket_drops=socket_drops,
    )


def sipp_argv(port: int, local_port: int, rate: int, total: int, workdir: Path, tag: str) -> list[str]:
    """SIPp sending `total` OPTIONS at `rate`/s to udp:127.0.0.1:`port` from 127.0.0.1:`local_port`."""
    duration = total / max(rate, 1)
    return [
        "sipp",
        *("-sf", str(workdir / "options_uac.xml")),
        *("-s", BENCH_USER),
        *("-r", str(rate), "-rp", "1000"),
        *("-m", str(total)),
        *("-l", str(max(MIN_CALL_LIMIT, rate))),
        *("-i", LOOPBACK, "-p", str(local_port)),
        "-nd",  # no default behaviours: an unexpected message fails the call instead of being answered
        "-nostdin",
        *("-trace_stat", "-stf", str(workdir / f"stats-{tag}.csv"), "-fd", "1"),
        "-trace_counts",
        *("-timeout", f"{int(duration + SIPP_GRACE_S)}s", "-timeout_error"),
        f"{LOOPBACK}:{port}",
    ]


def sender_port(n: int, spread: int) -> int:
    """A free local port for SIPp sender `n` with port % `spread` == n % `spread`.

    The honeypot's UDP workers take a source by its port modulo their number (workers.py), so with as
    many senders as workers each worker gets one sender, as it would get a share of many scanners.
    """
    for _ in range(MAX_PORT_TRIES):
        port = free_udp_port()
        if port % spread == n % spread:
            return port
    raise RuntimeError(f"no free UDP port with remainder {n % spread} modulo {spread}")


def run_sipp(port: int, rate: int, duration: float, senders: int, workdir: Path, spread: int = 1) -> list[SippRun]:
    """Run `senders` SIPp processes in parallel, each at rate/senders for `duration` seconds."""
    workdir.mkdir(parents=True, exist_ok=True)
    scenario = workdir / "options_uac.xml"
    scenario.write_bytes(SCENARIO.read_bytes())
    share = max(1, rate // senders)
    total = max(1, int(share * duration))
    procs: list[tuple[str, int, subprocess.Popen[bytes]]] = []
    for n in range(senders):
        tag = f"{rate}-{n}"
        local_port = sender_port(n, spread)
        argv = sipp_argv(port, local_port, share, total, workdir, tag)
        out = (workdir / f"sipp-{tag}.out").open("wb")
        procs.append((tag, local_port, subprocess.Popen(argv, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)))
        out.close()
    # While SIPp runs, watch the kernel's drop counter of its socket: answers lost there come back as
    # retransmissions and failed calls that are the sender's fault, not the server's.
    client_drops = dict.fromkeys((tag for tag, _, _ in procs), 0)
    deadline = time.monotonic() + duration + SIPP_GRACE_S + 15
    while time.monotonic() < deadline and any(proc.poll() is None for _, _, proc in procs):
        for tag, local_port, proc in procs:
            if proc.poll() is None:
                client_drops[tag] = max(client_drops[tag], udp_drops(local_port) or 0)
        time.sleep(DROP_POLL_S)
    runs = []
    for tag, _, proc in procs:
        if proc.poll() is None:
            proc.kill()
        status = proc.wait(timeout=10)
        # -trace_counts names its file after the scenario and SIPp's pid.
        counts = workdir / f"options_uac_{proc.pid}_counts.csv"
        if not counts.exists():
            raise RuntimeError(f"SIPp exited with {status} without counts; see {workdir / f'sipp-{tag}.out'}")
        runs.append(parse_sipp_results(workdir / f"stats-{tag}.csv", counts, status, client_drops[tag]))
    return runs


def make_server(target: str, workdir: Path, port: int, workers: int = 1) -> Server:
    """A fresh server of kind `target` (honeypot with `workers` UDP processes, or kamailio)."""
    if target == "honeypot":
        settings = {**HONEYPOT_BENCH_SETTINGS, "honeypot": {**HONEYPOT_BENCH_SETTINGS["honeypot"], "workers": workers}}
        return HoneypotServer(workdir, port, settings)
    if target == "kamailio":
        return KamailioServer(workdir, port)
    raise ValueError(f"unknown target {target!r}; choose from {', '.join(TARGETS)}")


def flood_once(
    target: str, rate: int, duration: float, senders: int, workdir: Path, workers: int = 1
) -> dict[str, Any]:
    """Start `target`, flood it at `rate` for `duration` s, stop it, and account for every request."""
    port = free_udp_port()
    workers = workers if target == "honeypot" else 1
    server = make_server(target, workdir / f"{target}-{rate}", port, workers)
    loadavg_before = loadavg()
    server.start()
    try:
        pids = server.pids()
        cpu_before = cpu_seconds(pids)
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        runs = run_sipp(port, rate, duration, senders, server.workdir, spread=workers)
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        drained = wait_udp_drained(port)
        server_cpu = cpu_seconds(pids) - cpu_before
        drops = udp_drops(port) or 0  # read while the socket still exists
        loadavg_after = loadavg()
    finally:
        server.stop()
    calls = sum(r.calls for r in runs)
    answered = sum(r.successful for r in runs)
    elapsed = max(r.elapsed_s for r in runs)
    datagrams = sum(r.requests_sent + r.requests_retransmitted for r in runs)
    result: dict[str, Any] = {
        "target": target,
        "rate": rate,
        "duration_s": duration,
        "senders": senders,
        "workers": workers,
        "calls": calls,
        "answered": answered,
        "failed": sum(r.failed for r in runs),
        "retransmissions": sum(r.retransmissions for r in runs),
        "loss_percent": round(100.0 * (calls - answered) / calls, 4) if calls else 100.0,
        "answered_per_s": round(answered / elapsed, 1) if elapsed > 0 else 0.0,
        "elapsed_s": round(elapsed, 3),
        "server_socket_drops": drops,
        "server_drained": drained,
        "sipp_socket_drops": sum(r.socket_drops for r in runs),
        "loadavg_before": loadavg_before,
        "loadavg_after": loadavg_after,
        "server_cpu_percent": round(100.0 * server_cpu / elapsed, 1) if elapsed > 0 else 0.0,
        # CPU time per request the server read: what a request costs it, whatever else the machine ran.
        "server_cpu_us_per_request": round(1e6 * server_cpu / max(1, datagrams - drops), 1),
        "sipp_cpu_percent": round(
            100.0
            * (children_after.ru_utime + children_after.ru_stime - children_before.ru_utime - children_before.ru_stime)
            / elapsed,
            1,
        )
        if elapsed > 0
        else 0.0,
        "server_exit_status": server.exit_status,
        "sipp": [asdict(r) for r in runs],
    }
    if isinstance(server, HoneypotServer):
        received = datagrams + server.ready_requests - drops
        totals = store_totals(server.db_url)
        result["store"] = {
            "requests_received": received,
            "requests_sent": datagrams,
            "ready_probes": server.ready_requests,
            **totals,
            "accounted": totals["count_sum"] == received,
        }
    log.info(
        "%s rate=%d: %d/%d answered (%.3f%% loss), %.0f/s, drops=%d",
        target,
        rate,
        answered,
        calls,
        result["loss_percent"],
        result["answered_per_s"],
        drops,
    )
    return result


def meets_goal(row: dict[str, Any]) -> bool:
    """Offered at least GOAL_RATE/s, answered nearly all of it (SIPP_PACING_TOLERANCE), loss under the goal."""
    return bool(
        row["rate"] >= GOAL_RATE
        and row["answered_per_s"] >= SIPP_PACING_TOLERANCE * GOAL_RATE
        and row["loss_percent"] < GOAL_LOSS_PERCENT
    )


def table(rows: Sequence[dict[str, Any]]) -> str:
    """The Markdown table of docs/benchmarks.md."""
    header = (
        "target",
        "offered/s",
        "sent",
        "answered",
        "loss %",
        "answered/s",
        "retrans",
        "server drops",
        "SIPp drops",
        "server CPU %",
        "server CPU µs/req",
        "SIPp CPU %",
        "store Σcount = received",
    )
    body = []
    for r in rows:
        store = r.get("store")
        check = (
            "n/a"
            if store is None
            else f"{store['count_sum']} = {store['requests_received']} " + ("✓" if store["accounted"] else "✗")
        )
        body.append(
            (
                r["target"] + (f" ×{r['workers']}" if r.get("workers", 1) > 1 else ""),
                r["rate"],
                r["calls"],
                r["answered"],
                f"{r['loss_percent']:.3f}",
                f"{r['answered_per_s']:.0f}",
                r["retransmissions"],
                r["server_socket_drops"],
                r["sipp_socket_drops"],
                r["server_cpu_percent"],
                r["server_cpu_us_per_request"],
                r["sipp_cpu_percent"],
                check,
            )
        )
    return markdown_table(header, body)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the floods; print the table; write JSON. Exit 1 when a run failed to account for requests."""
    parser = argparse.ArgumentParser(prog="python -m bench options_flood", description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default=",".join(map(str, DEFAULT_RATES)), help="comma-separated calls/s")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per rate (default 10)")
    parser.add_argument("--targets", default=",".join(TARGETS), help="honeypot, kamailio or both")
    parser.add_argument("--senders", type=int, default=1, help="parallel SIPp processes (default 1)")
    parser.add_argument("--workers", type=int, default=1, help="[honeypot] workers of the honeypot (default 1)")
    parser.add_argument("--nice", type=int, help="niceness for the benchmark and its servers (e.g. -10 as root)")
    parser.add_argument("--workdir", type=Path, help="keep logs, stores and SIPp files here")
    parser.add_argument("--out", type=Path, help="JSON results (default bench/results/options_flood.json)")
    args = parser.parse_args(argv)
    rates = [int(r) for r in args.rates.split(",") if r]
    targets = [t for t in args.targets.split(",") if t]
    for target in targets:
        if target not in TARGETS:
            parser.error(f"unknown target {target!r}")
    if args.senders < 1 or args.workers < 1 or args.duration <= 0 or any(r <= 0 for r in rates):
        parser.error("rates, duration, senders and workers must be positive")
    if args.nice is not None:
        set_niceness(args.nice)
    with tempfile.TemporaryDirectory(prefix="sipwarden-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        rows = []
        for rate in rates:
            for target in targets:
                rows.append(flood_once(target, rate, args.duration, args.senders, workdir, args.workers))
                time.sleep(0.5)  # let the kernel settle sockets between runs
    path = write_results(
        "options_flood",
        {
            "command": "python -m bench options_flood " + " ".join(argv or []),
            "goal": {"answered_per_s": GOAL_RATE, "loss_percent_below": GOAL_LOSS_PERCENT},
            "runs": rows,
        },
        args.out,
    )
    print(table(rows))
    for target in targets:
        met = [str(r["rate"]) for r in rows if r["target"] == target and meets_goal(r)]
        print(f"{target}: goal " + (f"met at {', '.join(met)}/s offered" if met else "NOT met"))
    print(f"results: {path}")
    unaccounted = [r for r in rows if "store" in r and not r["store"]["accounted"]]
    return 1 if unaccounted else 0
