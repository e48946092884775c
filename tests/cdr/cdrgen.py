"""Generated call-detail records for tests and benchmarks: an office day and a toll-fraud attack."""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

#: NANP area codes of ordinary US fixed lines for national calls.
AREA_CODES = ("212", "415", "312", "617", "713", "206", "303", "404")
#: IRSF destinations of the attack, dialled with the US international prefix 011.
PREMIUM = ("01123276", "01137120", "011881", "01124588")


@dataclass(frozen=True)
class GenCall:
    """One generated call; `start` is naive local PBX time, as Asterisk writes it."""

    start: datetime
    account: str
    dst: str
    billsec: int
    ringing: int = 5
    src_ip: str = ""
    uniqueid: str = ""

    @property
    def answer(self) -> datetime | None:
        return self.start + timedelta(seconds=self.ringing) if self.billsec else None

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.ringing + self.billsec)


def national_number(rng: random.Random) -> str:
    """A US national number (10 digits)."""
    return f"{rng.choice(AREA_CODES)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"


def office_day(day: datetime, accounts: int = 10, seed: int = 1) -> list[GenCall]:
    """Local, national and internal calls of an office between 08:00 and 18:00, in start order."""
    rng = random.Random(seed)
    calls = []
    for a in range(accounts):
        account = str(1001 + a)
        for _ in range(rng.randint(15, 40)):
            start = day.replace(hour=8) + timedelta(seconds=rng.randint(0, 10 * 3600 - 900))
            kind = rng.random()
            dst = national_number(rng) if kind < 0.8 else str(1001 + rng.randrange(accounts))
            billsec = 0 if rng.random() < 0.2 else rng.randint(15, 600)
            calls.append(GenCall(start, account, dst, billsec, src_ip=f"10.0.0.{10 + a}"))
    calls.sort(key=lambda c: c.start)
    return [
        GenCall(c.start, c.account, c.dst, c.billsec, c.ringing, c.src_ip, f"{1764000000 + i}.{i}")
        for i, c in enumerate(calls)
    ]


def premium_burst(
    start: datetime, account: str = "1004", calls: int = 40, src_ip: str = "203.0.113.50", seed: int = 2
) -> list[GenCall]:
    """A night burst of calls to premium international destinations from one account."""
    rng = random.Random(seed)
    out = []
    for i in range(calls):
        prefix = PREMIUM[i % len(PREMIUM)]
        tail = "".join(str(rng.randint(0, 9)) for _ in range(6 if prefix.startswith(("01123276", "01124588")) else 5))
        dst = prefix + tail if not prefix.startswith("011881") else prefix + "6" + tail + "000"[: 9 - len(tail) - 1]
        out.append(
            GenCall(start + timedelta(seconds=20 * i), account, dst, rng.randint(60, 900), 3, src_ip, f"1764099000.{i}")
        )
    return out


def _t(ts: datetime | None) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def asterisk_row(c: GenCall) -> list[str]:
    """Master.csv columns of cdr_csv (accountcode ... amaflags, uniqueid, userfield)."""
    return [
        "", c.account, c.dst, "from-internal", f'"{c.account}" <{c.account}>', f"PJSIP/{c.account}-0000{c.uniqueid[-3:]}",
        "PJSIP/trunk-00000001", "Dial", f"PJSIP/{c.dst}@trunk,60", _t(c.start), _t(c.answer), _t(c.end),
        str(c.ringing + c.billsec), str(c.billsec), "ANSWERED" if c.billsec else "NO ANSWER", "DOCUMENTATION",
        c.uniqueid, "",
    ]  # fmt: skip


def write_asterisk_csv(path: Path, calls: Iterable[GenCall]) -> Path:
    """Write Asterisk Master.csv (calls in end order, as Asterisk writes them at hangup)."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL)
        for c in sorted(calls, key=lambda c: c.end):
            w.writerow(asterisk_row(c))
    return path


def write_custom_csv(path: Path, calls: Iterable[GenCall], columns: Sequence[str]) -> Path:
    """Write an Asterisk cdr_custom file with the given column mapping (src_ip supported)."""
    names = dict(zip(
        ("accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp", "lastdata",
         "start", "answer", "end", "duration", "billsec", "disposition", "amaflags", "uniqueid", "userfield"),
        range(18), strict=True,
    ))  # fmt: skip
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        for c in sorted(calls, key=lambda c: c.end):
            row = asterisk_row(c)
            w.writerow([c.src_ip if col == "src_ip" else row[names[col]] if col in names else "" for col in columns])
    return path


def write_freeswitch_csv(path: Path, calls: Iterable[GenCall]) -> Path:
    """Write FreeSWITCH mod_cdr_csv with the default "example" template."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL)
        for c in sorted(calls, key=lambda c: c.end):
            cause = "NORMAL_CLEARING" if c.billsec else "NO_ANSWER"
            w.writerow([
                c.account, c.account, c.dst, "default", _t(c.start), _t(c.answer), _t(c.end),
                str(c.ringing + c.billsec), str(c.billsec), cause, f"uuid-{c.uniqueid}", "", c.account, "PCMU", "PCMU",
            ])  # fmt: skip
    return path


def freeswitch_json(c: GenCall, epoch_of: dict[str, float] | None = None) -> dict[str, object]:
    """A mod_json_cdr document (values url-encoded as with encode-values=true)."""
    start = c.start.timestamp()
    return {
        "core-uuid": "5e1d0c1e-0000-4000-8000-000000000000",
        "switchname": "pbx",
        "channel_data": {"state": "CS_REPORTING", "direction": "inbound"},
        "variables": {
            "uuid": f"uuid-{c.uniqueid}",
            "sip_network_ip": c.src_ip,
            "sip_from_user": c.account,
            "user_name": c.account,
            "destination_number": c.dst,
            "caller_id_number": c.account,
            "start_epoch": str(int(start)),
            "start_uepoch": str(int(start * 1_000_000)),
            "end_epoch": str(int(c.end.timestamp())),
            "duration": str(c.ringing + c.billsec),
            "billsec": str(c.billsec),
            "hangup_cause": "NORMAL_CLEARING" if c.billsec else "NO_ANSWER",
            "user_context": "default",
            "channel_name": f"sofia/internal/{c.account}%40pbx.example",
        },
        "callflow": [
            {"caller_profile": {"username": c.account, "network_addr": c.src_ip, "destination_number": c.dst}}
        ],
    }


def write_freeswitch_json(directory: Path, calls: Iterable[GenCall]) -> list[Path]:
    """Write one `<uuid>.cdr.json` file per call, pretty-printed, as mod_json_cdr does."""
    paths = []
    for c in sorted(calls, key=lambda c: c.end):
        path = directory / f"uuid-{c.uniqueid}.cdr.json"
        path.write_text(json.dumps(freeswitch_json(c), indent=2))
        paths.append(path)
    return paths
