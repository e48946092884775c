"""Memory of the honeypot under OPTIONS from 100,000 distinct source addresses.

    python -m bench honeypot_memory [--sources 100000] [--checkpoints 10000,50000,100000]
                                    [--rate 5000] [--target honeypot|kamailio] [--out FILE]

Each source is its own loopback address (Linux routes all of 127.0.0.0/8 to `lo`, so a UDP socket may
bind to 127.X.Y.Z without configuration). Each source sends one OPTIONS from its own socket,
which waits ANSWER_WAIT_S for the answer and is closed; the sender holds at most MAX_OPEN sockets.
The server's resident memory (VmRSS, summed over its processes) is sampled all along; at each
checkpoint the sender pauses so the server catches up, and the RSS then is recorded.

The honeypot runs with its default settings: per-source state (rate limiting, flood aggregation) is
exactly what this benchmark exercises, so nothing is lifted. Memory is bounded when RSS stops
growing with the number of sources (the per-source tables have a ceiling).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import resource
import selectors
import socket
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from bench.common import (
    LOOPBACK,
    free_udp_port,
    loadavg,
    markdown_table,
    options_request,
    rss_kib,
    set_niceness,
    udp_drops,
    wait_udp_drained,
    write_results,
)
from bench.servers import HoneypotServer, KamailioServer, Server, store_totals

log = logging.getLogger(__name__)

#: First source address. 127.16.0.0/12 stays clear of 127.0.0.1 (servers, SIPp) and 127.0.0.2 (the
#: readiness probe); 100,000 sources end near 127.17.138.0.
FIRST_SOURCE: Final = ipaddress.IPv4Address("127.16.0.0")
#: Most distinct sources one run may use: the rest of 127.16.0.0/12 (one million addresses).
MAX_SOURCES: Final = 1_000_000
#: Sockets open at once (the sender raises its open-file limit to fit). At 5,000 new sources a second
#: and ANSWER_WAIT_S of 0.5 s about 2,500 are open.
MAX_OPEN: Final = 4096
#: How long a source waits for its answer. The honeypot answers in well under a millisecond when idle;
#: half a second covers a busy machine's scheduling delays (and is RFC 3261's T1).
ANSWER_WAIT_S: Final = 0.5
#: Pause at each checkpoint so the server drains its queue before its RSS is read.
SETTLE_S: Final = 2.0
#: RSS sampling period for the peak.
SAMPLE_PERIOD_S: Final = 0.05
#: Bounded growth: from the middle checkpoint to the last, RSS may grow at most this share of what it
#: grew from the first checkpoint to the middle one, scaled per source.
BOUNDED_SLOPE_RATIO: Final = 0.5
DEFAULT_CHECKPOINTS: Final = (10_000, 50_000, 100_000)


def source_addresses(count: int) -> Iterator[str]:
    """`count` distinct loopback addresses from FIRST_SOURCE on, skipping .0 and .255 host bytes."""
    if count > MAX_SOURCES:
        raise ValueError(f"at most {MAX_SOURCES} sources")
    produced = 0
    candidate = int(FIRST_SOURCE)
    while produced < count:
        candidate += 1
        if candidate & 0xFF in (0, 0xFF):
            continue
        produced += 1
        yield str(ipaddress.IPv4Address(candidate))


@dataclass
class RssSampler:
    """Samples the RSS of a server's processes in a thread; keeps the peak."""

    server: Server
    peak_kib: int = 0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def current(self) -> int:
        """RSS now (KiB), also folded into the peak."""
        value = rss_kib(self.server.pids())
        self.peak_kib = max(self.peak_kib, value)
        self.samples += 1
        return value

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_PERIOD_S):
            self.current()

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


class Sender:
    """Sends one OPTIONS from each new source and counts the answers, holding at most MAX_OPEN sockets.

    A source's socket stays open ANSWER_WAIT_S for its answer, then closes; a late answer then meets a
    closed port (ICMP port unreachable), as it would for a real scanner that moved on.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.sent = 0
        self.answered = 0
        self._open: deque[tuple[float, socket.socket]] = deque()
        self._selector = selectors.DefaultSelector()

    def send(self, address: str) -> None:
        """One OPTIONS from `address` (a fresh socket bound to it)."""
        if len(self._open) >= MAX_OPEN:
            self.poll(max(0.0, self._open[0][0] - time.monotonic()))
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind((address, 0))
            sock.sendto(
                options_request(sock.getsockname(), (LOOPBACK, self.port), f"mem-{self.sent}"), (LOOPBACK, self.port)
            )
            self._selector.register(sock, selectors.EVENT_READ)
        except OSError:
            sock.close()
            raise
        self.sent += 1
        self._open.append((time.monotonic() + ANSWER_WAIT_S, sock))

    def poll(self, timeout: float) -> None:
        """Collect answers for up to `timeout` seconds, then close sockets whose wait is over."""
        deadline = time.monotonic() + timeout
        while True:
            for key, _ in self._selector.select(max(0.0, deadline - time.monotonic())):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                self._selector.unregister(sock)  # one answer per source is all we count
                try:
                    if sock.recv(65535).startswith(b"SIP/2.0 "):
                        self.answered += 1
                except OSError:
                    continue
            now = time.monotonic()
            while self._open and (self._open[0][0] <= now or len(self._open) > MAX_OPEN):
                self._close(self._open.popleft()[1])
            if now >= deadline:
                return

    def drain(self) -> None:
        """Wait out every open socket's answer window (bounded by ANSWER_WAIT_S)."""
        if self._open:
            self.poll(max(0.0, self._open[-1][0] - time.monotonic()))
        while self._open:
            self._close(self._open.popleft()[1])

    def _close(self, sock: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)
        sock.close()

    def close(self) -> None:
        """Close every socket."""
        while self._open:
            self._close(self._open.popleft()[1])
        self._selector.close()


def make_server(target: str, workdir: Path, port: int, workers: int = 1) -> Server:
    """The honeypot with default settings (its per-source limits are what is measured), or Kamailio.

    `workers` > 1 sets `[honeypot] workers`; RSS is then summed over the main process and its workers.
    """
    if target == "honeypot":
        return HoneypotServer(workdir, port, settings={"honeypot": {"workers": workers}} if workers > 1 else {})
    if target == "kamailio":
        return KamailioServer(workdir, port)
    raise ValueError(f"unknown target {target!r}")


def run(
    target: str,
    sources: int,
    checkpoints: Sequence[int],
    rate: float,
    workdir: Path,
    settle: float = SETTLE_S,
    workers: int = 1,
) -> dict[str, Any]:
    """Send from `sources` addresses at `rate` new sources/s, recording RSS at each checkpoint."""
    port = free_udp_port()
    server = make_server(target, workdir / f"{target}-memory", port, workers)
    loadavg_before = loadavg()
    server.start()
    points: list[dict[str, Any]] = []
    try:
        sampler = RssSampler(server)
        baseline = sampler.current()
        started = time.monotonic()
        pace_start, pace_sent = started, 0  # the pacing clock restarts after each checkpoint pause
        marks = sorted({c for c in checkpoints if 0 < c <= sources} | {sources})
        addresses = source_addresses(sources)
        sender = Sender(port)
        with sampler:
            try:
                for mark in marks:
                    for address in addresses:
                        sender.send(address)
                        # Pace to `rate`: spend any lead over the schedule collecting answers.
                        lead = (sender.sent - pace_sent) / rate - (time.monotonic() - pace_start)
                        sender.poll(max(0.0, lead))
                        if sender.sent >= mark:
                            break
                    sender.drain()
                    time.sleep(settle)
                    pace_start, pace_sent = time.monotonic(), sender.sent
                    # What the server really saw: sources sent minus datagrams its socket dropped.
                    received = sender.sent - (udp_drops(port) or 0)
                    point = {"sources": sender.sent, "received": received, "answered": sender.answered}
                    points.append({**point, "rss_kib": sampler.current()})
                    log.info("%s: %d sources, %d received, %d answered, RSS %d KiB", target, *points[-1].values())
            finally:
                sender.close()
        sent, answered = sender.sent, sender.answered
        elapsed = time.monotonic() - started
        drained = wait_udp_drained(port)
        drops = udp_drops(port) or 0
    finally:
        server.stop()
    result: dict[str, Any] = {
        "target": target,
        "workers": workers,
        "sources": sources,
        "rate_sources_per_s": rate,
        "elapsed_s": round(elapsed, 2),
        "sent": sent,
        "answered": answered,
        "server_socket_drops": drops,
        "server_drained": drained,
        "baseline_rss_kib": baseline,
        "peak_rss_kib": sampler.peak_kib,
        "checkpoints": points,
        "bounded": bounded(points),
        "server_exit_status": server.exit_status,
        "loadavg_before": loadavg_before,
        "loadavg_after": loadavg(),
    }
    if isinstance(server, HoneypotServer):
        received = sent + server.ready_requests - drops
        totals = store_totals(server.db_url)
        result["store"] = {
            "requests_received": received,
            "ready_probes": server.ready_requests,
            **totals,
            "accounted": totals["count_sum"] == received,
        }
    return result


def bounded(points: Sequence[dict[str, Any]]) -> bool | None:
    """Whether RSS growth per source slowed down from the first half of the run to the second.

    None with fewer than three checkpoints. Growth under 4 MiB overall also counts as bounded (noise).
    """
    if len(points) < 3:
        return None
    first, middle, last = points[0], points[len(points) // 2], points[-1]
    if last["rss_kib"] - first["rss_kib"] < 4096:
        return True
    seen = "received" if all("received" in p for p in points) else "sources"
    early = (middle["rss_kib"] - first["rss_kib"]) / max(1, middle[seen] - first[seen])
    late = (last["rss_kib"] - middle["rss_kib"]) / max(1, last[seen] - middle[seen])
    return bool(late <= BOUNDED_SLOPE_RATIO * max(early, 0.0))


def table(result: dict[str, Any]) -> str:
    """The Markdown table of docs/benchmarks.md: sources -> answered, RSS."""
    rows = [("0 (started)", "", "", f"{result['baseline_rss_kib'] / 1024:.1f}")]
    rows.extend(
        (f"{p['sources']:,}", f"{p['received']:,}", f"{p['answered']:,}", f"{p['rss_kib'] / 1024:.1f}")
        for p in result["checkpoints"]
    )
    rows.append(("peak", "", "", f"{result['peak_rss_kib'] / 1024:.1f}"))
    return markdown_table(("sources sent", "received by server", "answered", "RSS MiB"), rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the memory benchmark; print the table; write JSON. Exit 1 when memory was not bounded."""
    parser = argparse.ArgumentParser(prog="python -m bench honeypot_memory", description=__doc__.split("\n")[0])
    parser.add_argument("--sources", type=int, default=DEFAULT_CHECKPOINTS[-1], help="distinct source addresses")
    parser.add_argument("--checkpoints", default=",".join(map(str, DEFAULT_CHECKPOINTS)), help="record RSS here")
    parser.add_argument("--rate", type=float, default=5000.0, help="new sources per second (default 5000)")
    parser.add_argument("--settle", type=float, default=SETTLE_S, help="pause at each checkpoint (s)")
    parser.add_argument("--target", default="honeypot", choices=("honeypot", "kamailio"))
    parser.add_argument("--workers", type=int, default=1, help="[honeypot] workers of the honeypot (default 1)")
    parser.add_argument("--nice", type=int, help="niceness for the benchmark and its servers (e.g. -10 as root)")
    parser.add_argument("--workdir", type=Path, help="keep logs and the store here")
    parser.add_argument("--out", type=Path, help="JSON results (default bench/results/honeypot_memory.json)")
    args = parser.parse_args(argv)
    if not 0 < args.sources <= MAX_SOURCES or args.rate <= 0 or args.settle < 0:
        parser.error(f"--sources must be 1..{MAX_SOURCES}, --rate positive, --settle not negative")
    checkpoints = [int(c) for c in args.checkpoints.split(",") if c]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < MAX_OPEN + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, MAX_OPEN + 256), hard))
    if args.nice is not None:
        set_niceness(args.nice)
    with tempfile.TemporaryDirectory(prefix="sipwarden-bench-") as tmp:
        result = run(
            args.target, args.sources, checkpoints, args.rate, args.workdir or Path(tmp), args.settle, args.workers
        )
    path = write_results(
        "honeypot_memory" if args.target == "honeypot" else f"{args.target}_memory",
        {"command": "python -m bench honeypot_memory " + " ".join(argv or []), **result},
        args.out,
    )
    print(table(result))
    print(f"peak RSS {result['peak_rss_kib'] / 1024:.1f} MiB; bounded: {result['bounded']}")
    if "store" in result:
        s = result["store"]
        print(f"store: Σcount {s['count_sum']} vs received {s['requests_received']}: accounted={s['accounted']}")
    print(f"results: {path}")
    return 0 if result["bounded"] is not False and result.get("store", {}).get("accounted", True) else 1
