"""SARIF 2.1.0 output of an audit (OASIS SARIF v2.1.0: runs / tool.driver / results / locations)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from sipwarden import __version__
from sipwarden.audit.findings import RULES
from sipwarden.audit.report import AuditReport

SARIF_SCHEMA: Final = "https://json.schemastore.org/sarif-2.1.0.json"


def to_sarif(report: AuditReport) -> dict[str, Any]:
    """The report as a SARIF log with one run."""
    rules = list(RULES.values())
    index = {r.id: i for i, r in enumerate(rules)}
    results = []
    for f in report.findings:
        uri = Path(f.file).as_posix()
        results.append({
            "ruleId": f.rule.id,
            "ruleIndex": index[f.rule.id],
            "level": f.level.sarif_level(),
            "message": {"text": f"{f.message}. Fix: {f.fix}"},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": {"uri": uri},
                    "region": {"startLine": max(f.line, 1)},
                }
            }],
            "properties": {"severity": str(f.level), "fix": f.fix},
        })  # fmt: skip
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "sipwarden-audit",
                "version": __version__,
                "rules": [{
                    "id": r.id,
                    "name": r.name,
                    "shortDescription": {"text": r.summary},
                    "defaultConfiguration": {"level": r.severity.sarif_level()},
                    "properties": {"severity": str(r.severity)},
                } for r in rules],
            }},
            "artifacts": [{"location": {"uri": Path(p).as_posix()}} for p in report.files],
            "results": results,
        }],
    }  # fmt: skip
