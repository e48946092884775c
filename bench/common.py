"""What every benchmark shares: the machine, processes and their memory, UDP socket drops, results.

Benchmarks talk only to loopback (127.0.0.0/8). Every wait is bounded by a deadline and every loop by a
count, so a server that never answers makes a benchmark fail, not hang.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

BENCH_DIR: Final = Path(__file__).resolve().parent
REPO_DIR: Final = BENCH_DIR.parent
RESULTS_DIR: Final = BENCH_DIR / "results"

#: The only host benchmarks send to or listen on.
LOOPBACK: Final = "127.0.0.1"

#: How long a server may take to answer its first OPTIONS after start. Python start-up with the
#: store schema creation takes about a second; 30 s allows for a machine busy with other work.
READY_TIMEOUT_S: Final = 30.0

#: How long a server may take to exit after SIGINT/SIGTERM. The honeypot flushes its event batch on
#: exit, which may be a few thousand rows.
STOP_TIMEOUT_S: Final = 60.0

#: How long a server may take to read what is still queued on its socket after a flood ends.
DRAIN_TIMEOUT_S: Final = 30.0

#: Page size of /proc/PID/stat counters (clock ticks per second for utime/stime).
_CLK_TCK: Final = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Machine:
    """Where a benchmark ran: numbers are only comparable on the same kind of machine."""

    cpus: int
    cpu_model: str
    kernel: str
    python: str
    sipp: str
    kamailio: str


def _first_line(argv: Sequence[str], pattern: str) -> str:
    """The first output line of a version command matching `pattern`, or '' when the tool is missing."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    for line in (out.stdout + out.stderr).splitlines():
        if re.search(pattern, line):
            return line.strip()
    return ""


def machine() -> Machine:
    """Describe this machine (nproc, lscpu model name, kernel, tool versions)."""
    model = _first_line(["lscpu"], r"^Model name:")
    return Machine(
        cpus=os.cpu_count() or 0,
        cpu_model=model.split(":", 1)[1].strip() if ":" in model else platform.processor(),
        kernel=platform.release(),
        python=platform.python_version(),
        sipp=_first_line(["sipp", "-v"], r"SIPp v"),
        kamailio=_first_line(["kamailio", "-v"], r"^version:"),
    )


# --- processes -----------------------------------------------------------------------------------------


def child_pids(pid: int) -> list[int]:
    """Direct children of `pid` (all its threads), from /proc; [] when it is gone."""
    children: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return children
    for tid in tasks:
        try:
            text = Path(f"/proc/{pid}/task/{tid}/children").read_text()
        except OSError:
            continue
        children.extend(int(c) for c in text.split())
    return children


def process_tree(pid: int, limit: int = 256) -> list[int]:
    """`pid` and its descendants (bounded by `limit`; Kamailio forks about ten)."""
    seen: list[int] = []
    todo = [pid]
    while todo and len(seen) < limit:
        current = todo.pop()
        if current in seen:
            continue
        seen.append(current)
        todo.extend(child_pids(current))
    return seen


def rss_kib(pids: Iterable[int]) -> int:
    """Sum of VmRSS (KiB) of `pids`; processes that are gone count as 0.

    Kamailio's children share one mmap'ed memory pool, so their sum overstates Kamailio's real use; it
    is an upper bound, which is what a memory ceiling needs.
    """
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
        except (OSError, ValueError):
            continue
    return total


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU seconds used so far by `pids` (from /proc/PID/stat)."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command name; utime and stime are fields 14 and 15 (proc(5)).
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / _CLK_TCK


def stop_process(proc: subprocess.Popen[bytes], sig: int, timeout: float = STOP_TIMEOUT_S) -> int:
    """Send `sig`, wait up to `timeout` for exit, then kill; return the exit status."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
            raise RuntimeError(f"pid {proc.pid} did not exit {timeout:.0f} s after signal {sig}") from None
    return proc.returncode


def loadavg() -> float:
    """The 1-minute load average: other work on the machine skews every number, so it is recorded."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return -1.0


def set_niceness(value: int) -> None:
    """Run this process and everything it starts (servers, SIPp) at niceness `value` (negative: root).

    On a machine shared with other work, the kernel otherwise hands the benchmark's processes whatever
    is left, and the numbers measure the neighbours. Servers and SIPp inherit the same value, so the
    comparison between them stays fair.
    """
    os.setpriority(os.PRIO_PROCESS, 0, value)


# --- UDP on loopback ------------------------------------------------------------------------------------


def free_udp_port(host: str = LOOPBACK) -> int:
    """A UDP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class UdpSocketState:
    """Kernel counters of the UDP sockets bound to one address (summed when several share the port)."""

    rx_queue_bytes: int  # received, not yet read by the server
    drops: int  # dropped because the receive buffer was full


def udp_socket_state(port: int, host: str = LOOPBACK) -> UdpSocketState | None:
    """The `rx_queue` and `drops` columns of /proc/net/udp for host:port (or the wildcard); None: no socket.

    Read it before the server exits: the counters live and die with the socket.
    """
    want_ip = socket.inet_aton(host)[::-1].hex().upper()  # /proc prints the address in host byte order
    wanted = (f"{want_ip}:{port:04X}", f"00000000:{port:04X}")
    try:
        lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return None
    found = False
    queued = drops = 0
    for line in lines:
        fields = line.split()
        if len(fields) >= 13 and fields[1] in wanted:
            found = True
            queued += int(fields[4].split(":")[1], 16)
            drops += int(fields[-1])
    return UdpSocketState(queued, drops) if found else None


def udp_drops(port: int, host: str = LOOPBACK) -> int | None:
    """Datagrams the kernel dropped for the UDP socket(s) bound to host:port; None: no such socket."""
    state = udp_socket_state(port, host)
    return None if state is None else state.drops


def wait_udp_drained(port: int, timeout: float = DRAIN_TIMEOUT_S) -> bool:
    """Wait until the server has read every datagram queued on its socket; False if it did not in time.

    Stopping a server closes its socket, and whatever is still queued there is lost without a trace in
    any counter; a benchmark that accounts for every request must not stop the server before this.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = udp_socket_state(port)
        if state is None or state.rx_queue_bytes == 0:
            return True
        time.sleep(0.05)
    return False


#: The account benchmark OPTIONS ask for: 100 is one of the honeypot's default bait accounts (and what
#: svmap asks for), so the honeypot answers 200 as Kamailio does, not 404 for an unknown user.
BENCH_USER: Final = "100"


def options_request(
    src: tuple[str, int], dst: tuple[str, int], call_id: str, user_agent: str = "sipwarden-bench"
) -> bytes:
    """One OPTIONS request from `src` to `dst` (RFC 3261 11.1), unique by Call-ID and branch."""
    shost, sport = src
    dhost, dport = dst
    return (
        f"OPTIONS sip:{BENCH_USER}@{dhost}:{dport} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {shost}:{sport};branch=z9hG4bK{call_id}\r\n"
        f"From: <sip:bench@{shost}>;tag={call_id}\r\n"
        f"To: <sip:{BENCH_USER}@{dhost}:{dport}>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Max-Forwards: 70\r\n"
        f"User-Agent: {user_agent}\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def wait_sip_ready(
    port: int,
    proc: subprocess.Popen[bytes] | None = None,
    timeout: float = READY_TIMEOUT_S,
    source: str = "127.0.0.2",
) -> int:
    """Send OPTIONS from `source` until a SIP response comes back; return how many requests were sent.

    The count matters: a server that records every request (the honeypot) stores these too. `source`
    differs from the flood's 127.0.0.1 so the two can be told apart in the store.
    """
    deadline = time.monotonic() + timeout
    # Probe only once the socket exists: a probe sent before would be refused, not received, and the
    # count of received requests must be exact.
    while udp_socket_state(port) is None:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} before listening")
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on udp:{LOOPBACK}:{port} after {timeout:.0f} s")
        time.sleep(0.05)
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(0.2)
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"server exited with status {proc.returncode} before answering")
            sock.sendto(options_request(sock.getsockname(), (LOOPBACK, port), f"ready-{sent}"), (LOOPBACK, port))
            sent += 1
            try:
                data = sock.recv(65535)
            except (TimeoutError, ConnectionRefusedError):
                continue
            if data.startswith(b"SIP/2.0 "):
                return sent
    raise RuntimeError(f"no SIP answer on udp:{LOOPBACK}:{port} within {timeout:.0f} s")


# --- results --------------------------------------------------------------------------------------------


def write_results(name: str, payload: Mapping[str, Any], out: Path | None = None) -> Path:
    """Write `payload` with the machine description as JSON to `out` (default bench/results/NAME.json)."""
    path = out or RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": asdict(machine()),
        **payload,
    }
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table (for docs/benchmarks.md)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" for _ in header) + "|"]
    lines.extend("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)
    return "\n".join(lines)


# --- servers under test ---------------------------------------------------------------------------------


class Server:
    """A SIP server listening on udp:127.0.0.1:PORT, started and stopped by a benchmark."""

    name: str = "server"
    #: Signal that makes the server exit cleanly (flushing what it holds).
    stop_signal: int = signal.SIGTERM

    def __init__(self, workdir: Path, port: int) -> None:
        self.workdir = workdir
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_requests = 0  # OPTIONS sent by wait_sip_ready before the server answered
        self.exit_status: int | None = None

    def argv(self) -> list[str]:
        """The command that starts the server in the foreground."""
        raise NotImplementedError

    def start(self) -> None:
        """Start the server and wait until it answers OPTIONS."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / f"{self.name}.log").open("wb")
        self.proc = subprocess.Popen(self.argv(), cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        try:
            self.ready_requests = wait_sip_ready(self.port, self.proc)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{self.name}: {exc}; see {self.workdir / (self.name + '.log')}") from None

    def pids(self) -> list[int]:
        """The server's processes (main process first)."""
        return process_tree(self.proc.pid) if self.proc is not None and self.proc.poll() is None else []

    def stop(self) -> None:
        """Stop the server cleanly (bounded wait) and record its exit status."""
        if self.proc is not None:
            self.exit_status = stop_process(self.proc, self.stop_signal)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the server wrote (for error messages)."""
        try:
            text = (self.workdir / f"{self.name}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class KamailioServer(Server):
    """Kamailio answering OPTIONS with 200 (bench/kamailio/options.cfg): the C reference."""

    name = "kamailio"
    config: Final = BENCH_DIR / "kamailio" / "options.cfg"

    def __init__(self, workdir: Path, port: int, children: int = 2) -> None:
        super().__init__(workdir, port)
        self.children = children

    def argv(self) -> list[str]:
        """Foreground (-DD) with stderr logs (-E), UDP workers = `children`, small memory pools."""
        return [
            "kamailio",
            *("-f", str(self.config)),
            *("-l", f"udp:{LOOPBACK}:{self.port}"),
            *("-n", str(self.children)),
            "-DD",
            "-E",
            *("-w", str(self.workdir)),
            *("-P", str(self.workdir / "kamailio.pid")),
            *("-m", "64", "-M", "8"),
        ]


#: Honeypot settings for floods from one source. The honeypot rate-limits replies per source (a real
#: scanner gets `rate_per_source` replies a second, then silence); SIPp sends every request from one
#: address and port, so the limit is lifted or the benchmark would measure the limiter, not the server.
HONEYPOT_BENCH_SETTINGS: Final[Mapping[str, Mapping[str, object]]] = {
    "honeypot": {"rate_per_source": 1_000_000_000.0, "rate_burst": 1_000_000_000},
}


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def write_toml(path: Path, sections: Mapping[str, Mapping[str, object]]) -> Path:
    """Write a flat TOML file of `sections` (only what benchmark configs need: scalars and lists)."""
    lines: list[str] = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def sipwarden_command() -> str:
    """The `sipwarden` console script of the running interpreter's environment."""
    script = Path(sys.executable).parent / "sipwarden"
    if script.exists():
        return str(script)
    found = shutil.which("sipwarden")
    if found is None:
        raise RuntimeError("the sipwarden command is not installed (pip install -e .)")
    return found


class HoneypotServer(Server):
    """`sipwarden honeypot` on udp:127.0.0.1:PORT with its own SQLite store in the work directory."""

    name = "honeypot"
    # SIGINT is what an operator's Ctrl-C sends; the honeypot flushes its event batch on it.
    stop_signal = signal.SIGINT

    def __init__(
        self, workdir: Path, port: int, settings: Mapping[str, Mapping[str, object]] = HONEYPOT_BENCH_SETTINGS
    ) -> None:
        super().__init__(workdir, port)
        self.db_url = f"sqlite:///{workdir / 'bench.db'}"
        self.settings = settings

    def argv(self) -> list[str]:
        """`sipwarden honeypot --listen udp:127.0.0.1:PORT --db sqlite:///... --config bench.toml`."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        sections = {"general": {"data_dir": str(self.workdir)}, **self.settings}
        config = write_toml(self.workdir / "bench.toml", sections)
        return [
            sipwarden_command(),
            "honeypot",
            *("--listen", f"udp:{LOOPBACK}:{self.port}"),
            *("--db", self.db_url),
            *("--config", str(config)),
        ]


# --- the store ------------------------------------------------------------------------------------------


#: Events read per page when walking the store for per-source figures.
STORE_PAGE: Final = 10_000
#: Pages walked at most (10 million events): a bound, far above any benchmark's output.
STORE_MAX_PAGES: Final = 1_000


def store_totals(db_url: str) -> dict[str, Any]:
    """What the store holds after a run, through the store's own API.

    `rows` stored events, `count_sum` the sum of their `count` (requests they stand for), `by_kind` the
    sum per kind, `sources` distinct source addresses, `flood_sources` those with an aggregated event.
    """
    from sipwarden.store import Store  # imported late: only honeypot runs need the package's store

    store = Store.open(db_url)
    try:
        rows = store.count_events()
        count_sum = store.total_events()
        by_kind: dict[str, int] = {}
        sources: set[str] = set()
        flood_sources: set[str] = set()
        after: str | None = None
        for _ in range(STORE_MAX_PAGES):
            page = store.events(after_id=after, limit=STORE_PAGE)
            if not page:
                break
            for event in page:
                by_kind[event.kind] = by_kind.get(event.kind, 0) + event.count
                if event.src_ip is not None:
                    sources.add(event.src_ip)
                    if event.count > 1:
                        flood_sources.add(event.src_ip)
            after = page[-1].id
    finally:
        store.close()
    return {
        "rows": rows,
        "count_sum": count_sum,
        "by_kind": dict(sorted(by_kind.items())),
        "sources": len(sources),
        "flood_sources": len(flood_sources),
    }
