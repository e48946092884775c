"""`sipwarden audit PATH...`: static checks of Asterisk, FreeSWITCH, Kamailio and OpenSIPS configuration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from sipwarden.audit.findings import Severity
from sipwarden.audit.report import audit_paths
from sipwarden.audit.sarif import to_sarif
from sipwarden.cli.common import ConfigOption, DbOption, err_console, load

_COLOURS = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def audit(
    paths: Annotated[list[Path], typer.Argument(help="Configuration files or directories (e.g. /etc/asterisk).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print findings as NDJSON.")] = False,
    sarif: Annotated[bool, typer.Option("--sarif", help="Print a SARIF 2.1.0 log (for code-scanning tools).")] = False,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Report weak secrets, guest calls, open dial plans and exposed AMI; exit 0 clean, 1 low/medium, 2 high, 3 critical."""
    load(config, db)
    missing = [p for p in paths if not p.exists()]
    if missing:
        err_console.print(f"no such file or directory: {', '.join(map(str, missing))}", highlight=False)
        raise typer.Exit(4)
    report = audit_paths(paths)
    if sarif:
        print(json.dumps(to_sarif(report), indent=2))
    elif as_json:
        for f in report.findings:
            print(json.dumps(f.to_dict(), sort_keys=True))
    else:
        out = Console(highlight=False, soft_wrap=True)
        for f in report.findings:
            out.print(
                f"[{_COLOURS[f.level]}]{f.level}[/] {escape(f.file)}:{f.line} {f.rule.id} {escape(f.message)}\n"
                f"    fix: {escape(f.fix)}"
            )
    worst = report.worst()
    err_console.print(
        f"{len(report.files)} files, {len(report.findings)} findings, worst: {worst if worst is not None else 'none'}",
        highlight=False,
    )
    raise typer.Exit(report.exit_code())


def register(app: typer.Typer) -> None:
    """Attach the `audit` command."""
    app.command("audit")(audit)
