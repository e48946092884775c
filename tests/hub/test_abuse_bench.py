"""The abuse scoreboard benchmark runs end to end at tiny scale, so the script does not rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_abuse_scoreboard_bench_runs(tmp_path: Path) -> None:
    out = tmp_path / "board.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "abuse_scoreboard", "--addresses", "400", "--networks", "20", "--rounds", "2",
         "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert result["addresses"] == 400 and result["owner_networks"] == 20
    assert [r["round"] for r in result["runs"]] == [1, 2]
    first = result["runs"][0]
    # 200 addresses in 20 owner networks, 200 elsewhere (about one /24 each); 2 networks were reported.
    assert 20 + 150 <= first["networks"] <= 20 + 200
    assert first["verdicts"]["ignores"] + first["verdicts"]["acts"] == 2
    assert first["cpu_seconds"] > 0 and "| round | wall s | CPU s |" in proc.stdout
