"""The ipset and iptables backends in a network namespace the test creates."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sipwarden.enforce import Runner, make_ban
from sipwarden.enforce.ipset import IPSET_MAX_TIMEOUT, IpsetBackend
from sipwarden.enforce.iptables import IptablesBackend
from sipwarden.events import utcnow

from .netns import need_root_tools, sh

pytestmark = pytest.mark.root


def test_ipset_ban_list_unban_reconcile(netns: str, runner: Runner) -> None:
    need_root_tools("ipset", "iptables", "ip6tables")
    ipset = IpsetBackend("swt", runner=runner)
    ipset.setup()
    ipset.setup()  # idempotent: one drop rule per family
    rules = sh("iptables", "-t", "raw", "-S", "PREROUTING", ns=netns)
    assert rules.count("--match-set swt4 src -j DROP") == 1
    now = utcnow()
    ipset.ban("192.0.2.1", now + timedelta(minutes=10))
    ipset.ban("192.0.2.1", now + timedelta(hours=1))  # re-ban replaces the timeout
    ipset.ban("198.51.100.0/24", None)
    ipset.ban("2001:db8::1", now + timedelta(days=60))  # beyond ipset's maximum: capped
    listed = {b.value: b.until for b in ipset.list()}
    assert set(listed) == {"192.0.2.1", "198.51.100.0/24", "2001:db8::1"}
    one = listed["192.0.2.1"]
    assert one is not None and abs((one - now).total_seconds() - 3600) < 5
    assert listed["198.51.100.0/24"] is None
    six = listed["2001:db8::1"]
    assert six is not None and (six - now).total_seconds() <= IPSET_MAX_TIMEOUT + 1
    ipset.unban("192.0.2.1")
    ipset.unban("192.0.2.1")
    assert {b.value for b in ipset.list()} == {"198.51.100.0/24", "2001:db8::1"}
    later = now + timedelta(hours=1)
    assert ipset.reconcile([make_ban(f"10.3.0.{i}", later) for i in range(1, 201)]) == 200
    assert len(ipset.list()) == 200
    assert "swt4t" not in sh("ipset", "list", "-n", ns=netns)


def test_iptables_ban_list_unban_reconcile(netns: str, runner: Runner) -> None:
    need_root_tools("iptables", "ip6tables", "iptables-restore")
    ipt = IptablesBackend("swt", runner=runner)
    ipt.setup()
    ipt.setup()
    assert sh("iptables", "-t", "raw", "-S", "PREROUTING", ns=netns).count("-j SWT") == 1
    until = utcnow() + timedelta(hours=1)
    ipt.ban("192.0.2.1", until)
    ipt.ban("192.0.2.1", until)  # no duplicate rule
    ipt.ban("2001:db8::/64", None)
    assert sorted(b.value for b in ipt.list()) == ["192.0.2.1", "2001:db8::/64"]
    assert sh("iptables", "-t", "raw", "-S", "SWT", ns=netns).count("192.0.2.1") == 1
    ipt.unban("192.0.2.1")
    assert [b.value for b in ipt.list()] == ["2001:db8::/64"]
    assert ipt.reconcile([make_ban("192.0.2.9", until), make_ban("192.0.2.10", None)]) == 2
    assert sorted(b.value for b in ipt.list()) == ["192.0.2.10", "192.0.2.9"]
