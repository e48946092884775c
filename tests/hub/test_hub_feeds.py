"""Every feed format, rendered from a real store and loaded by the real tool where there is one:
nft, ipset and iptables-restore inside a network namespace the test creates; STIX checked by the
stix2 library."""

from __future__ import annotations

import csv
import io
import ipaddress
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import stix2
from hub_testkit import ATTACKER, ATTACKER2, ATTACKER6, Hub, event, need_root_tools, netns, run
from tests.servekit import stop

from sipwarden.hub.formats import FORMATS
from sipwarden.store import Store

FIRST = [ATTACKER, ATTACKER2, ATTACKER6, "2a01:4f8:1::5"]


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    store = Store.open(f"sqlite:///{tmp_path / 'feeds.db'}")
    with Hub(store) as h:
        h.submit(h.trusted, *(event(ip) for ip in FIRST))
        yield h
    store.close()


def feed(hub: Hub, fmt: str) -> str:
    response = hub.get(f"/v1/blocklist?format={fmt}", hub.reader)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(FORMATS[fmt].media_type.split(";")[0])
    return str(response.text)


def relist(hub: Hub, remove: str, add: str) -> None:
    assert hub.post(f"/v1/admin/delist/{remove}", hub.admin, params={"reason": "test"}).status_code == 200
    hub.submit(hub.trusted, event(add))


def test_plain_json_csv(hub: Hub) -> None:
    assert feed(hub, "plain").split() == FIRST
    body = json.loads(feed(hub, "json"))
    assert body["count"] == 4 and [a["ip"] for a in body["addresses"]] == FIRST
    rows = list(csv.DictReader(io.StringIO(feed(hub, "csv"))))
    assert [r["ip"] for r in rows] == FIRST and rows[0]["reason"] == "honeypot probe"


def test_csv_quotes_formula_like_reasons() -> None:
    from datetime import UTC, datetime

    from sipwarden.hub.formats.base import FeedData
    from sipwarden.hub.formats.text import CsvFormat
    from sipwarden.hub.repo import Listing

    t = datetime(2026, 1, 1, tzinfo=UTC)
    item = Listing(ATTACKER, True, "01KQ0000000000000000000000", 1.0, 1, 1, "=HYPERLINK(1)", t, t, t, 1, None, None)
    text = CsvFormat().render(FeedData(ips=[ATTACKER], load_listings=lambda: [item], generated=t, cursor=1))
    rows = list(csv.DictReader(io.StringIO(text)))
    # A cell starting with = + - @ would run as a formula in a spreadsheet (CSV injection).
    assert rows[0]["reason"] == "'=HYPERLINK(1)"


def test_nft_script_loads_and_reloads_in_a_namespace(hub: Hub) -> None:
    need_root_tools("nft")
    with netns() as ns:
        run("nft", "-f", "-", ns=ns, stdin=feed(hub, "nft"))
        v4 = run("nft", "list", "set", "inet", "sipwarden_hub", "blocklist_v4", ns=ns).stdout
        v6 = run("nft", "list", "set", "inet", "sipwarden_hub", "blocklist_v6", ns=ns).stdout
        assert ATTACKER in v4 and ATTACKER2 in v4 and ATTACKER6 in v6
        chain = run("nft", "list", "chain", "inet", "sipwarden_hub", "input", ns=ns).stdout
        assert "ip saddr @blocklist_v4 drop" in chain
        # A second load replaces the list (idempotent, nothing left over).
        relist(hub, ATTACKER, "185.53.88.11")
        run("nft", "-f", "-", ns=ns, stdin=feed(hub, "nft"))
        v4 = run("nft", "list", "set", "inet", "sipwarden_hub", "blocklist_v4", ns=ns).stdout
        assert ATTACKER not in v4 and "185.53.88.11" in v4
        assert run("nft", "list", "tables", ns=ns).stdout.count("sipwarden_hub") == 1


def test_empty_nft_feed_loads(tmp_path: Path) -> None:
    need_root_tools("nft")
    store = Store.open(f"sqlite:///{tmp_path / 'empty.db'}")
    with Hub(store) as hub, netns() as ns:
        run("nft", "-f", "-", ns=ns, stdin=feed(hub, "nft"))
        assert "sipwarden_hub" in run("nft", "list", "tables", ns=ns).stdout
    store.close()


def test_ipset_restore_in_a_namespace(hub: Hub) -> None:
    need_root_tools("ipset")
    with netns() as ns:
        try:
            run("ipset", "restore", ns=ns, stdin=feed(hub, "ipset"))
            v4 = run("ipset", "list", "sipwarden-hub-v4", ns=ns).stdout
            v6 = run("ipset", "list", "sipwarden-hub-v6", ns=ns).stdout
            assert ATTACKER in v4 and ATTACKER2 in v4 and ATTACKER6 in v6
            relist(hub, ATTACKER, "185.53.88.11")
            run("ipset", "restore", ns=ns, stdin=feed(hub, "ipset"))
            v4 = run("ipset", "list", "sipwarden-hub-v4", ns=ns).stdout
            assert ATTACKER not in v4 and "185.53.88.11" in v4
        finally:
            for name in ("sipwarden-hub-v4", "sipwarden-hub-v6"):
                run("ipset", "destroy", name, ns=ns, check=False)


@pytest.mark.parametrize(
    ("fmt", "tool", "lister"),
    [("iptables", "iptables-restore", "iptables"), ("ip6tables", "ip6tables-restore", "ip6tables")],
)
def test_iptables_restore_in_a_namespace(hub: Hub, fmt: str, tool: str, lister: str) -> None:
    need_root_tools(tool, lister)
    with netns() as ns:
        run(tool, "--noflush", ns=ns, stdin=feed(hub, fmt))
        rules = run(lister, "-S", "SIPWARDEN-HUB", ns=ns).stdout
        if fmt == "iptables":
            assert f"-A SIPWARDEN-HUB -s {ATTACKER}/32 -j DROP" in rules and ATTACKER6 not in rules
        else:
            assert f"-A SIPWARDEN-HUB -s {ATTACKER6}/128 -j DROP" in rules and ATTACKER not in rules
        relist(
            hub, ATTACKER if fmt == "iptables" else ATTACKER6, "185.53.88.11" if fmt == "iptables" else "2a01:4f8:2::7"
        )
        run(tool, "--noflush", ns=ns, stdin=feed(hub, fmt))
        rules = run(lister, "-S", "SIPWARDEN-HUB", ns=ns).stdout
        assert (ATTACKER if fmt == "iptables" else ATTACKER6) not in rules
        assert len([line for line in rules.splitlines() if line.startswith("-A")]) == 2


def test_kamailio_address_file(hub: Hub) -> None:
    lines = [line.split() for line in feed(hub, "kamailio").splitlines() if not line.startswith("#")]
    # permissions module, "Address File Format": group address [mask [port [tag]]]
    assert [(g, ip, mask) for g, ip, mask, _port, _tag in lines] == [
        ("66", ATTACKER, "32"),
        ("66", ATTACKER2, "32"),
        ("66", ATTACKER6, "128"),
        ("66", "2a01:4f8:1::5", "128"),
    ]


def test_asterisk_acl_section(hub: Hub) -> None:
    text = feed(hub, "asterisk").splitlines()
    assert "[sipwarden-hub]" in text
    rules = [line.split("=", 1) for line in text if "=" in line and not line.startswith(";")]
    assert rules[:2] == [["permit", "0.0.0.0/0.0.0.0"], ["permit", "::/0"]]
    denied = {ipaddress.ip_network(v, strict=True) for k, v in rules if k == "deny"}
    assert denied == {ipaddress.ip_network(ip) for ip in FIRST}


def test_stix_bundle_is_valid_stix_21(hub: Hub) -> None:
    text = feed(hub, "stix")
    bundle = stix2.parse(text, allow_custom=False)
    indicators = [o for o in bundle.objects if o.type == "indicator"]
    assert len(indicators) == 4
    patterns = {i.pattern for i in indicators}
    assert f"[ipv4-addr:value = '{ATTACKER}']" in patterns and f"[ipv6-addr:value = '{ATTACKER6}']" in patterns
    assert all(i.spec_version == "2.1" and i.valid_until > i.valid_from for i in indicators)
    # Same list, same bytes: the bundle id derives from the cursor.
    assert feed(hub, "stix") == text


KAMAILIO_CFG = """#!KAMAILIO
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:{port}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "sl.so"
loadmodule "ctl.so"
loadmodule "permissions.so"
modparam("ctl", "binrpc", "unix:{ctl}")
modparam("permissions", "address_file", "{addresses}")
request_route {{
    if (allow_source_address("66")) {{ sl_send_reply("403", "Listed"); exit; }}
    sl_send_reply("200", "OK");
}}
"""


def test_kamailio_loads_the_address_file(hub: Hub, tmp_path: Path) -> None:
    import shutil
    import subprocess
    import time

    from hub_testkit import free_port

    if shutil.which("kamailio") is None or shutil.which("kamcmd") is None:
        pytest.skip("kamailio not installed (scripts/install-system-deps.sh)")
    addresses = tmp_path / "address.list"
    addresses.write_text(feed(hub, "kamailio"))
    ctl = tmp_path / "ctl.sock"
    cfg = tmp_path / "kamailio.cfg"
    cfg.write_text(KAMAILIO_CFG.format(port=free_port(), ctl=ctl, addresses=addresses))
    proc = subprocess.Popen(
        ["kamailio", "-DD", "-E", "-f", str(cfg), "-w", str(tmp_path), "-Y", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        dump = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            done = run("kamcmd", "-s", f"unix:{ctl}", "permissions.addressDump", check=False)
            if done.returncode == 0:
                dump = done.stdout
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        for ip in FIRST:
            assert ip in dump, dump
    finally:
        stop(proc, 20, 10)
