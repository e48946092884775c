"""Smoke test of the dashboard benchmark: a small run loads, aggregates and fetches every page."""

from __future__ import annotations

import json
from pathlib import Path

from bench import bench_dashboard


def test_dashboard_bench_small_run(tmp_path: Path) -> None:
    out = tmp_path / "dash.json"
    code = bench_dashboard.main(["--events", "3000", "--db", f"sqlite:///{tmp_path / 'b.db'}", "--out", str(out)])
    result = json.loads(out.read_text())["result"]
    assert result["events"] == 3000 and result["sources"] > 100 and result["facet_rows"] > 3000
    assert result["overview_ms"] > 0 and result["attacker_top_ms"] > 0
    assert code == (0 if max(result["overview_ms"], result["attacker_top_ms"]) <= 300 else 1)
