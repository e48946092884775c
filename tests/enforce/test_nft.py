"""The nftables backend in a network namespace the test creates: sets, timeouts, reconcile, drops."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from datetime import timedelta

import pytest

from sipwarden.enforce import EnforceError, Runner, make_ban
from sipwarden.enforce.nft import NftBackend
from sipwarden.events import utcnow

from .netns import link, namespaces, need_root_tools, sh

pytestmark = pytest.mark.root


def elements(netns: str, name: str) -> dict[str, int | None]:
    data = json.loads(sh("nft", "-j", "list", "set", "inet", "sipwarden", name, ns=netns))
    out: dict[str, int | None] = {}
    for item in data["nftables"]:
        for e in item.get("set", {}).get("elem", []):
            if isinstance(e, dict):
                val = e["elem"]["val"]
                if isinstance(val, dict):
                    val = f"{val['prefix']['addr']}/{val['prefix']['len']}"
                out[val] = e["elem"].get("timeout")
            else:
                out[e] = None
    return out


def test_setup_is_idempotent_and_drops_before_conntrack(netns: str, runner: Runner) -> None:
    nft = NftBackend(runner=runner)
    nft.setup()
    nft.ban("192.0.2.1", utcnow() + timedelta(hours=1))
    nft.setup()  # a restart keeps the bans
    assert "192.0.2.1" in elements(netns, "ban4")
    chain = sh("nft", "list", "chain", "inet", "sipwarden", "prerouting", ns=netns)
    assert "priority raw" in chain and "ip saddr @ban4 drop" in chain and "ip6 saddr @net6 drop" in chain


def test_ban_rebans_extend_and_unban(netns: str, runner: Runner) -> None:
    nft = NftBackend(runner=runner)
    nft.setup()
    now = utcnow()
    nft.ban("198.51.100.7", now + timedelta(seconds=60))
    assert elements(netns, "ban4") == {"198.51.100.7": 60}
    nft.ban("198.51.100.7", now + timedelta(hours=2))
    assert elements(netns, "ban4") == {"198.51.100.7": 7200}
    nft.ban("2001:db8::7", None)
    nft.ban("203.0.113.0/24", now + timedelta(hours=1))
    nft.ban("2001:db8:1::/64", now + timedelta(hours=1))
    assert elements(netns, "ban6") == {"2001:db8::7": None}
    assert list(elements(netns, "net4")) == ["203.0.113.0/24"]
    assert list(elements(netns, "net6")) == ["2001:db8:1::/64"]
    listed = {b.value: b.until for b in nft.list()}
    assert set(listed) == {"198.51.100.7", "2001:db8::7", "203.0.113.0/24", "2001:db8:1::/64"}
    assert listed["2001:db8::7"] is None
    until = listed["198.51.100.7"]
    assert until is not None and abs((until - now).total_seconds() - 7200) < 5
    nft.unban("198.51.100.7")
    nft.unban("198.51.100.7")  # absent: no error
    nft.unban("203.0.113.0/24")
    assert {b.value for b in nft.list()} == {"2001:db8::7", "2001:db8:1::/64"}


def test_expired_bans_are_skipped_and_bad_targets_never_reach_nft(netns: str, runner: Runner) -> None:
    nft = NftBackend(runner=runner)
    nft.setup()
    assert nft.ban_many([make_ban("192.0.2.9", utcnow() - timedelta(seconds=1))]) == 0
    for bad in ["1.2.3.4; flush ruleset", "host.example", "", "1.2.3.4 timeout 1s, 0.0.0.0/0"]:
        with pytest.raises(ValueError):
            nft.ban(bad, None)
    assert nft.list() == []


def test_overlapping_range_does_not_cost_the_other_bans(netns: str, runner: Runner) -> None:
    nft = NftBackend(runner=runner)
    nft.setup()
    nft.ban("10.9.0.0/16", None)
    later = utcnow() + timedelta(hours=1)
    n = nft.ban_many([make_ban("10.9.4.0/24", later), make_ban("192.0.2.5", later), make_ban("192.0.2.6", later)])
    assert n >= 2
    assert {"192.0.2.5", "192.0.2.6"} <= {b.value for b in nft.list()}


def test_reconcile_replaces_everything_in_one_transaction(netns: str, runner: Runner) -> None:
    nft = NftBackend(runner=runner)
    nft.setup()
    later = utcnow() + timedelta(hours=1)
    nft.ban_many([make_ban(f"10.1.{i}.1", later) for i in range(50)])
    active = [make_ban(str(ipaddress.ip_address("10.2.0.0") + i), later) for i in range(3000)]
    active.append(make_ban("2001:db8::1", later))
    assert nft.reconcile(active) == 3001
    assert len(elements(netns, "ban4")) == 3000 and "10.1.0.1" not in elements(netns, "ban4")
    assert nft.reconcile([]) == 0
    assert nft.list() == []


def test_a_failing_nft_raises_a_clear_error(netns: str, runner: Runner) -> None:
    nft = NftBackend(table="absent", runner=runner)
    with pytest.raises(EnforceError, match="nft"):
        nft.list()


ECHO_SERVER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.77.0.1", 5060))
s.settimeout(20)
print("ready", flush=True)
for _ in range(100):
    try:
        data, peer = s.recvfrom(2048)
    except TimeoutError:
        break
    s.sendto(b"echo " + data, peer)
"""

CLIENT = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.77.0.2", 5070))
s.settimeout(1.0)
for line in sys.stdin:
    s.sendto(line.strip().encode(), ("10.77.0.1", 5060))
    try:
        print(s.recvfrom(2048)[0].decode(), flush=True)
    except TimeoutError:
        print("timeout", flush=True)
"""


def test_banned_source_loses_an_already_tracked_udp_flow() -> None:
    need_root_tools("nft", "conntrack")
    with namespaces(["srv", "atk"]) as ns:
        link(ns["srv"], "10.77.0.1/24", ns["atk"], "10.77.0.2/24", "swv")
        # The server's own firewall accepts established flows first, as most hosts do.
        sh(
            "nft",
            "add table inet host; add chain inet host input { type filter hook input priority 0; policy accept; }; "
            "add rule inet host input ct state established,related accept",
            ns=ns["srv"],
        )
        server = subprocess.Popen(
            ["ip", "netns", "exec", ns["srv"], sys.executable, "-c", ECHO_SERVER], stdout=subprocess.PIPE, text=True
        )
        client = subprocess.Popen(
            ["ip", "netns", "exec", ns["atk"], sys.executable, "-c", CLIENT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None and server.stdout.readline().strip() == "ready"
            assert client.stdin is not None and client.stdout is not None

            def ask(text: str) -> str:
                assert client.stdin is not None and client.stdout is not None
                client.stdin.write(text + "\n")
                client.stdin.flush()
                return client.stdout.readline().strip()

            assert ask("one") == "echo one"
            assert ask("two") == "echo two"
            assert "10.77.0.2" in sh("conntrack", "-L", "-s", "10.77.0.2", ns=ns["srv"], check=False)
            nft = NftBackend(runner=Runner.in_netns(ns["srv"]), flush_conntrack=False)
            nft.setup()
            nft.ban("10.77.0.2", utcnow() + timedelta(minutes=5))
            assert ask("three") == "timeout"
            nft.unban("10.77.0.2")
            assert ask("four") == "echo four"
        finally:
            client.kill()
            server.kill()
            client.wait(10)
            server.wait(10)
