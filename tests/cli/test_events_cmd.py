"""`sipwarden events`: table, NDJSON and filters against a real store."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sipwarden.cli import app
from sipwarden.cli.events_cmd import printable
from sipwarden.events import Event, utcnow
from sipwarden.store import Store

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'sw.db'}"
    now = utcnow()
    store = Store.open(url)
    store.add_events(
        [
            Event(ts=now - timedelta(days=2), kind="probe", source="honeypot", src_ip="192.0.2.1", src_port=5060),
            Event(
                ts=now - timedelta(minutes=30),
                kind="auth_failure",
                source="asterisk",
                sensor="pbx1",
                src_ip="2001:db8::5",
                src_port=5070,
                username="1001",
                tool="sipvicious/svcrack",
                count=12,
            ),
            Event(
                ts=now - timedelta(minutes=5),
                kind="call_attempt",
                source="honeypot",
                src_ip="192.0.2.1",
                target="0088213",
                target_country="XX",
                user_agent="[bold red]pwn[/] \x1b[2J\x9b31m",
            ),
        ]
    )
    store.close()
    return url


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "240"})
    return result.exit_code, result.output


def test_json_is_ndjson_of_to_dict(db: str) -> None:
    code, out = run("events", "--db", db, "--json")
    assert code == 0, out
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["kind"] for r in rows] == ["probe", "auth_failure", "call_attempt"]
    assert rows[1]["count"] == 12 and rows[1]["ts"].endswith("Z")
    assert Event.from_dict(rows[2]).user_agent == "[bold red]pwn[/] \x1b[2J\x9b31m"
    assert "\x1b" not in out and "\x9b" not in out


@pytest.mark.parametrize(
    ("args", "kinds"),
    [
        (["--since", "1h"], ["auth_failure", "call_attempt"]),
        (["--since", "10m"], ["call_attempt"]),
        (["--since", "2000-01-01T00:00:00Z"], ["probe", "auth_failure", "call_attempt"]),
        (["--kind", "probe"], ["probe"]),
        (["--ip", "192.0.2.1"], ["probe", "call_attempt"]),
        (["--ip", "2001:DB8::5"], ["auth_failure"]),
        (["--limit", "1"], ["call_attempt"]),
        (["--kind", "dtmf"], []),
    ],
)
def test_filters(db: str, args: list[str], kinds: list[str]) -> None:
    code, out = run("events", "--db", db, "--json", *args)
    assert code == 0, out
    assert [json.loads(line)["kind"] for line in out.splitlines()] == kinds


def test_table_shows_events_without_markup_or_escapes(db: str) -> None:
    code, out = run("events", "--db", db)
    assert code == 0, out
    assert "auth_failure" in out and "[2001:db8::5]:5070" in out and "asterisk@pbx1" in out
    assert "sipvicious/svcrack" in out and "1001" in out and "0088213 (XX)" in out
    # attacker text is shown literally: markup stays text, control characters become \xNN
    assert "[bold red]pwn[/]" in out
    assert "\\x1b[2J" in out and "\\x9b31m" in out
    assert "\x1b" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "neither a span"),
        (["--kind", "nosuch"], "unknown event kind 'nosuch'"),
    ],
)
def test_bad_filters_exit_2(db: str, args: list[str], message: str) -> None:
    code, out = run("events", "--db", db, *args)
    assert code == 2
    assert message in out


def test_default_store_is_in_data_dir(tmp_path: Path) -> None:
    config = tmp_path / "sw.toml"
    config.write_text(f'[general]\ndata_dir = "{tmp_path / "data"}"\n')
    code, out = run("events", "--config", str(config))
    assert code == 0
    assert "no matching events" in out
    assert (tmp_path / "data" / "sipwarden.db").is_file()


def test_unreachable_store_is_a_clear_error() -> None:
    code, out = run("events", "--db", "mysql://nowhere/db")
    assert code == 1
    assert "cannot open the store" in out


def test_printable() -> None:
    assert printable(None) == ""
    assert printable("a\x00b\x7f") == "a\\x00b\\x7f"
    assert len(printable("x" * 500)) == 60


@pytest.mark.postgres
def test_postgresql_url(postgres_fresh_url: str) -> None:
    store = Store.open(postgres_fresh_url)
    store.add_events([Event(ts=utcnow(), kind="register", source="kamailio", src_ip="192.0.2.44")])
    store.close()
    code, out = run("events", "--db", postgres_fresh_url, "--json", "--since", "1h")
    assert code == 0, out
    assert [json.loads(line)["src_ip"] for line in out.splitlines()] == ["192.0.2.44"]
