"""FreeSWITCH log messages (mod_sofia, sofia_reg.c): auth failures, challenges, unknown users, ACLs.

Every message here ends with the address FreeSWITCH wrote (`from ip 1.2.3.4`), and the only
caller text (`for [user@domain]`) comes before it, so the patterns are anchored at the end.
"""

from __future__ import annotations

import re
from typing import Any, Final

from sipwarden.events import EventKind
from sipwarden.sensors.logs.patterns import ADDR, Found, Pattern, Sample, standard_extract

_SYSLOG = r"(?:(?:[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT[0-9:.+Z-]+) \S+ [\w./-]+(?:\[\d+\])?: )?"

# `[uuid ]DATE [idle% ][LEVEL] [SOFIA] [file.c:line] ` or `DATE [LEVEL] file.c:line ` (switch_log.c),
# after an optional syslog/journald header (systemd writes its own time first: "dual timestamps").
ENVELOPE: Final = re.compile(
    _SYSLOG + r"(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12} )?"
    r"(?:\d{4}-)?\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? (?:[\d.]+% )?"
    r"\[(?P<level>[A-Z]+)\] (?:\[[A-Z]+\] )?\[?(?P<file>[\w.]+\.c):\d+\]? "
)

_FOR = r" on sofia profile '(?P<profile>[^']*)' for \[(?P<target>.*)\] from ip (?P<host>" + ADDR + r")\s*$"


def _user_or_target(pattern: Pattern, m: re.Match[str], message: str) -> Found:
    """`for [USER@DOMAIN]`: the account for REGISTER, the dialled number for INVITE."""
    found = standard_extract(pattern, m, message)
    fields: dict[str, Any] = dict(found.fields)
    user = (fields.pop("target", None) or "").rpartition("@")[0] or None
    method = fields.get("method")
    kind: EventKind = found.kind or pattern.kind
    if method == "INVITE":
        fields["target"] = user
        if pattern.id == "fs.auth_challenge":
            kind = "call_rejected"  # events.py: call_rejected covers "refused or challenged"
    else:
        fields["username"] = user
        if pattern.id == "fs.auth_challenge":
            kind = "register" if method == "REGISTER" else "probe"
    return Found(kind, fields, reason=found.reason, error=found.error, detail=found.detail)


def _user_only(pattern: Pattern, m: re.Match[str], message: str) -> Found:
    found = standard_extract(pattern, m, message)
    fields = dict(found.fields)
    user = fields.pop("username", None)
    if user:
        fields["username"] = user.rpartition("@")[0] or user
    return Found(found.kind, fields, reason=found.reason, error=found.error, detail=found.detail)


PATTERNS: Final = (
    Pattern(
        id="fs.auth_failure",
        family="freeswitch",
        kind="auth_failure",
        trigger="SIP auth failure",
        regex=re.compile(r"SIP auth failure \((?P<method>[A-Z]+)\)" + _FOR),
        extract=_user_or_target,
        samples=(
            Sample(
                "2013-12-31 17:39:54.767815 [WARNING] sofia_reg.c:1478 SIP auth failure (INVITE) on sofia profile 'internal' for [000972543480510@192.168.2.51] from ip 5.11.47.236",
                {"kind": "auth_failure", "src_ip": "5.11.47.236", "method": "INVITE", "target": "000972543480510"},
            ),
            Sample(
                "2016-09-25T18:57:58.150982 www.srv.tld freeswitch[122921]: 2016-09-25 18:57:58.150982 [WARNING] sofia_reg.c:1720 SIP auth failure (REGISTER) on sofia profile 'sipinterface_1' for [1001@::1] from ip 192.0.2.2",
                {"kind": "auth_failure", "src_ip": "192.0.2.2", "method": "REGISTER", "username": "1001"},
            ),
            Sample(
                "08-03 08:10:21.026299 [WARN] [SOFIA] [sofia_reg.c:2248] SIP auth failure (INVITE) on sofia profile 'external' for [x] from ip 6.6.6.6@y] from ip 2001:db8::4",
                {"kind": "auth_failure", "src_ip": "2001:db8::4", "method": "INVITE"},
            ),
        ),
    ),
    Pattern(
        id="fs.auth_challenge",
        family="freeswitch",
        kind="call_rejected",
        trigger="SIP auth challenge",
        regex=re.compile(r"SIP auth challenge \((?P<method>[A-Z]+)\)" + _FOR),
        extract=_user_or_target,
        samples=(
            Sample(
                "2013-12-31 17:39:54.767815 [WARNING] sofia_reg.c:1533 SIP auth challenge (INVITE) on sofia profile 'internal' for [011448708752617@192.168.2.51] from ip 81.94.202.251",
                {"kind": "call_rejected", "src_ip": "81.94.202.251", "target": "011448708752617"},
            ),
            Sample(
                "2013-12-31 17:39:54.767815 [WARNING] sofia_reg.c:1533 SIP auth challenge (REGISTER) on sofia profile 'internal' for [1001@192.168.2.51] from ip 81.94.202.252",
                {"kind": "register", "src_ip": "81.94.202.252", "username": "1001"},
            ),
        ),
    ),
    Pattern(
        id="fs.user_not_found",
        family="freeswitch",
        kind="unknown_user",
        trigger="Can't find user",
        regex=re.compile(r"Can't find user \[(?P<user>.*)\] from (?P<host>" + ADDR + r")\s*$"),
        extract=_user_only,
        samples=(
            Sample(
                "2013-12-31 17:39:54.767815 [WARNING] sofia_reg.c:2531 Can't find user [1001@192.168.2.51] from 5.11.47.236",
                {"kind": "unknown_user", "src_ip": "5.11.47.236", "username": "1001"},
            ),
            Sample(
                "08-03 07:56:53.026292 [WARN] [SOFIA] [sofia_reg.c:4130] Can't find user [101@148.251.134.154] from 192.0.2.3",
                {"kind": "unknown_user", "src_ip": "192.0.2.3", "username": "101"},
            ),
        ),
    ),
    Pattern(
        id="fs.register_acl",
        family="freeswitch",
        kind="acl_denied",
        trigger="Rejected by register acl",
        regex=re.compile(r"IP (?P<host>" + ADDR + r") Rejected by register acl \"(?P<acl>[^\"]*)\""),
        anchor="start",
        samples=(
            Sample(
                '2021-02-03 04:05:06.000001 [WARNING] sofia_reg.c:1722 IP 198.51.100.23 Rejected by register acl "domains"',
                {"kind": "acl_denied", "src_ip": "198.51.100.23"},
            ),
        ),
    ),
)
