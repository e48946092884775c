"""`sipwarden hub abuse ...` as an operator runs it: refresh owners from a loopback RDAP server,
draft, approve, send to a loopback SMTP sink only once sending is enabled, read the scoreboard."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from abuse_testkit import ABUSE1, ABUSE2, NET1, NET1_IP, NET2_IP, NET6_IP, add_test_networks, smtp_sink
from rdapfixture import rdap_server

from sipwarden.events import Event, utcnow
from sipwarden.hub.policy import Evidence
from sipwarden.hub.repo import HubRepo
from sipwarden.hub.settings import HubSettings
from sipwarden.store import Store


def sipwarden(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sipwarden", *args], capture_output=True, text=True, timeout=120, check=False
    )


def config(path: Path, rdap_base: str, smtp_port: int, *, enabled: bool, sender: str = "desk@hub.example") -> Path:
    path.write_text(
        "[hub.abuse]\n"
        f'rdap_bootstrap_url = "{rdap_base}/bootstrap/"\n'
        "rdap_interval_seconds = 0\n"
        f'from_address = "{sender}"\n'
        f"smtp_enabled = {'true' if enabled else 'false'}\n"
        'smtp_host = "127.0.0.1"\n'
        f"smtp_port = {smtp_port}\n"
        "smtp_starttls = false\n"
    )
    return path


def listed_store(db: str) -> None:
    """Three listed addresses with a few stored events each, as the hub would have them."""
    store = Store.open(db)
    try:
        now = utcnow()
        repo = HubRepo(store, HubSettings())
        _, key = repo.create_key("honeypot-1", "sensor", trusted=True, now=now)
        for ip in (NET1_IP, NET2_IP, NET6_IP):
            store.add_events([Event(ts=now, kind="register", source="honeypot", src_ip=ip, user_agent="sipcli/v1.8")])
            repo.add_evidence(key.id, [Evidence(ip, 1.0, True, 1, "honeypot register", now)], now)
    finally:
        store.close()


def test_the_abuse_desk_from_the_command_line(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'desk.db'}"
    listed_store(db)
    with rdap_server() as rdap, smtp_sink() as sink:
        add_test_networks(rdap)
        held = config(tmp_path / "held.toml", rdap.base, sink.port, enabled=False)
        live = config(tmp_path / "live.toml", rdap.base, sink.port, enabled=True)

        refreshed = sipwarden("hub", "abuse", "refresh", "--config", str(held), "--db", db)
        assert refreshed.returncode == 0, refreshed.stderr
        assert "looked up 3: 3 found" in refreshed.stdout
        again = sipwarden("hub", "abuse", "refresh", "--config", str(held), "--db", db)
        assert "looked up 0" in again.stdout and "3 cached" in again.stdout
        assert rdap.lookups(NET1_IP) == 1

        owner = sipwarden("hub", "abuse", "owner", NET1_IP, "--config", str(held), "--db", db)
        assert owner.returncode == 0 and NET1 in owner.stdout and ABUSE1 in owner.stdout and "AS64501" in owner.stdout
        assert sipwarden("hub", "abuse", "owner", "81.2.69.1", "--db", db).returncode == 1

        drafted = sipwarden("hub", "abuse", "draft", "--config", str(held), "--db", db)
        assert drafted.returncode == 0, drafted.stderr
        assert "drafted 2" in drafted.stdout and "1 without an abuse mailbox" in drafted.stdout
        ids = drafted.stdout.strip().splitlines()[-2:]
        shown = sipwarden("hub", "abuse", "show", ids[0], "--db", db)
        assert "X-XARF: PLAIN" in shown.stdout and "sipcli/v1.8" in shown.stdout

        # Approved but sending disabled: nothing leaves.
        approved = sipwarden("hub", "abuse", "approve", "--all-drafts", "--config", str(held), "--db", db)
        assert approved.returncode == 0 and "approved 2" in approved.stdout
        waiting = sipwarden("hub", "abuse", "send", "--config", str(held), "--db", db)
        assert waiting.returncode == 0 and "disabled" in waiting.stdout and "2 approved" in waiting.stdout
        assert sink.received == []

        sent = sipwarden("hub", "abuse", "send", "--config", str(live), "--db", db)
        assert sent.returncode == 0, sent.stderr
        assert "sent 2, failed 0" in sent.stdout
        assert sorted(r.rcpt_tos[0] for r in sink.received) == [ABUSE1, ABUSE2]

        listing = sipwarden("hub", "abuse", "reports", "--status", "sent", "--db", db)
        assert sum(" sent " in line for line in listing.stdout.splitlines()) == 2
        board = sipwarden("hub", "abuse", "scoreboard", "--json", "--config", str(live), "--db", db)
        lines = [json.loads(line) for line in board.stdout.splitlines()]
        verdicts = {n["network"]: n["verdict"] for n in lines}
        assert verdicts[NET1] == "waiting" and verdicts["2a01:4f8::/32"] == "unreported"
        text = sipwarden("hub", "abuse", "scoreboard", "--db", db)
        assert "NET-ONE AS64501 NL" in text.stdout


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'bad.db'}"
    bad_verdict = sipwarden("hub", "abuse", "scoreboard", "--verdict", "sometimes", "--db", db)
    assert bad_verdict.returncode == 2 and "verdict" in bad_verdict.stderr
    unknown = sipwarden("hub", "abuse", "approve", "01JZZZZZZZZZZZZZZZZZZZZZZZ", "--db", db)
    assert unknown.returncode == 1 and "not drafts" in unknown.stderr
    no_sender = sipwarden("hub", "abuse", "draft", "--db", db)
    assert no_sender.returncode == 2 and "from_address" in no_sender.stderr
    cfg = tmp_path / "nowhere.toml"
    cfg.write_text('[hub.abuse]\nrdap_bootstrap_url = "http://127.0.0.1:9/"\nrdap_timeout_seconds = 2\n')
    failed = sipwarden("hub", "abuse", "refresh", "81.2.69.1", "--config", str(cfg), "--db", db)
    assert failed.returncode == 1 and "RDAP refresh failed" in failed.stderr
