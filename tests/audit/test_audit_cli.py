"""`sipwarden audit`: exit codes for CI, NDJSON and SARIF 2.1.0 output."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from sipwarden.audit.findings import RULES
from sipwarden.cli import app

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def audit(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["audit", *args])
    return result.exit_code, result.stdout, result.stderr


def test_exit_codes_follow_the_worst_severity(tmp_path: Path) -> None:
    assert audit(str(FIXTURES / "strong_asterisk"))[0] == 0
    assert audit(str(FIXTURES / "weak_chan_sip"))[0] == 3
    assert audit(str(FIXTURES / "kamailio"))[0] == 2
    low = tmp_path / "sip.conf"
    low.write_text("[general]\nallowguest=no\n")  # only: no TLS (low)
    code, _, err = audit(str(low))
    assert code == 1 and "worst: low" in err
    assert audit(str(tmp_path / "absent"))[0] == 4


def test_text_output_names_file_line_and_fix() -> None:
    code, out, _ = audit(str(FIXTURES / "weak_chan_sip"))
    assert code == 3
    assert "sip.conf:4 SW010" in out and "fix: set allowguest=no in [general]" in out


def test_json_lines() -> None:
    _, out, _ = audit(str(FIXTURES / "weak_pjsip"), "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows and set(rows[0]) == {"rule", "name", "severity", "file", "line", "message", "fix"}
    assert {r["name"] for r in rows} >= {"guest-reaches-international", "secret-equals-username"}


def test_sarif_structure() -> None:
    code, out, _ = audit(str(FIXTURES / "weak_chan_sip"), "--sarif")
    assert code == 3
    log = json.loads(out)
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "sipwarden-audit"
    assert [r["id"] for r in driver["rules"]] == [r.id for r in RULES.values()]
    assert run["results"]
    for result in run["results"]:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in {"error", "warning", "note"}
        assert result["message"]["text"]
        (loc,) = result["locations"]
        assert loc["physicalLocation"]["artifactLocation"]["uri"]
        assert loc["physicalLocation"]["region"]["startLine"] >= 1
    assert {r["ruleId"] for r in run["results"]} >= {"SW001", "SW010", "SW012", "SW020"}
