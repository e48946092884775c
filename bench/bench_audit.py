"""Audit time on a large generated Asterisk configuration.

    python -m bench audit [--accounts 10000] [--out FILE]

Half the accounts are chan_sip peers (sip.conf, inheriting a template), half are PJSIP endpoints
with their auth sections (pjsip.conf); one in ten has a weak secret, one in fifty reuses one. The
dial plan has a context per hundred accounts and a guest context. `audit_paths` is timed, as
`sipwarden audit DIR` runs it. Goal: 10,000 accounts in under 2 s.
"""

from __future__ import annotations

import argparse
import random
import secrets
import string
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from bench.common import loadavg, markdown_table, write_results
from sipwarden.audit.report import audit_paths

GOAL_ACCOUNTS: Final = 10_000
GOAL_SECONDS: Final = 2.0
_ALPHABET: Final = string.ascii_letters + string.digits + "!#%+"


def _secret(rng: random.Random, i: int) -> str:
    if i % 10 == 0:
        return rng.choice(["1234", str(i), "password", "84736251"])
    if i % 50 == 1:
        return "Shared-Secret-2026!"
    return "".join(secrets.choice(_ALPHABET) for _ in range(16))


def generate(directory: Path, accounts: int, seed: int = 3) -> None:
    """Write sip.conf, pjsip.conf, extensions.conf and manager.conf with `accounts` accounts."""
    rng = random.Random(seed)
    half = accounts // 2
    sip = ["[general]", "allowguest=no", "alwaysauthreject=yes", "tlsenable=yes", "",
           "[phone](!)", "type=friend", "host=dynamic", "encryption=yes", ""]  # fmt: skip
    for i in range(half):
        sip += [f"[{10000 + i}](phone)", f"secret={_secret(rng, i)}", f"context=office{i // 100}"]
        if i % 3:
            sip += ["deny=0.0.0.0/0.0.0.0", "permit=192.0.2.0/255.255.255.0"]
        sip.append("")
    (directory / "sip.conf").write_text("\n".join(sip))
    pj = ["[transport-tls]", "type=transport", "protocol=tls", "bind=0.0.0.0:5061", "",
          "[ep](!)", "type=endpoint", "media_encryption=sdes", "disallow=all", "allow=ulaw", ""]  # fmt: skip
    for i in range(accounts - half):
        n = 50000 + i
        pj += [f"[{n}](ep)", f"auth={n}-auth", f"aors={n}", f"context=office{i // 100}", ""]
        pj += [f"[{n}-auth]", "type=auth", "auth_type=userpass", f"username={n}", f"password={_secret(rng, i)}", ""]
    (directory / "pjsip.conf").write_text("\n".join(pj))
    ext = ["[default]", "exten => 100,1,Playback(welcome)", ""]
    for c in range(accounts // 100 + 1):
        ext += [f"[office{c}]", "exten => _1XXXX,1,Dial(PJSIP/${EXTEN})", "exten => _5XXXX,1,Dial(PJSIP/${EXTEN})",
                "include => outbound", ""]  # fmt: skip
    ext += [
        "[outbound]",
        "exten => _NXXNXXXXXX,1,Dial(PJSIP/${EXTEN}@trunk)",
        "exten => _011.,1,Dial(PJSIP/${EXTEN}@trunk)",
    ]
    (directory / "extensions.conf").write_text("\n".join(ext) + "\n")
    (directory / "manager.conf").write_text("[general]\nenabled=yes\nbindaddr=127.0.0.1\n")


def main(argv: Sequence[str]) -> int:
    """Entry point of `python -m bench audit`."""
    parser = argparse.ArgumentParser(prog="python -m bench audit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=GOAL_ACCOUNTS)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        generate(Path(tmp), args.accounts)
        load = loadavg()
        started, cpu = time.perf_counter(), time.process_time()
        report = audit_paths([Path(tmp)])
        elapsed, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    meets = args.accounts >= GOAL_ACCOUNTS and elapsed < GOAL_SECONDS
    result = {
        "accounts": args.accounts,
        "findings": len(report.findings),
        "seconds": round(elapsed, 3),
        "cpu_seconds": round(cpu_s, 3),
        "load": load,
        "meets_goal": meets,
    }
    out = write_results("audit", {"args": {"accounts": args.accounts}, **result}, args.out)
    print(markdown_table(
        ["accounts", "findings", "seconds", "CPU s", "load", "goal (10k < 2 s)"],
        [[f"{args.accounts:,}", f"{len(report.findings):,}", result["seconds"], result["cpu_seconds"], load,
          "met" if meets else "missed"]],
    ))  # fmt: skip
    print(f"results: {out}")
    return 0 if meets else 1
