"""End to end: svcrack attacks a real Kamailio; `sipwarden watch` on its log bans the attacker in nft.

Three namespaces created by the test: attacker -- pbx -- customer (veth pairs, 10.81.x.0/24 only
inside them). After the ban the attacker's packets get no answer, while a customer phone (SIPp)
still registers with the right password.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from enforce.netns import link, namespaces, need_root_tools, sh
from sipwarden.events import utcnow
from sipwarden.store import Store

pytestmark = [pytest.mark.root, pytest.mark.tools]

HERE = Path(__file__).resolve().parent
PBX_ATK, ATK = "10.81.1.1", "10.81.1.2"
PBX_CUST, CUST = "10.81.2.1", "10.81.2.2"
BIN = Path(sys.executable).parent

PROBE = """
import socket, sys
src, dst = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
s.settimeout(1.5)
port = s.getsockname()[1]
msg = (f"OPTIONS sip:ping@{dst} SIP/2.0\\r\\nVia: SIP/2.0/UDP {src}:{port};branch=z9hG4bK-{port}\\r\\n"
       f"From: <sip:probe@{src}>;tag=1\\r\\nTo: <sip:ping@{dst}>\\r\\nCall-ID: probe-{port}@{src}\\r\\n"
       "CSeq: 1 OPTIONS\\r\\nMax-Forwards: 70\\r\\nContent-Length: 0\\r\\n\\r\\n")
s.sendto(msg.encode(), (dst, 5060))
try:
    print(s.recvfrom(4096)[0].split(b"\\r\\n")[0].decode())
except TimeoutError:
    print("no answer")
"""


def probe(ns: str, src: str, dst: str) -> str:
    return sh(sys.executable, "-c", PROBE, src, dst, ns=ns).strip()


def wait_for(what: str, check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def banned(ns: str) -> set[str]:
    out = sh("nft", "-j", "list", "set", "inet", "sipwarden", "ban4", ns=ns, check=False)
    if not out:
        return set()
    elems = json.loads(out)["nftables"][1]["set"].get("elem", [])
    return {e if isinstance(e, str) else e["elem"]["val"] for e in elems}


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_svcrack_is_banned_and_the_customer_still_registers(tmp_path: Path) -> None:
    need_root_tools("nft", "kamailio", "sipp")
    if not (BIN / "sipvicious_svcrack").exists() or shutil.which("sipwarden", path=str(BIN)) is None:
        pytest.skip("sipvicious and sipwarden must be installed in the virtualenv (pip install -e '.[test]')")
    with namespaces(["atk", "pbx", "cust"]) as ns:
        link(ns["atk"], f"{ATK}/24", ns["pbx"], f"{PBX_ATK}/24", "swa")
        link(ns["cust"], f"{CUST}/24", ns["pbx"], f"{PBX_CUST}/24", "swc")
        kam_log = tmp_path / "kamailio.log"
        with kam_log.open("wb") as out:
            kamailio = subprocess.Popen(
                ["ip", "netns", "exec", ns["pbx"], "kamailio", "-f", str(HERE / "kamailio-auth.cfg"), "-DD", "-E",
                 "-l", f"udp:{PBX_ATK}:5060", "-l", f"udp:{PBX_CUST}:5060", "-n", "2", "-m", "64", "-M", "8",
                 "-w", str(tmp_path), "-P", str(tmp_path / "kamailio.pid")],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        watch: subprocess.Popen[bytes] | None = None
        try:
            wait_for("kamailio", lambda: probe(ns["cust"], CUST, PBX_CUST).startswith("SIP/2.0 200"))
            assert probe(ns["atk"], ATK, PBX_ATK).startswith("SIP/2.0 200")
            config = tmp_path / "sipwarden.toml"
            config.write_text(f'[general]\ndata_dir = "{tmp_path}"\n[logs]\nfrom_start = true\n')
            db = f"sqlite:///{tmp_path / 'sipwarden.db'}"
            with (tmp_path / "watch.log").open("wb") as out:
                watch = subprocess.Popen(
                    ["ip", "netns", "exec", ns["pbx"], str(BIN / "sipwarden"), "watch", str(kam_log),
                     "--format", "kamailio", "--backend", "nft", "--config", str(config), "--db", db],
                    stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip
            wait_for("sipwarden watch", lambda: sh("nft", "list", "tables", ns=ns["pbx"]).find("sipwarden") >= 0)
            # The customer registers with the right password before the attack...
            register = ["ip", "netns", "exec", ns["cust"], "sipp", "-sf", str(HERE / "register.xml"), "-m", "1",
                        "-i", CUST, "-p", "5070", "-s", "1001", "-au", "1001", "-ap", "Str0ng-Secret-71",
                        "-timeout", "10", "-timeout_error", "-nostdin", f"{PBX_CUST}:5060"]  # fmt: skip
            first = subprocess.run(register, capture_output=True, cwd=tmp_path, timeout=30, check=False)
            assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
            # ...then the attacker guesses passwords.
            crack = subprocess.Popen(
                ["ip", "netns", "exec", ns["atk"], str(BIN / "sipvicious_svcrack"), "-u", "1001", "-r", "1000-1400",
                 "-b", ATK, "--maximumtime", "5", f"udp://{PBX_ATK}:5060"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                wait_for("the attacker in the nft set", lambda: ATK in banned(ns["pbx"]), timeout=30)
            finally:
                stop(crack)
            assert "auth failed src=10.81.1.2" in kam_log.read_text(errors="replace")
            # The attacker's next packets get no answer; the customer still registers.
            assert probe(ns["atk"], ATK, PBX_ATK) == "no answer"
            again = subprocess.run(register, capture_output=True, cwd=tmp_path, timeout=30, check=False)
            assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
            assert CUST not in banned(ns["pbx"])
        finally:
            if watch is not None:
                stop(watch)
            stop(kamailio)
        store = Store.open(db)
        try:
            decisions = store.active_decisions(utcnow())
            assert [(d.value, d.action) for d in decisions] == [(ATK, "ban")]
            # svcrack announces itself as friendly-scanner: banned at its first refused guess.
            assert decisions[0].scenario in {"attack-tool", "bruteforce"}, decisions[0]
            assert decisions[0].event_ids and store.count_events(ip=ATK) >= 1
            assert store.events(ip=ATK)[0].kind == "auth_failure"
        finally:
            store.close()
