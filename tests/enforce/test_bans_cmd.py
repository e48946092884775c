"""`sipwarden bans list|add|remove` against a SQLite store (dry-run backend; nft in test_cli_nft)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from sipwarden.cli import app


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_add_list_remove(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 's.db'}"
    code, out = run(
        "bans",
        "add",
        "192.0.2.7",
        "--for",
        "2h",
        "--reason",
        "seen on the honeypot",
        "--backend",
        "dry-run",
        "--db",
        db,
    )
    assert code == 0 and "banned 192.0.2.7" in out
    assert run("bans", "add", "198.51.100.0/24", "--for", "forever", "--backend", "dry-run", "--db", db)[0] == 0
    code, out = run("bans", "list", "--json", "--db", db)
    rows = [json.loads(x) for x in out.splitlines()]
    assert [(r["value"], r["scope"], r["origin"], r["scenario"]) for r in rows] == [
        ("192.0.2.7", "ip", "manual", "manual"),
        ("198.51.100.0/24", "range", "manual", "manual"),
    ]
    assert rows[0]["reason"] == "seen on the honeypot" and rows[1]["until"] is None
    code, out = run("bans", "remove", "192.0.2.7", "--backend", "dry-run", "--db", db)
    assert code == 0 and "removed 1 decision(s)" in out
    code, out = run("bans", "list", "--db", db)
    assert code == 0 and "198.51.100.0/24" in out and "192.0.2.7" not in out


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 's.db'}"
    code, out = run("bans", "add", "1.2.3.4;reboot", "--backend", "dry-run", "--db", db)
    assert code == 2 and "not an IP address" in out
    code, out = run("bans", "add", "192.0.2.1", "--for", "soon", "--backend", "dry-run", "--db", db)
    assert code == 2 and "not a duration" in out
    code, out = run("bans", "add", "192.0.2.1", "--backend", "pf", "--db", db)
    assert code == 2 and "unknown ban backend" in out
    assert run("bans", "list", "--json", "--db", db) == (0, "")
