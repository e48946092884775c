"""Every benchmark script runs end to end at tiny scale, so the scripts do not rot.

Each runs as an operator would (`python -m bench NAME ...` from the repository root) against the
real servers: Kamailio, and the honeypot through the `sipwarden honeypot` command.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.tools


def _needs(tool: str) -> None:
    if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
        pytest.skip(f"{tool} is not installed (scripts/install-system-deps.sh)")


def _bench(name: str, *args: str, timeout: float = 240) -> tuple[int, str, dict[str, Any]]:
    out = Path(args[args.index("--out") + 1])
    proc = subprocess.run(
        [sys.executable, "-m", "bench", name, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert out.exists(), proc.stdout + proc.stderr
    return proc.returncode, proc.stdout + proc.stderr, json.loads(out.read_text())


def test_options_flood_against_kamailio_answers_everything(tmp_path: Path) -> None:
    _needs("sipp")
    _needs("kamailio")
    out = tmp_path / "flood.json"
    status, output, result = _bench(
        "options_flood",
        *("--targets", "kamailio", "--rates", "200", "--duration", "1", "--senders", "2", "--out", str(out)),
    )
    assert status == 0, output
    (run,) = result["runs"]
    assert run["target"] == "kamailio" and run["rate"] == 200
    assert run["calls"] == 200 and run["answered"] == 200 and run["loss_percent"] == 0.0
    # Two SIPp processes share the rate; their counts add up.
    assert [s["requests_sent"] for s in run["sipp"]] == [100, 100]
    assert result["machine"]["cpus"] >= 1 and "kamailio" in result["machine"]["kamailio"]
    assert "| kamailio | 200 | 200 | 200 |" in output


def test_options_flood_against_the_honeypot_accounts_for_every_request(tmp_path: Path) -> None:
    _needs("sipp")
    out = tmp_path / "flood.json"
    status, output, result = _bench(
        "options_flood", "--targets", "honeypot", "--rates", "300", "--duration", "1", "--out", str(out)
    )
    assert status == 0, output
    (run,) = result["runs"]
    assert run["answered"] == run["calls"] == 300
    store = run["store"]
    # Every request SIPp sent (and every readiness probe) is in the store, aggregated or not.
    assert store["requests_received"] == 300 + run["retransmissions"] + store["ready_probes"]
    assert store["count_sum"] == store["requests_received"] and store["accounted"]
    assert store["rows"] < store["count_sum"]  # the flood from one source was aggregated
    assert run["server_exit_status"] == 0


def test_memory_benchmark_with_many_sources(tmp_path: Path) -> None:
    out = tmp_path / "memory.json"
    status, output, result = _bench(
        "honeypot_memory",
        *("--sources", "600", "--checkpoints", "200,400,600", "--rate", "3000", "--settle", "0.3"),
        *("--out", str(out)),
    )
    assert status == 0, output
    assert result["sent"] == 600 and [p["sources"] for p in result["checkpoints"]] == [200, 400, 600]
    assert result["checkpoints"][-1]["received"] == 600 - result["server_socket_drops"]
    # Each new source is answered unless the answer takes over ANSWER_WAIT_S (a busy machine): not asserted.
    assert 0 < result["answered"] <= 600
    assert result["peak_rss_kib"] >= result["baseline_rss_kib"] > 0
    store = result["store"]
    # One request per source: every source the server received (the readiness probe's 127.0.0.2
    # included) is in the store as a source of its own.
    assert store["sources"] == 600 + 1 - result["server_socket_drops"]
    assert store["count_sum"] == store["requests_received"] and store["accounted"]
