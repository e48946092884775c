"""Log parsing speed: `sipwarden parse` against `fail2ban-regex` on the same Asterisk log.

The goal: at least 20x fail2ban-regex's lines/s (fail2ban reads ~50,000 lines/s), i.e. 1,000,000+
lines/s on a realistic log that is mostly noise. Both tools run as the operator runs them (a fresh
process, start-up included), each three times per log: the run with the least CPU counts (other
work on the machine only adds). The in-process rate of `parse_file` alone is reported too.

    python -m bench parse --nice -10        # 200,000 and 1,000,000 lines
    python -m bench parse --lines 50000     # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import contextlib
import random
import re
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import sipwarden
from bench.common import loadavg, machine, markdown_table, set_niceness, sipwarden_command, write_results
from sipwarden.sensors.logs import LogFollower, make_parser, parse_file

F2B_FILTER: Final = Path("/etc/fail2ban/filter.d/asterisk.conf")
#: Share of lines that are attacks; the rest is the chatter of a working PBX.
ATTACK_SHARE: Final = 0.02
#: Bound on one tool run (fail2ban-regex needs ~20 s per million lines).
RUN_TIMEOUT_S: Final = 900
#: Start-up is timed as the least CPU of this many runs (other work on the machine only adds).
START_UP_RUNS: Final = 5
#: Each tool parses each log this many times; the run with the least CPU counts, for both tools alike.
TOOL_RUNS: Final = 3

NOISE: Final = (
    'VERBOSE[{lwp}][C-{cid:08x}] pbx.c:     -- Executing [{n}@from-internal:1] Dial("PJSIP/{n}-{cid:08x}", "PJSIP/{m},30") in new stack',
    "VERBOSE[{lwp}][C-{cid:08x}] app_dial.c:     -- Called PJSIP/{m}",
    "VERBOSE[{lwp}][C-{cid:08x}] app_dial.c:     -- PJSIP/{m}-{cid:08x} is ringing",
    "VERBOSE[{lwp}][C-{cid:08x}] bridge_channel.c:     -- Channel PJSIP/{m}-{cid:08x} joined 'simple_bridge' basic-bridge <{cid:x}>",
    "VERBOSE[{lwp}] res_pjsip/pjsip_configuration.c: Endpoint {n} is now Reachable",
    "DEBUG[{lwp}] res_rtp_asterisk.c: Setting RTP source address to 10.0.{a}.{b}:{port}",
    "NOTICE[{lwp}] res_pjsip/pjsip_options.c: Endpoint {n} qualify timeout; considered Unreachable",
    "WARNING[{lwp}][C-{cid:08x}] channel.c: Unable to find a codec translation path: (ulaw) -> (opus)",
    'VERBOSE[{lwp}][C-{cid:08x}] pbx.c:     -- Executing [s@macro-hangupcall:3] Hangup("PJSIP/{n}-{cid:08x}", "") in new stack',
    "VERBOSE[{lwp}] chan_sip.c:   == Using SIP RTP CoS mark 5",
)
ATTACKS: Final = (
    "NOTICE[{lwp}] chan_sip.c: Registration from '\"{n}\"<sip:{n}@198.51.100.1:5060>' failed for '{ip}:{port}' - Wrong password",
    "NOTICE[{lwp}] chan_sip.c: Registration from '<sip:{n}@pbx.example.com>' failed for '{ip}' - No matching peer found",
    "NOTICE[{lwp}][C-{cid:08x}] chan_sip.c: Call from '' ({ip}:{port}) to extension '00972{n}' rejected because extension not found in context 'default'.",
    "NOTICE[{lwp}] res_pjsip/pjsip_distributor.c: Request 'REGISTER' from '<sip:{n}@pbx.example.com>' failed for '{ip}:{port}' (callid: {cid:x}) - No matching endpoint found",
    "NOTICE[{lwp}] res_pjsip/pjsip_distributor.c: Request 'INVITE' from '<sip:{n}@pbx.example.com>' failed for '{ip}:{port}' (callid: {cid:x}) - Failed to authenticate after 3 tries in 0.1 ms",
    'SECURITY[{lwp}] res_security_log.c: SecurityEvent="InvalidPassword",EventTV="2024-03-01T10:00:00.000+0000",Severity="Error",Service="PJSIP",EventVersion="2",AccountID="{n}",SessionID="{cid:x}",LocalAddress="IPV4/UDP/192.0.2.10/5060",RemoteAddress="IPV4/UDP/{ip}/{port}",Challenge="1/abc",ReceivedChallenge="1/abc",ReceivedHash="ff"',
    "NOTICE[{lwp}] manager.c: {ip} failed to authenticate as 'admin'",
)


def generate(path: Path, lines: int, seed: int = 5060, attack_share: float = ATTACK_SHARE) -> int:
    """Write a `lines`-line Asterisk full log (dates `[%F %T]`); return the number of attack lines."""
    rng = random.Random(seed)
    attacks = 0
    with path.open("w", encoding="utf-8") as f:
        for i in range(lines):
            second = i // 50
            stamp = f"[2024-03-01 {second // 3600 % 24:02d}:{second // 60 % 60:02d}:{second % 60:02d}] "
            values: dict[str, Any] = {
                "lwp": rng.randrange(1000, 9999),
                "cid": rng.randrange(1 << 32),
                "n": rng.randrange(100, 999),
                "m": rng.randrange(100, 999),
                "a": rng.randrange(256),
                "b": rng.randrange(256),
                "port": rng.randrange(1024, 65535),
                "ip": f"203.0.113.{rng.randrange(1, 255)}",
            }
            if rng.random() < attack_share:
                template = ATTACKS[rng.randrange(len(ATTACKS))]
                attacks += 1
            else:
                template = NOISE[rng.randrange(len(NOISE))]
            f.write(stamp + template.format(**values) + "\n")
    return attacks


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True, slots=True)
class Timing:
    """One tool run: wall seconds, CPU seconds (robust on a machine shared with other work), matches."""

    wall: float
    cpu: float
    matched: int


def run_sipwarden(path: Path) -> Timing:
    """`sipwarden parse FILE` (format auto-detected), as an operator runs it."""
    cpu0, started = _children_cpu(), time.perf_counter()
    out = subprocess.run(
        [sipwarden_command(), "parse", str(path)], capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=True
    )
    wall, cpu = time.perf_counter() - started, _children_cpu() - cpu0
    m = re.search(r"matched: (\d+)", out.stdout)
    return Timing(wall, cpu, int(m.group(1)) if m else -1)


def run_fail2ban(path: Path) -> Timing | None:
    """`fail2ban-regex FILE asterisk.conf`; None if fail2ban is not installed."""
    tool = shutil.which("fail2ban-regex")
    if tool is None or not F2B_FILTER.exists():
        return None
    cpu0, started = _children_cpu(), time.perf_counter()
    out = subprocess.run([tool, str(path), str(F2B_FILTER)], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    wall, cpu = time.perf_counter() - started, _children_cpu() - cpu0
    m = re.search(r"Lines: \d+ lines, \d+ ignored, (\d+) matched", out.stdout)
    return Timing(wall, cpu, int(m.group(1)) if m else -1)


def least_cpu(run: Callable[[Path], Timing | None], path: Path, runs: int) -> Timing | None:
    """The run of `run(path)` with the least CPU time out of `runs` (None when the tool is missing)."""
    timings = [t for t in (run(path) for _ in range(runs)) if t is not None]
    return min(timings, key=lambda t: t.cpu) if timings else None


def in_process(path: Path, *, events: bool = False) -> Timing:
    """`parse_file` alone (no interpreter start-up); with `events`, every Event is built too.

    The summary reads only `pattern_id` and `kind` (as `sipwarden parse` does); `watch`, `run`
    and `parse --json` read `event`, which builds the Event (id, time, fields) on first use.
    """
    parser = make_parser("asterisk", ())
    cpu0, started = time.process_time(), time.perf_counter()
    if events:
        matched = sum(1 for r in parse_file(path, parser=parser) if r.pattern_id and r.event is not None)
    else:
        matched = sum(1 for r in parse_file(path, parser=parser) if r.pattern_id)
    return Timing(time.perf_counter() - started, time.process_time() - cpu0, matched)


def start_up() -> Timing:
    """`sipwarden parse` of a one-line log: the interpreter, imports and configuration."""
    with tempfile.TemporaryDirectory(prefix="sipwarden-bench-start-") as tmp:
        path = Path(tmp) / "one"
        path.write_text("[2024-03-01 00:00:00] NOTICE[1] manager.c: 203.0.113.1 failed to authenticate as 'a'\n")
        runs = [run_sipwarden(path) for _ in range(START_UP_RUNS)]
    return min(runs, key=lambda t: t.cpu)


async def _latency(folder: Path, samples: int, poll_interval: float) -> list[float]:
    log = folder / "live.log"
    log.write_text("")
    follower = LogFollower([str(log)], state_path=folder / "state.json", fmt="asterisk", poll_interval=poll_interval)
    it = follower.events()
    delays: list[float] = []
    pending = asyncio.ensure_future(anext(it))
    await asyncio.sleep(0.2)  # the follower has opened the file
    with log.open("a", encoding="utf-8") as f:
        for i in range(samples):
            await asyncio.sleep(0.011 * (i % 7))  # writes at unrelated moments of the poll cycle
            written = time.perf_counter()
            f.write(
                f"[2024-03-01 00:00:00] NOTICE[1] manager.c: 203.0.113.{i % 250 + 1} failed to authenticate as 'a'\n"
            )
            f.flush()
            await asyncio.wait_for(pending, 5)
            delays.append(time.perf_counter() - written)
            pending = asyncio.ensure_future(anext(it))
    pending.cancel()
    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
        await pending
    await it.aclose()
    return delays


def measure_latency(samples: int = 200, poll_interval: float = 0.05) -> dict[str, float]:
    """Delay from a line appended to a log to its Event leaving `LogFollower.events()` (seconds)."""
    with tempfile.TemporaryDirectory(prefix="sipwarden-bench-tail-") as tmp:
        delays = asyncio.run(_latency(Path(tmp), samples, poll_interval))
    delays.sort()
    return {
        "samples": samples,
        "poll_interval_s": poll_interval,
        "median_ms": round(statistics.median(delays) * 1000, 1),
        "p95_ms": round(delays[int(len(delays) * 0.95) - 1] * 1000, 1),
        "max_ms": round(delays[-1] * 1000, 1),
    }


def main(argv: Sequence[str]) -> int:
    """Generate the logs, time both tools, print the Markdown table and write the JSON results."""
    ap = argparse.ArgumentParser(prog="python -m bench parse", description=__doc__)
    ap.add_argument("--lines", type=int, nargs="+", default=[200_000, 1_000_000])
    ap.add_argument("--no-fail2ban", action="store_true", help="time sipwarden only")
    ap.add_argument("--latency-only", action="store_true", help="only measure the tail latency")
    ap.add_argument("--nice", type=int, default=0, help="niceness of both tools (negative needs root)")
    ap.add_argument("--runs", type=int, default=TOOL_RUNS, help="runs of each tool per log; the least CPU counts")
    args = ap.parse_args(argv)
    if args.nice:
        set_niceness(args.nice)
    # As installed from a wheel (pip byte-compiles), not as an editable checkout run under
    # PYTHONDONTWRITEBYTECODE, where every start would compile the sources again.
    compileall.compile_dir(Path(sipwarden.__file__).parent, quiet=1)
    if args.latency_only:
        print(measure_latency())
        return 0
    rows = []
    results = []
    with tempfile.TemporaryDirectory(prefix="sipwarden-bench-parse-") as tmp:
        for n in args.lines:
            path = Path(tmp) / f"full-{n}"
            attacks = generate(path, n)
            size_mb = path.stat().st_size / 1e6
            sw = least_cpu(run_sipwarden, path, args.runs)
            assert sw is not None
            core = in_process(path)
            core_events = in_process(path, events=True)
            noise_path = Path(tmp) / f"noise-{n}"
            generate(noise_path, n, attack_share=0.0)
            noise = in_process(noise_path)
            noise_path.unlink()
            f2b = None if args.no_fail2ban else least_cpu(run_fail2ban, path, args.runs)
            result = {
                "lines": n,
                "megabytes": round(size_mb, 1),
                "attack_lines": attacks,
                "sipwarden": asdict(sw),
                "parse_file": asdict(core),
                "parse_file_events": asdict(core_events),
                "parse_file_noise_only": asdict(noise),
                "fail2ban": asdict(f2b) if f2b else None,
                "load": loadavg(),
            }
            results.append(result)
            rows.append(
                [
                    f"{n:,}",
                    f"{size_mb:.0f} MB",
                    f"{attacks:,}",
                    f"{n / sw.cpu:,.0f} ({n / sw.wall:,.0f})",
                    f"{sw.matched:,}",
                    f"{n / core.cpu:,.0f}",
                    f"{n / core_events.cpu:,.0f}",
                    f"{n / noise.cpu:,.0f}",
                    f"{n / f2b.cpu:,.0f} ({n / f2b.wall:,.0f})" if f2b else "-",
                    f"{f2b.matched:,}" if f2b else "-",
                    f"{f2b.cpu / sw.cpu:.1f}x / {f2b.cpu / core.cpu:.1f}x" if f2b else "-",
                    f"{result['load']:.1f}",
                ]
            )
    header = [
        "lines",
        "size",
        "attack lines",
        "sipwarden parse lines/CPU-s (wall)",
        "sipwarden matches",
        "parse_file lines/CPU-s",
        "parse_file with Events lines/CPU-s",
        "parse_file noise-only lines/CPU-s",
        "fail2ban-regex lines/CPU-s (wall)",
        "fail2ban matches",
        "speed-up (CLI / core)",
        "load",
    ]
    latency = measure_latency()
    start = start_up()
    m = machine()
    print(f"machine: {m.cpus} CPUs, {m.cpu_model}, Python {m.python}")
    print(markdown_table(header, rows))
    print(
        f"\nstart-up of `sipwarden parse` (one-line log, least of {START_UP_RUNS}): {start.cpu:.2f} CPU-s, {start.wall:.2f} s wall"
    )
    print(
        f"\ntail latency (line appended -> event yielded, poll {latency['poll_interval_s']} s, "
        f"{latency['samples']} lines): median {latency['median_ms']} ms, p95 {latency['p95_ms']} ms, "
        f"max {latency['max_ms']} ms"
    )
    write_results(
        "parse", {"runs": results, "tool_runs": args.runs, "start_up": asdict(start), "tail_latency": latency}
    )
    return 0
