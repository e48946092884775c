"""The servers a benchmark starts on loopback (Kamailio, the honeypot) and what the honeypot stored.

Each server runs in the foreground as a child process, answers OPTIONS on udp:127.0.0.1:PORT once
`start()` returns, and is stopped with the signal that makes it exit cleanly.
"""

from __future__ import annotations

import abc
import json
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from bench.common import (
    BENCH_DIR,
    LOOPBACK,
    process_tree,
    sipwarden_command,
    stop_process,
    wait_sip_ready,
)


class Server(abc.ABC):
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

    @abc.abstractmethod
    def argv(self) -> list[str]:
        """The command that starts the server in the foreground."""

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
