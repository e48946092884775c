"""UDP worker processes: several honeypot processes answer on one port, events go to one store.

With `[honeypot] workers = N` (N > 1) the main process binds N UDP sockets per UDP listener with
SO_REUSEPORT and starts N worker processes (`python -m sipwarden.sensors.honeypot.workers`), each
given one socket of every listener. Linux picks the socket for a datagram by a hash of its 4-tuple
(socket(7), SO_REUSEPORT), so one source ip:port always reaches the same worker: the state of a dialog,
a nonce or a password search from one source stays in one process. What must hold across sources is
shared: bait passwords are configuration; a crack seen by one worker is relayed to the others (and to
the main process, which still serves TCP and TLS), so every process accepts only the password that
cracked the account; nonces are HMAC-signed with one secret the main process hands to every worker.

Workers write their events as JSON lines to their stdout; the main process reads them and puts them
into its sinks (the store writer, NDJSON, webhook), so the store's GIL-heavy work runs in the main
process, away from every receive loop. Control lines go the other way on the worker's stdin. On
SIGINT/SIGTERM, or when its stdin closes, a worker stops, flushes its aggregation windows and exits;
the main process reads every worker's output to its end before it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import json
import logging
import os
import secrets
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from sipwarden.events import Event
from sipwarden.sensors.honeypot.settings import HoneypotSettings

log = logging.getLogger(__name__)

#: A worker that has not said "ready" this long after its start is a failed start.
READY_TIMEOUT_SECONDS: Final = 60.0
#: How long stopping waits for a worker to flush and exit before it is killed.
STOP_TIMEOUT_SECONDS: Final = 20.0
#: Events a worker buffers before it writes them out; a timer writes smaller batches.
EVENT_BATCH: Final = 256
#: How often a worker writes out what it has buffered (seconds): the delay events see.
FLUSH_SECONDS: Final = 0.1
#: Longest line read from a worker (one event is at most ~20 KB: `raw` is bounded to 8 KiB).
MAX_LINE: Final = 1 << 20
#: Bytes of the shared nonce key made when `[honeypot] nonce_secret` is empty.
NONCE_SECRET_BYTES: Final = 32


def worker_count(setting: int | str) -> int:
    """The number of processes `[honeypot] workers` asks for ('auto': one per core)."""
    if setting == "auto":
        return max(1, len(os.sched_getaffinity(0)))
    return int(setting)


def bind_udp(host: str, port: int, *, receive_buffer: int, reuse_port: bool = False) -> socket.socket:
    """A bound, non-blocking UDP socket; SO_RCVBUF raised to `receive_buffer` (logged as granted)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            # "[::]" then means IPv6 only, like asyncio's own endpoints; a separate IPv4 listener may share the port.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if receive_buffer > 0:
            set_receive_buffer(sock, receive_buffer)
        sock.bind((host, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def set_receive_buffer(sock: socket.socket, size: int) -> int:
    """Ask for an SO_RCVBUF of `size` bytes; return (and log) what the kernel granted.

    Linux caps the request at net.core.rmem_max and reports twice the usable size (socket(7)); a
    request it cannot meet is not an error, only a warning, since the default still works.
    """
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    granted = int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
    if granted < size:
        log.warning(
            "UDP receive buffer is %d bytes, not the %d asked for: raise net.core.rmem_max to allow more",
            granted,
            size,
        )
    else:
        log.info("UDP receive buffer: %d bytes", granted)
    return granted


def reuse_port_group(host: str, port: int, count: int, *, receive_buffer: int) -> list[socket.socket]:
    """`count` SO_REUSEPORT sockets on host:port (port 0: the port the first one got), spread by source port."""
    first = bind_udp(host, port, receive_buffer=receive_buffer, reuse_port=True)
    group = [first]
    try:
        bound_port = int(first.getsockname()[1])
        group += [bind_udp(host, bound_port, receive_buffer=receive_buffer, reuse_port=True) for _ in range(count - 1)]
    except BaseException:
        for sock in group:
            sock.close()
        raise
    spread_by_source_port(first, count)
    return group


#: Classic BPF (linux/filter.h): opcodes of the three instructions of the spreading program, and the
#: offset that makes a load relative to the network header (SKF_NET_OFF, -0x100000, as unsigned 32 bits).
_BPF_LD_H_ABS: Final = 0x28
_BPF_ALU_MOD_K: Final = 0x94
_BPF_RET_A: Final = 0x16
_SKF_NET_OFF: Final = 0x1_0000_0000 - 0x100000
#: Where the UDP source port sits after an IP header without options / extension headers.
_SOURCE_PORT_AT: Final = {socket.AF_INET: 20, socket.AF_INET6: 40}
#: setsockopt option number of SO_ATTACH_REUSEPORT_CBPF (asm-generic/socket.h); Python has no name for it.
SO_ATTACH_REUSEPORT_CBPF: Final = 51


def spread_by_source_port(sock: socket.socket, count: int) -> bool:
    """Make the kernel pick socket `source port % count` of `sock`'s SO_REUSEPORT group.

    Linux's default choice is a hash of the 4-tuple under a per-boot secret: stable per source, but two
    sources (two scanners, or the two SIPp senders of the benchmark) land on one worker half the time.
    A source port modulo the group size is just as stable per source (dialogs, nonces and searches of one
    ip:port stay in one worker) and spreads sources evenly. The program reads the port through the
    network header: for reuseport programs the packet data starts after the UDP header. An index out of
    range (a header with options) makes the kernel fall back to its hash; if the attach itself fails the
    hash stays. Returns whether the program is attached.
    """
    program = [
        (_BPF_LD_H_ABS, 0, 0, _SKF_NET_OFF + _SOURCE_PORT_AT[sock.family]),
        (_BPF_ALU_MOD_K, 0, 0, count),
        (_BPF_RET_A, 0, 0, 0),
    ]
    code = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *insn) for insn in program))
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; } on a 64-bit ABI.
    fprog = struct.pack("HxxxxxxQ", len(program), ctypes.addressof(code))
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)
    except OSError as exc:
        log.warning("UDP workers: spreading by source port unavailable (%s); the kernel's hash decides", exc)
        return False
    return True


class WorkerPool:
    """The main process's side: starts the workers, reads their events, relays cracks, stops them."""

    def __init__(self, put: Callable[[Event], None], on_crack: Callable[[str, str], None]) -> None:
        self.put = put
        self.on_crack = on_crack
        self.processes: list[asyncio.subprocess.Process] = []
        self.events = 0
        #: Events read from each worker (tests use it to see which worker served a source).
        self.delivered: list[int] = []
        self.stats: list[dict[str, Any]] = []
        self._readers: list[asyncio.Task[None]] = []
        self._ready: list[asyncio.Future[None]] = []
        self._stopping = False

    async def start(self, config: dict[str, Any], sockets: Sequence[Sequence[tuple[str, socket.socket]]]) -> None:
        """Start one worker per entry of `sockets` (its listen specs and sockets); wait until all listen."""
        loop = asyncio.get_running_loop()
        try:
            for index, owned in enumerate(sockets):
                fds = [sock.fileno() for _, sock in owned]
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "sipwarden.sensors.honeypot.workers",
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    pass_fds=fds,
                    limit=MAX_LINE,
                    # Ctrl-C reaches the whole foreground group; the main process stops workers itself,
                    # in order, so they get a signal of their own only from it.
                    start_new_session=True,
                )
                self.processes.append(process)
                self.delivered.append(0)
                self.stats.append({})
                ready = loop.create_future()
                self._ready.append(ready)
                self._readers.append(
                    loop.create_task(self._read(index, process, ready), name=f"honeypot-worker-{index}")
                )
                assert process.stdin is not None
                setup = dict(config, index=index, sockets=[[spec, sock.fileno()] for spec, sock in owned])
                process.stdin.write(json.dumps(setup).encode() + b"\n")
                await process.stdin.drain()
            await asyncio.wait_for(asyncio.gather(*self._ready), READY_TIMEOUT_SECONDS)
        except BaseException:
            await self.stop()
            raise

    async def _read(self, index: int, process: asyncio.subprocess.Process, ready: asyncio.Future[None]) -> None:
        """Every line a worker writes, until it exits: events into the sinks, cracks relayed."""
        assert process.stdout is not None
        try:
            while line := await process.stdout.readline():
                try:
                    message = json.loads(line)
                    if "events" in message:
                        for data in message["events"]:
                            self._event(index, Event.from_dict(data))
                    elif "ready" in message:
                        if not ready.done():
                            ready.set_result(None)
                    elif "stats" in message:
                        self.stats[index] = message["stats"]
                except Exception:
                    log.exception("honeypot worker %d sent a line that could not be used", index)
        except (asyncio.LimitOverrunError, ValueError, ConnectionError):
            log.exception("honeypot worker %d: output unreadable", index)
        finally:
            if not self._stopping:
                # Its socket left the group with it; the kernel now gives its sources to the others.
                log.error("honeypot worker %d (pid %d) ended unexpectedly", index, process.pid)
            if not ready.done():
                ready.set_exception(RuntimeError(f"honeypot worker {index} exited before it listened"))

    def _event(self, index: int, event: Event) -> None:
        self.events += event.count
        self.delivered[index] += 1
        if event.kind == "auth_success" and event.username and event.password is not None:
            self.relay_crack(event.username, event.password, skip=index)
            self.on_crack(event.username, event.password)
        self.put(event)

    def relay_crack(self, username: str, password: str, *, skip: int | None = None) -> None:
        """Tell every worker (but `skip`) that `password` cracked `username`."""
        line = json.dumps({"cracked": [username, password]}).encode() + b"\n"
        for index, process in enumerate(self.processes):
            if index != skip and process.stdin is not None and not process.stdin.is_closing():
                process.stdin.write(line)

    async def stop(self) -> None:
        """Stop every worker (SIGTERM), read its last events, and wait for it (bounded, then kill)."""
        self._stopping = True
        for process in self.processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.gather(*self._readers, return_exceptions=True), STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            log.error("honeypot workers did not finish within %.0f s; killing them", STOP_TIMEOUT_SECONDS)
        for index, process in enumerate(self.processes):
            if process.stdin is not None:
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 2.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
            if process.returncode:
                log.warning("honeypot worker %d exited with status %s", index, process.returncode)
        for reader in self._readers:
            reader.cancel()
        self._readers.clear()


def shared_nonce_secret(settings: HoneypotSettings) -> str:
    """The nonce key every process uses: the configured one, or one made now for this run."""
    configured = getattr(settings, "nonce_secret", "")
    return str(configured) if configured else secrets.token_hex(NONCE_SECRET_BYTES)


# -- the worker process -------------------------------------------------------------------------------------


class PipeSink:
    """A worker's sink: events buffered, written to stdout as JSON lines in batches."""

    def __init__(self, write: Callable[[bytes], object]) -> None:
        self.write = write
        self.buffer: list[dict[str, Any]] = []

    def put(self, event: Event) -> None:
        """Buffer `event`; a full batch is written at once."""
        self.buffer.append(event.to_dict())
        if len(self.buffer) >= EVENT_BATCH:
            self.flush()

    def flush(self) -> None:
        """Write what is buffered as one line."""
        if self.buffer:
            batch, self.buffer = self.buffer, []
            self.write(json.dumps({"events": batch}, default=str).encode() + b"\n")


async def _serve_worker(setup: dict[str, Any]) -> None:
    # Imported here: the main process imports this module for WorkerPool without starting a server.
    from sipwarden.sensors.honeypot.server import Honeypot

    out = sys.stdout.buffer

    def write(data: bytes) -> None:
        out.write(data)
        out.flush()

    sink = PipeSink(write)
    settings = HoneypotSettings.model_validate(setup["settings"])
    sockets = [(spec, socket.socket(fileno=fd)) for spec, fd in setup["sockets"]]
    honeypot = Honeypot(
        settings,
        sink,
        sensor=setup.get("sensor", ""),
        data_dir=Path(setup.get("data_dir", "var")),
        listen=[],
        persona=setup.get("persona"),
        udp_sockets=sockets,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await honeypot.start()
    # Everything alive now (modules, persona, tables) lives as long as the worker: keep it out of the
    # cyclic collector's way, so collections during a flood only walk what requests allocated.
    gc.freeze()
    write(b'{"ready": true}\n')
    control = loop.create_task(_follow_control(honeypot, stop), name="honeypot-worker-control")
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), FLUSH_SECONDS)
            sink.flush()
    finally:
        control.cancel()
        await honeypot.stop()
        sink.flush()
        stats = {
            "fast": honeypot.fast.fast,
            "full": honeypot.fast.full,
            "dropped_replies": honeypot.core.dropped_replies,
        }
        write(json.dumps({"stats": stats}).encode() + b"\n")


async def _follow_control(honeypot: Any, stop: asyncio.Event) -> None:
    """Control lines from the main process; end of input means stop."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        try:
            message = json.loads(line)
            if "cracked" in message:
                username, password = message["cracked"]
                honeypot.core.policy.mark_cracked(str(username), str(password))
        except (ValueError, TypeError):
            log.warning("honeypot worker: unusable control line %r", line[:80])
    stop.set()


def main() -> int:
    """Entry point of one worker process: the setup line on stdin, then serve until told to stop."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s worker %(process)d %(name)s: %(message)s")
    # The setup line is read from the descriptor itself, unbuffered, so that no later control line
    # can sit in a Python buffer the event loop's pipe reader never sees.
    line = b""
    while not line.endswith(b"\n") and len(line) < MAX_LINE:
        chunk = os.read(0, 65536)
        if not chunk:
            return 1
        line += chunk
    setup = json.loads(line)
    started = time.monotonic()
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_serve_worker(setup))
    log.debug("worker %s served %.1f s", setup.get("index"), time.monotonic() - started)
    return 0


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when installed (its UDP path is several times faster), as `sipwarden honeypot`."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


if __name__ == "__main__":
    sys.exit(main())
