"""Smoke test of the dashboard benchmark's live-folding mode and its set-based catch-up."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from bench import bench_dashboard
from sipwarden.intel import aggregates
from sipwarden.store import Store
from sipwarden.store import intel_queries as q


def test_live_mode_folds_every_new_event(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'b.db'}"
    store = Store.open(url)
    bench_dashboard.load(store, url, 2000)
    store.close()
    out = tmp_path / "live.json"
    code = bench_dashboard.main(["--db", url, "--live-events", "600", "--live-batch", "200", "--out", str(out)])
    result = json.loads(out.read_text())["result"]
    assert code == 0
    assert result["folded"] == 600 and result["batch"] == 200 and result["events_before"] == 2001
    store = Store.open(url)
    try:
        assert aggregates.refresh(store) == 0  # nothing left behind
        assert store.total_events() == sum(n for _, n in q.hourly(store, "all", datetime(2000, 1, 1, tzinfo=UTC)))
    finally:
        store.close()


def test_fold_reports_cpu_time(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    store = Store.open(url)
    try:
        bench_dashboard.load(store, url, aggregates.BULK_MIN_BACKLOG + 500)
        result = bench_dashboard.fold(store, aggregates.BULK_MIN_BACKLOG + 500, "auto")
        assert result["folded"] == aggregates.BULK_MIN_BACKLOG + 500
        assert result["fold_client_cpu_s"] > 0 and result["fold_events_per_cpu_s"] > 0
        assert q.cursor(store) == store.last_event_id()
    finally:
        store.close()
