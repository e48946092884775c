"""`sipwarden report`, `sipwarden export` and `sipwarden events import` against a real store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.intel_data import BRUTE, FRAUDSTER, scenario_events
from typer.testing import CliRunner

from sipwarden.cli import app
from sipwarden.store import Store

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


@pytest.fixture
def db(tmp_path: Path) -> str:
    ndjson = tmp_path / "scenario.ndjson"
    ndjson.write_text("".join(json.dumps(ev.to_dict()) + "\n" for ev in scenario_events()))
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    code, out = run("events", "import", str(ndjson), "--db", url)
    assert code == 0, out
    assert f"imported {len(scenario_events())} events, 0 bad lines" in out
    return url


def test_events_listing_still_works_next_to_import(db: str) -> None:
    code, out = run("events", "--db", db, "--json", "--ip", BRUTE, "-n", "3")
    assert code == 0 and len(out.splitlines()) == 3
    assert all(json.loads(line)["src_ip"] == BRUTE for line in out.splitlines())


def test_import_reports_bad_lines_and_keeps_good(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ndjson"
    good = json.dumps(scenario_events()[0].to_dict())
    bad.write_text(f"{good}\n{{oops\n")
    url = f"sqlite:///{tmp_path / 'b.db'}"
    code, out = run("events", "import", str(bad), "--db", url)
    assert code == 1
    assert "bad.ndjson:2: not JSON" in out and "imported 1 events, 1 bad lines" in out
    store = Store.open(url)
    assert store.count_events() == 1
    store.close()
    code, out = run("events", "import", str(bad), "--db", url, "--format", "nope")
    assert code == 2 and "unknown format" in out
    code, out = run("events", "import", str(tmp_path / "absent"), "--db", url)
    assert code == 1 and "cannot read" in out


def test_report_ip_json_and_table(db: str) -> None:
    code, out = run("report", "ip", FRAUDSTER, "--db", db, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["numbers"][0]["e164"] == "+2314599711" and data["numbers"][0]["country"] == "LR"
    assert data["crack_links"][0]["cracked_by"] == BRUTE
    code, out = run("report", "ip", FRAUDSTER, "--db", db)
    assert code == 0
    assert "+2314599711" in out and BRUTE in out and "Zoiper" in out
    code, out = run("report", "ip", "192.0.2.200", "--db", db)
    assert code == 1 and "nothing known" in out


def test_report_number(db: str) -> None:
    code, out = run("report", "number", "9002314599711", "--db", db)
    assert code == 0
    for text in ("+2314599711", "LR", "high", "human-paced", "9011", "002314599711"):
        assert text in out
    code, out = run("report", "number", "+2314599711", "--db", db, "--json")
    assert json.loads(out)["cadence"]["pace"] == "human-paced"
    code, out = run("report", "number", "12345", "--db", db)
    assert code == 1


def test_report_summary(db: str) -> None:
    code, out = run("report", "summary", "--since", "3650d", "--db", db, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["events"] == len(scenario_events())
    assert data["top"]["ip"][0]["value"] == BRUTE
    assert data["campaigns"][0]["numbers"] == ["+2314599711"]
    code, out = run("report", "summary", "--since", "3650d", "--db", db)
    assert code == 0 and "top sources" in out and "1234" in out
    code, out = run("report", "summary", "--since", "yesterday", "--db", db)
    assert code == 2


@pytest.mark.parametrize("fmt", ["csv", "json", "stix", "misp"])
def test_export_formats(db: str, fmt: str, tmp_path: Path) -> None:
    target = tmp_path / f"out.{fmt}"
    code, out = run("export", "--format", fmt, "--db", db, "-o", str(target))
    assert code == 0, out
    text = target.read_text()
    assert FRAUDSTER in text and "+2314599711" in text


def test_export_bad_format(db: str) -> None:
    code, out = run("export", "--format", "xml", "--db", db)
    assert code == 2 and "unknown format" in out


def test_report_ip_json_shows_the_cached_owner(db: str) -> None:
    from datetime import timedelta

    from sipwarden.events import utcnow
    from sipwarden.intel.owner_cache import StoreOwnership
    from sipwarden.intel.rdap import RdapNetwork

    code, out = run("report", "ip", FRAUDSTER, "--db", db, "--json")
    assert code == 0 and json.loads(out)["owner"] is None
    net = RdapNetwork(
        handle="NET-203-0-113-0-1",
        name="EXAMPLE-HOSTING",
        org="Example Hosting",
        start="203.0.113.0",
        end="203.0.113.255",
        blocks=("203.0.113.0/24",),
        asn=64500,
        country="NL",
        abuse_email="abuse@example.net",
    )
    store = Store.open(db)
    now = utcnow()
    StoreOwnership(store).save_network(
        FRAUDSTER, net, source="https://rdap.example/ip/203.0.113.45", now=now, expires=now + timedelta(days=7)
    )
    store.close()
    code, out = run("report", "ip", FRAUDSTER, "--db", db, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["owner"]["network"] == "203.0.113.0/24" and data["owner"]["abuse_email"] == "abuse@example.net"
    assert data["network"] == "203.0.113.0/24"
