"""Kamailio and OpenSIPS log messages: pike, secfilter-style blocks, and sipwarden's own xlog lines.

Kamailio and OpenSIPS do not log authentication failures by themselves; docs/logs.md gives the
`xlog` statements to add, which write the PBX-known fields (source address, port, protocol,
method) before the caller's (From user, User-Agent):

    sipwarden: auth failed src=$si port=$sp proto=$pr method=$rm user='$fU' ua='$ua'
    sipwarden: auth ok src=$si port=$sp proto=$pr method=$rm user='$fU' ua='$ua'
"""

from __future__ import annotations

import re
from typing import Final

from sipwarden.sensors.logs.patterns import ADDR, Pattern, Sample

# Syslog/journald header, or OpenSIPS' stderr "DATE [pid] ", then Kamailio's stderr " 0(123) ",
# a log_prefix "{...} ", the level ("NOTICE: ") and the origin ("<script>: ", "pike [file.c:1]:
# func(): ", or OpenSIPS' "WARNING:pike:pike_check_req: ").
ENVELOPE: Final = re.compile(
    r"(?:(?:[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT[0-9:.+Z-]+) "
    r"(?:\S+ (?:[\w./-]+ ?)?(?:\[\d+\])?|\[\d+\]): )?"
    r"(?:\{[^}]{0,200}\} )?(?: *\d+\(\d+\) )?(?:\{[^}]{0,200}\} )?"
    r"(?:(?P<level>L_[A-Z]+|[A-Z]+): )?"
    r"(?:<script>: |(?:<core> |[\w-]+ )?\[[\w./-]+:\d+\]: (?:\w+\(\): )?|[A-Z]+:[\w-]+:[\w-]+: )?"
)

_SIPWARDEN = (
    r"src=(?P<host>" + ADDR + r") port=(?P<port>\d{1,5}) proto=(?P<transport>[a-z]+) "
    r"method=(?P<method>[A-Za-z]+) user='(?P<user>.*)' ua='(?P<ua>.*)'\s*$"
)

PATTERNS: Final = (
    Pattern(
        id="kam.pike.blocking",
        family="kamailio",
        kind="blocked",
        trigger="BLOCKing ip",
        regex=re.compile(r"PIKE - BLOCKing ip (?P<host>" + ADDR + r"), node="),
        anchor="start",
        samples=(
            Sample(
                "Nov 25 04:00:00 sbc kamailio[2211]: WARNING: pike [pike_funcs.c:148]: pike_check_req(): PIKE - BLOCKing ip 203.0.113.50, node=0x7f3a2c1d40",
                {"kind": "blocked", "src_ip": "203.0.113.50"},
            ),
            Sample(
                "Nov 25 04:00:01 sbc /usr/sbin/opensips[9]: WARNING:pike:pike_check_req: PIKE - BLOCKing ip 2001:db8::50, node=0x7f00",
                {"kind": "blocked", "src_ip": "2001:db8::50"},
            ),
            Sample(
                "Oct 23 18:32:56 kamailio [6257]: {1 465 REGISTER abc} 13(30845) WARNING: pike [pike_funcs.c:148]: pike_check_req(): PIKE - BLOCKing ip 203.0.113.51, node=0x1",
                {"kind": "blocked", "src_ip": "203.0.113.51"},
            ),
        ),
    ),
    Pattern(
        id="kam.pike.cfg_alert",
        family="kamailio",
        kind="blocked",
        trigger="pike blocking",
        # The default kamailio.cfg: xlog("L_ALERT","ALERT: pike blocking $rm from $fu (IP:$si:$sp)\n");
        # $fu is the caller's From URI, so the address is read at the end; $si prints IPv6 unbracketed.
        regex=re.compile(
            r"(?:ALERT: )?pike blocking (?P<method>[A-Za-z]+) from (?P<from>.*) \(IP:(?P<host>" + ADDR + r")\)\s*$"
        ),
        glued_port=True,
        samples=(
            Sample(
                " 3(2216) ALERT: <script>: ALERT: pike blocking REGISTER from sip:100@192.0.2.1 (IP:198.51.100.7:5070)",
                {
                    "kind": "blocked",
                    "src_ip": "198.51.100.7",
                    "src_port": 5070,
                    "method": "REGISTER",
                    "username": "100",
                },
            ),
            Sample(
                "Nov 25 04:00:02 sbc kamailio[2216]: ALERT: <script>: ALERT: pike blocking INVITE from sip:x@y (IP:6.6.6.6:1) (IP:2001:db8::7:5060)",
                {"kind": "blocked", "src_ip": "2001:db8::7", "src_port": 5060},
            ),
        ),
    ),
    Pattern(
        id="kam.secfilter.blocked",
        family="kamailio",
        kind="blocked",
        trigger=" blocked because ",
        # secfilter's documented routing block: xlog("L_ALERT", "$rm from $si blocked because ...").
        regex=re.compile(r"(?P<method>[A-Z]+) from (?P<host>" + ADDR + r") blocked because (?P<reason>.*?)\s*$"),
        anchor="start",
        samples=(
            Sample(
                "Nov 25 04:00:03 sbc kamailio[2217]: ALERT: <script>: INVITE from 192.0.2.99 blocked because UserAgent 'friendly-scanner' is blacklisted",
                {"kind": "blocked", "src_ip": "192.0.2.99", "method": "INVITE"},
            ),
        ),
    ),
    Pattern(
        id="kam.sipwarden.auth_failed",
        family="kamailio",
        kind="auth_failure",
        trigger="sipwarden: auth failed",
        regex=re.compile(r"sipwarden: auth failed " + _SIPWARDEN),
        anchor="start",
        samples=(
            Sample(
                "Nov 25 04:00:04 sbc kamailio[2218]: NOTICE: <script>: sipwarden: auth failed src=192.0.2.200 port=5062 proto=udp method=REGISTER user='1001' ua='friendly-scanner'",
                {
                    "kind": "auth_failure",
                    "src_ip": "192.0.2.200",
                    "src_port": 5062,
                    "transport": "udp",
                    "method": "REGISTER",
                    "username": "1001",
                    "user_agent": "friendly-scanner",
                },
            ),
            Sample(
                " 1(77) NOTICE: <script>: sipwarden: auth failed src=2001:db8::200 port=5060 proto=tcp method=INVITE user='a' ua='x src=6.6.6.6 port=1'",
                {"kind": "auth_failure", "src_ip": "2001:db8::200", "src_port": 5060, "transport": "tcp"},
            ),
            Sample(
                "Nov 25 04:00:05 sbc /usr/sbin/opensips[31]: sipwarden: auth failed src=192.0.2.201 port=5060 proto=udp method=REGISTER user='<null>' ua='<null>'",
                {"kind": "auth_failure", "src_ip": "192.0.2.201", "username": None, "user_agent": None},
            ),
        ),
    ),
    Pattern(
        id="kam.sipwarden.auth_ok",
        family="kamailio",
        kind="auth_success",
        trigger="sipwarden: auth ok",
        regex=re.compile(r"sipwarden: auth ok " + _SIPWARDEN),
        anchor="start",
        samples=(
            Sample(
                "Nov 25 04:00:06 sbc kamailio[2218]: NOTICE: <script>: sipwarden: auth ok src=192.0.2.10 port=5060 proto=tls method=REGISTER user='1001' ua='Yealink'",
                {"kind": "auth_success", "src_ip": "192.0.2.10", "transport": "tls", "username": "1001"},
            ),
        ),
    ),
)
