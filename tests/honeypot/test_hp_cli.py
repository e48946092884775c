"""`sipwarden honeypot` as an operator runs it: a subprocess on loopback, stopped with Ctrl-C."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sipwarden.cli import app
from sipwarden.store import Store

from .helpers import sip_request

SIPWARDEN = str(Path(sys.executable).parent / "sipwarden")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_honeypot_command_listens_records_and_stops_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    config = tmp_path / "hp.toml"
    config.write_text(f'[general]\ndata_dir = "{tmp_path}"\nsensor = "edge-1"\n')
    db = f"sqlite:///{tmp_path / 'hp.db'}"
    ndjson = tmp_path / "events.ndjson"
    proc = subprocess.Popen(
        [SIPWARDEN, "honeypot", "--listen", f"udp:127.0.0.1:{port}", "--config", str(config), "--db", db,
         "--json-log", str(ndjson), "--persona", "yealink"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "persona" in line:
                break
        assert f"honeypot listening on udp:127.0.0.1:{port}" in "".join(lines), lines
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(10)
            client.sendto(sip_request("OPTIONS", user_agent="sundayddr"), ("127.0.0.1", port))
            reply, _ = client.recvfrom(65536)
        assert reply.startswith(b"SIP/2.0 200 OK") and b"User-Agent: Yealink SIP-T46S" in reply
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    (line,) = ndjson.read_text().splitlines()
    assert json.loads(line)["tool"] == "sundayddr"
    store = Store.open(db)
    try:
        (event,) = store.events()
    finally:
        store.close()
    assert (event.kind, event.tool, event.sensor, event.src_ip) == ("probe", "sundayddr", "edge-1", "127.0.0.1")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "udp:nohost:5060"], "host must be an IP address"),
        (["--listen", "sctp:127.0.0.1:5060"], "TRANSPORT"),
        (["--persona", "cisco-ucm"], "unknown persona"),
    ],
)
def test_bad_options_are_named_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["honeypot", *args, "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code == 2
    assert message in result.output


def test_tls_with_unreadable_certificate_names_the_files(tmp_path: Path) -> None:
    config = tmp_path / "hp.toml"
    config.write_text(f'[general]\ndata_dir = "{tmp_path}"\n')
    missing = tmp_path / "missing.pem"
    result = CliRunner().invoke(
        app,
        [
            "honeypot",
            "--listen",
            f"tls:127.0.0.1:{_free_port()}",
            "--tls-cert",
            str(missing),
            "--tls-key",
            str(missing),
            "--config",
            str(config),
            "--db",
            f"sqlite:///{tmp_path / 'x.db'}",
        ],
    )
    assert result.exit_code == 2
    assert "cannot load TLS certificate" in result.output and "missing.pem" in result.output
