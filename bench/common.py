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


def sipwarden_command() -> str:
    """The `sipwarden` console script of the running interpreter's environment."""
    script = Path(sys.executable).parent / "sipwarden"
    if script.exists():
        return str(script)
    found = shutil.which("sipwarden")
    if found is None:
        raise RuntimeError("the sipwarden command is not installed (pip install -e .)")
    return found
