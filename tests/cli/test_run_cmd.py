"""`sipwarden run` end to end: the main job starts, answers SIP, stores events, serves the page, stops."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sipwarden.events import Event
from sipwarden.store import Store


def _free_port() -> int:
    # A port free for both UDP and TCP on loopback.
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = int(u.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


OPTIONS = (
    "OPTIONS sip:100@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-run-1;rport\r\n"
    "From: <sip:scan@127.0.0.1>;tag=abc\r\n"
    "To: <sip:100@127.0.0.1>\r\n"
    "Call-ID: run-test-1\r\n"
    "CSeq: 1 OPTIONS\r\n"
    "User-Agent: friendly-scanner\r\n"
    "Content-Length: 0\r\n\r\n"
)


class _Running:
    def __init__(self, proc: subprocess.Popen[str], sip_port: int, web_port: int, banner: str) -> None:
        self.proc, self.sip_port, self.web_port, self.banner = proc, sip_port, web_port, banner

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, out
        return out


def _start(tmp_path: Path, extra: str = "") -> _Running:
    sip_port, web_port = _free_port(), _free_port()
    config = tmp_path / "sipwarden.toml"
    config.write_text(
        f'[general]\ndata_dir = "{tmp_path / "var"}"\nsensor = "test-node"\n'
        f'[honeypot]\nlisten = ["udp:127.0.0.1:{sip_port}", "tcp:127.0.0.1:{sip_port}"]\n'
        f'[web]\nlisten = "127.0.0.1:{web_port}"\n'
        '[enforce]\nbackend = "dry-run"\n' + extra
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "sipwarden", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "sipwarden is running" in line:
            break
    return _Running(proc, sip_port, web_port, "".join(lines))


def _stored(tmp_path: Path) -> list[Event]:
    store = Store.open(f"sqlite:///{tmp_path / 'var' / 'sipwarden.db'}")
    try:
        return store.events(limit=100_000)
    finally:
        store.close()


def test_run_starts_everything_and_stops_cleanly(tmp_path: Path) -> None:
    running = _start(tmp_path)
    sip_port, web_port, text = running.sip_port, running.web_port, running.banner
    try:
        assert f"honeypot listening on udp:127.0.0.1:{sip_port}" in text, text
        assert f"honeypot listening on tcp:127.0.0.1:{sip_port}" in text, text
        assert f"web page: http://127.0.0.1:{web_port}/" in text, text

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.bind(("127.0.0.1", 0))
            client.settimeout(5)
            client.sendto(OPTIONS.format(port=client.getsockname()[1]).encode(), ("127.0.0.1", sip_port))
            reply, _ = client.recvfrom(65535)
        assert reply.startswith(b"SIP/2.0 200 ")

        page = httpx.get(f"http://127.0.0.1:{web_port}/", timeout=5)
        assert page.status_code == 200
        assert f"dashboard: http://127.0.0.1:{web_port}/ui/" in text, text
        dashboard = httpx.get(f"http://127.0.0.1:{web_port}/ui/", timeout=30)
        assert dashboard.status_code == 200 and "<canvas" in dashboard.text
        seen: list[dict[str, object]] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not seen:
            seen = [e for e in httpx.get(f"http://127.0.0.1:{web_port}/api/events", timeout=5).json()["events"]]
            time.sleep(0.1)
        assert any(e["call_id"] == "run-test-1" and e["tool"] for e in seen), json.dumps(seen)[:2000]
    finally:
        running.stop()

    events = _stored(tmp_path)
    store = Store.open(f"sqlite:///{tmp_path / 'var' / 'sipwarden.db'}")
    try:
        decisions = store.active_decisions(events[0].ts)
    finally:
        store.close()
    probe = next(e for e in events if e.call_id == "run-test-1")
    assert probe.sensor == "test-node" and probe.src_ip == "127.0.0.1"
    # Honeypot contact from loopback is never banned: the machine's own addresses are protected.
    assert not [d for d in decisions if d.value == "127.0.0.1"]


def test_run_rejects_a_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[web]\nlisten = 8080\n")
    proc = subprocess.run(
        [sys.executable, "-m", "sipwarden", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "web.listen" in proc.stderr and str(config) in proc.stderr


@pytest.mark.parametrize("listen", ["nohost", "127.0.0.1:http"])
def test_split_host_port_names_bad_text(listen: str) -> None:
    from sipwarden.app import split_host_port

    with pytest.raises(ValueError, match=listen):
        split_host_port(listen)


def test_run_watches_call_records_for_toll_fraud(tmp_path: Path) -> None:
    from datetime import datetime

    from tests.cdr.cdrgen import office_day, premium_burst, write_asterisk_csv

    day = datetime(2026, 3, 10)
    calls = office_day(day) + premium_burst(day.replace(hour=3), account="1001")
    cdr = tmp_path / "Master.csv"
    cdr.write_text("")  # like `tail -F`, the monitor reads what is written after it starts
    running = _start(tmp_path, f'[cdr]\nenabled = true\npaths = ["{cdr}"]\npoll_seconds = 0.2\n')
    time.sleep(1)
    write_asterisk_csv(tmp_path / "new.csv", sorted(calls, key=lambda c: c.start))
    with cdr.open("a") as out:
        out.write((tmp_path / "new.csv").read_text())
    try:
        deadline = time.monotonic() + 20
        fraud: list[Event] = []
        while time.monotonic() < deadline and not fraud:
            time.sleep(0.3)
            fraud = [e for e in _stored(tmp_path) if e.kind == "fraud_call"]
    finally:
        running.stop()
    assert fraud, running.banner
    assert {e.username for e in fraud} == {"1001"}
    assert all(e.target_country for e in fraud)
