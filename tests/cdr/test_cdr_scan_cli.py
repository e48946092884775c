"""`sipwarden cdr scan`: NDJSON alerts from real CDR files, exit status for scripts."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from cdrgen import office_day, premium_burst, write_asterisk_csv, write_freeswitch_csv, write_freeswitch_json
from typer.testing import CliRunner

from sipwarden.cli import app

DAY = datetime(2026, 11, 25)
NIGHT = datetime(2026, 11, 26, 3, 0)


def run(*args: str) -> tuple[int, list[dict[str, object]], str]:
    result = CliRunner().invoke(app, ["cdr", "scan", *args])
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, lines, result.stderr


def test_office_day_is_clean(tmp_path: Path) -> None:
    path = write_asterisk_csv(tmp_path / "Master.csv", office_day(DAY))
    code, alerts, err = run(str(path), "--json")
    assert (code, alerts) == (0, [])
    assert "0 alerts" in err


def test_attack_in_asterisk_csv_prints_ndjson_alerts(tmp_path: Path) -> None:
    path = write_asterisk_csv(tmp_path / "Master.csv", office_day(DAY) + premium_burst(NIGHT))
    code, alerts, _ = run(str(path), "--json", "--format", "asterisk-csv")
    assert code == 1
    first = alerts[0]
    assert first["account"] == "1004" and first["reason"] == "high_risk_destination"
    assert first["first"] == "2026-11-26T03:00:00Z"
    for key in ("destinations", "calls", "estimated_cost", "last", "countries"):
        assert key in first
    assert {"SL", "LV"} <= {c for a in alerts for c in a["countries"]}  # type: ignore[attr-defined]


def test_freeswitch_csv_and_json(tmp_path: Path) -> None:
    csv_path = write_freeswitch_csv(tmp_path / "Master.csv", premium_burst(NIGHT, calls=6))
    code, alerts, _ = run(str(csv_path), "--json")
    assert code == 1 and alerts[0]["account"] == "1004"
    json_dir = tmp_path / "json"
    json_dir.mkdir()
    paths = write_freeswitch_json(json_dir, premium_burst(NIGHT, calls=6))
    code, alerts, _ = run(*map(str, paths), "--json")
    assert code == 1 and alerts[0]["src_ips"] == ["203.0.113.50"]


def test_text_output_and_unreadable_lines(tmp_path: Path) -> None:
    path = write_asterisk_csv(tmp_path / "Master.csv", premium_burst(NIGHT, calls=3))
    path.write_text(path.read_text() + '"broken",\n')
    result = CliRunner().invoke(app, ["cdr", "scan", str(path)])
    assert result.exit_code == 1
    assert "high_risk_destination" in result.stdout and "1004" in result.stdout
    assert "skipped" in result.stderr and "1 unreadable" in result.stderr


def test_unknown_file_format_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n")
    code, _, err = run(str(path))
    assert code == 2 and "format" in err and "x.csv" in err
    code, _, err = run(str(tmp_path / "absent.csv"))
    assert code == 2 and "absent.csv" in err


def test_workers_give_the_same_alerts_in_the_same_order(tmp_path: Path) -> None:
    burst = premium_burst(NIGHT) + premium_burst(NIGHT, calls=6, account="1007")
    path = write_asterisk_csv(tmp_path / "Master.csv", office_day(DAY) + burst)
    one = run(str(path), "--json")
    two = run(str(path), "--json", "--workers", "2")
    assert one[0] == two[0] == 1
    assert len(one[1]) >= 2 and one[1] == two[1]
    assert {a["account"] for a in two[1]} == {"1004", "1007"}
