"""`sipwarden replay`: detection over log files, merged in time order, as NDJSON."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from sipwarden.cli import app

LINE = "Nov 25 04:{m:02d}:{s:02d} sbc kamailio[2218]: NOTICE: <script>: sipwarden: auth failed src={ip} port=5062 proto=udp method=REGISTER user='{user}' ua='Yealink'\n"


def write(path: Path, rows: list[tuple[int, str, str]]) -> Path:
    path.write_text("".join(LINE.format(m=t // 60, s=t % 60, ip=ip, user=u) for t, ip, u in rows))
    return path


def test_replay_merges_files_in_time_order_and_prints_ndjson(tmp_path: Path) -> None:
    # Five failures within a minute, split over two files: only the merge sees all five in order.
    a = write(tmp_path / "a.log", [(0, "192.0.2.5", "100"), (20, "192.0.2.5", "100"), (40, "192.0.2.5", "100")])
    b = write(tmp_path / "b.log", [(10, "192.0.2.5", "100"), (30, "192.0.2.5", "100"), (35, "198.51.100.1", "1")])
    result = CliRunner().invoke(app, ["replay", str(a), str(b), "--json", "--year", "2026"])
    assert result.exit_code == 0, result.output
    [line] = [json.loads(x) for x in result.stdout.splitlines()]
    assert line["value"] == "192.0.2.5" and line["scenario"] == "bruteforce" and line["action"] == "ban"
    assert line["ts"] == "2026-11-25T04:00:40Z" and line["until"] == "2026-11-25T05:00:40Z"
    assert line["evidence"] == 5 and line["scope"] == "ip" and "5 failed authentications" in line["reason"]


def test_replay_uses_the_config(tmp_path: Path) -> None:
    log = write(tmp_path / "a.log", [(i, "192.0.2.5", "100") for i in range(5)])
    config = tmp_path / "c.toml"
    config.write_text('[detect]\nbruteforce = ["6/1m"]\nallowlist = ["192.0.2.0/24"]\n')
    result = CliRunner().invoke(app, ["replay", str(log), "--json", "--config", str(config)])
    assert result.exit_code == 0 and result.stdout == ""


def test_replay_text_output_and_a_missing_file(tmp_path: Path) -> None:
    log = write(tmp_path / "a.log", [(i, "192.0.2.5", str(100 + i)) for i in range(12)])
    result = CliRunner().invoke(app, ["replay", str(log)])
    assert result.exit_code == 0
    assert "ban    ip      192.0.2.5" in result.stdout
    missing = CliRunner().invoke(app, ["replay", str(tmp_path / "nope.log")])
    assert missing.exit_code == 2
