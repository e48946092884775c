"""`sipwarden parse`: summary per pattern, NDJSON events with the exact raw line, missed lines."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from sipwarden.cli import app
from sipwarden.events import Event

LINES = [
    "[2024-02-01 10:00:00] VERBOSE[1] pbx.c:     -- Executing [s@default:1] Answer",
    "[2024-02-01 10:00:01] NOTICE[2] chan_sip.c: Registration from '<sip:100@x>' failed for '192.0.2.1:5060' - Wrong password",
    "[2024-02-01 10:00:02] NOTICE[2] chan_sip.c: Registration from '<sip:101@x>' failed for '192.0.2.1:5060' - No matching peer found",
    "[2024-02-01 10:00:03] NOTICE[2] chan_sip.c: Something new failed for \x1b[31m'192.0.2.9'",
    "[2024-02-01 10:00:04] NOTICE[2] manager.c: 192.0.2.5 failed to authenticate as 'admin'",
]

runner = CliRunner()


def _log(tmp_path: Path) -> Path:
    path = tmp_path / "full"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


def test_summary_counts_patterns_and_lists_missed_lines(tmp_path: Path) -> None:
    result = runner.invoke(app, ["parse", str(_log(tmp_path)), "--missed"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "format asterisk" in out
    assert "lines: 5  matched: 3  events: 3" in out
    assert "2  ast.chansip.register_failed" in out
    assert "1  ast.ami.auth_failed" in out
    assert "missed L4:" in out
    assert "\\x1b[31m" in out and "\x1b" not in out  # attacker text cannot drive the terminal


def test_json_prints_one_event_per_recognised_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["parse", str(_log(tmp_path)), "--json", "--format", "asterisk"])
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [r["src_ip"] for r in rows] == ["192.0.2.1", "192.0.2.1", "192.0.2.5"]
    assert [r["raw"] for r in rows] == [LINES[1], LINES[2], LINES[4]]
    assert [r["kind"] for r in rows] == ["auth_failure", "unknown_user", "auth_failure"]
    event = Event.from_dict(rows[0])
    assert event.ts.isoformat() == "2024-02-01T10:00:01+00:00"


def test_timezone_from_config(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[logs]\ntimezone = "Europe/Berlin"\n')
    result = runner.invoke(app, ["parse", str(_log(tmp_path)), "--json", "--config", str(cfg)])
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert rows[0]["ts"] == "2024-02-01T09:00:01Z"


def test_bad_arguments(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["parse", str(tmp_path / "absent")])
    assert missing.exit_code == 2
    assert "not a readable file" in missing.output
    badfmt = runner.invoke(app, ["parse", str(_log(tmp_path)), "--format", "cisco"])
    assert badfmt.exit_code == 2


def test_without_config_the_parser_defaults_are_the_settings_defaults() -> None:
    # `sipwarden parse` without --config builds no settings; it must read lines exactly as the
    # default settings would (same sensor name, same zone for times written without one).
    from datetime import datetime

    from sipwarden.config import Settings
    from sipwarden.sensors.logs.reading import DEFAULT_SENSOR, DEFAULT_TZ

    defaults = Settings()
    assert defaults.general.sensor == DEFAULT_SENSOR
    for moment in (datetime(2024, 1, 15, 12), datetime(2024, 7, 15, 12)):  # winter and summer
        assert defaults.logs.zone().utcoffset(moment) == DEFAULT_TZ.utcoffset(moment)
    assert defaults.logs.timezone == DEFAULT_TZ.tzname(None)


def test_config_sensor_name_reaches_the_events(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[general]\nsensor = "pbx-7"\n')
    with_config = runner.invoke(app, ["parse", str(_log(tmp_path)), "--json", "--config", str(cfg)])
    without = runner.invoke(app, ["parse", str(_log(tmp_path)), "--json"])
    sensors = {json.loads(line)["sensor"] for line in with_config.stdout.splitlines() if line.startswith("{")}
    assert sensors == {"pbx-7"}
    assert "pbx-7" not in without.stdout


def test_bad_config_names_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[logs]\ntimezone = "Mars/Olympus"\n')
    result = runner.invoke(app, ["parse", str(_log(tmp_path)), "--config", str(cfg)])
    assert result.exit_code == 2
    assert "logs.timezone" in result.output
