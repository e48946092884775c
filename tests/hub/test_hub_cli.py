"""`sipwarden hub keys create|list|revoke` and `sipwarden hub` serving, as an operator runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from hub_testkit import ATTACKER, event
from test_hub_stream import hub_process


def sipwarden(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sipwarden", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_keys_lifecycle_and_serving(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    created = sipwarden("hub", "keys", "create", "--name", "honeypot-a", "--role", "sensor", "--trusted", "--db", db)
    assert created.returncode == 0, created.stderr
    sensor = created.stdout.strip().splitlines()[-1]
    assert sensor.startswith("sw_") and len(sensor) > 40
    reader = sipwarden("hub", "keys", "create", "--name", "fw", "--db", db).stdout.strip().splitlines()[-1]
    listing = sipwarden("hub", "keys", "list", "--db", db).stdout
    assert "honeypot-a" in listing and "trusted" in listing and sensor not in listing
    config = tmp_path / "hub.toml"
    config.write_text("[hub]\nanonymous_read = []\n")
    with hub_process(db, config) as url:
        auth = {"Authorization": f"Bearer {sensor}"}
        assert httpx.post(f"{url}/v1/events", json=[event(ATTACKER)], headers=auth).status_code == 202
        assert httpx.get(f"{url}/v1/blocklist").status_code == 401
        assert httpx.get(f"{url}/v1/blocklist", headers={"X-Api-Key": reader}).text == f"{ATTACKER}\n"
        assert httpx.get(f"{url}/openapi.json").json()["info"]["title"] == "sipwarden hub"
    revoked = sipwarden("hub", "keys", "revoke", "fw", "--db", db)
    assert revoked.returncode == 0 and "revoked 1" in revoked.stdout
    assert "revoked" in sipwarden("hub", "keys", "list", "--db", db).stdout
    assert sipwarden("hub", "keys", "revoke", "fw", "--db", db).returncode == 1


def test_bad_options_are_clear_errors(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'bad.db'}"
    bad_role = sipwarden("hub", "keys", "create", "--name", "x", "--role", "root", "--db", db)
    assert bad_role.returncode == 2 and "role" in bad_role.stderr
    bad_listen = sipwarden("hub", "--db", db, "--listen", "nowhere")
    assert bad_listen.returncode == 2 and "HOST:PORT" in bad_listen.stderr
