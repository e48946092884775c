"""X-ARF v0.2 abuse reports, sans I/O: facts in, an RFC 5322 message out (stdlib `email`).

X-ARF (x-arf.org) is the abuse-report format network operators parse automatically: a
multipart/mixed message marked `X-XARF: PLAIN` with three parts, in order: a human-readable text, the
machine-readable report (YAML, `report.txt`, here the login-attack schema: SIP brute force and
scanning are login attacks on the SIP service), and the evidence (`logfile.log`, one line per event).
`Auto-Submitted: auto-generated` (RFC 3834) keeps auto-responders from answering.

Evidence lines carry what the attacker sent (user agents, account names), so they are made printable
before they go into the body; header values come only from checked fields (addresses, mailboxes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Final

from sipwarden.intel.ownership import Owner

#: The X-ARF schema of login attacks (SIP registration brute force, extension scanning).
SCHEMA_URL: Final = "http://www.x-arf.org/schema/abuse_login-attack_0.1.2.json"
XARF_VERSION: Final = "0.2"
#: Longest evidence line kept (characters): a SIP request line with headers folded away is far less.
MAX_EVIDENCE_LINE: Final = 1000
#: The report part is YAML; values that are not plain tokens are written as JSON strings, which
#: YAML reads as double-quoted scalars (YAML 1.2 is a superset of JSON).
_PLAIN: Final = re.compile(r"[A-Za-z0-9._@/+-]+")


@dataclass(frozen=True, slots=True)
class ReportFacts:
    """Everything one report says."""

    report_id: str
    ip: str
    owner: Owner
    recipient: str
    reporter: str
    from_address: str
    tlp: str
    first_seen: datetime
    last_seen: datetime
    events: int
    port: int
    evidence: Sequence[str]
    user_agent: str


def _yaml_value(value: str | int) -> str:
    if isinstance(value, int):
        return str(value)
    return value if _PLAIN.fullmatch(value) and not value[0].isdigit() else json.dumps(value)


def report_yaml(f: ReportFacts) -> str:
    """The machine-readable part (X-ARF v0.2, login-attack schema)."""
    fields: list[tuple[str, str | int]] = [
        ("Reported-From", f.from_address),
        ("Category", "abuse"),
        ("Report-Type", "login-attack"),
        ("Service", "sip"),
        ("Version", XARF_VERSION),
        ("User-Agent", f.user_agent),
        ("Date", format_datetime(f.first_seen)),
        # "ip-address" for either family: the value the login-attack schema's own samples use.
        ("Source-Type", "ip-address"),
        ("Source", f.ip),
        ("Port", f.port),
        ("Report-ID", f.report_id),
        ("Schema-URL", SCHEMA_URL),
        ("Attachment", "text/plain"),
        ("Occurrences", f.events),
        ("TLP", f.tlp),
    ]
    return "---\n" + "".join(f"{key}: {_yaml_value(value)}\n" for key, value in fields)


def human_text(f: ReportFacts) -> str:
    """The human-readable part."""
    o = f.owner
    who = o.name or o.network
    asn = f" (AS{o.asn})" if o.asn else ""
    return (
        f"Dear abuse team of {who}{asn},\n\n"
        f"the address {f.ip} in your network {o.network} attacked SIP (VoIP) servers: scanning,\n"
        f"password guessing or attempts at toll fraud. We recorded {f.events} events between\n"
        f"{f.first_seen:%Y-%m-%d %H:%M} and {f.last_seen:%Y-%m-%d %H:%M} UTC.\n\n"
        "Please investigate and stop this traffic; the host is often a compromised server or a\n"
        "customer's machine running SIPVicious or similar tools.\n\n"
        "The machine-readable report (X-ARF, report.txt) and the evidence (logfile.log, one line per\n"
        "event, times in UTC) are attached. This report was reviewed by a person before it was sent.\n"
        f"Traffic Light Protocol: {f.tlp.upper()}.\n\n"
        f"-- \n{f.reporter}\n"
    )


def evidence_text(lines: Sequence[str]) -> str:
    """The evidence part: printable lines (attacker text is escaped, not interpreted)."""
    out = []
    for line in lines:
        clean = "".join(ch if ch.isprintable() or ch == "\t" else f"\\x{ord(ch):02x}" for ch in line)
        out.append(clean[:MAX_EVIDENCE_LINE])
    return "\n".join(out) + "\n"


def build_report(f: ReportFacts, *, now: datetime) -> EmailMessage:
    """The whole message: headers, human part, report.txt, logfile.log."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = f.from_address
    msg["To"] = f.recipient
    msg["Subject"] = f"abuse report about {f.ip} - {format_datetime(f.last_seen)}"
    msg["Date"] = format_datetime(now)
    domain = f.from_address.rpartition("@")[2] or None
    msg["Message-ID"] = make_msgid("xarf", domain=domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-XARF"] = "PLAIN"
    msg["X-Sipwarden-Report"] = f.report_id
    msg.set_content(human_text(f), charset="utf-8")
    msg.add_attachment(
        report_yaml(f), subtype="plain", charset="utf-8", disposition="inline", filename="report.txt",
        params={"name": "report.txt"},
    )  # fmt: skip
    msg.add_attachment(
        evidence_text(f.evidence), subtype="plain", charset="utf-8", disposition="inline", filename="logfile.log",
        params={"name": "logfile.log"},
    )  # fmt: skip
    return msg
