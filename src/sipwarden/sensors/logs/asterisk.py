"""Asterisk log messages: chan_sip, PJSIP, AMI, IAX2 and dialplan refusals (security log: asterisk_security).

Each regex is matched at the start of the message, after the envelope (`[date] LEVEL[lwp][C-id]
file.c:line func: `), so text the caller sent can only ever appear where the PBX put it.
"""

from __future__ import annotations

import re
from typing import Final

from sipwarden.events import EventKind
from sipwarden.sensors.logs.patterns import ADDR, Pattern, Sample

# `LEVEL[lwp][C-callid]:? file.c[:line [in ]function]: ` after an optional date and syslog header.
# Asterisk logger.c writes `[%s] %s[%d]%s %s: ` (file, Asterisk <= 13), `[%s] %s[%d]%s: %s:%d %s: `
# (file/console, 14+), `%s[%d]%s: %s:%d in %s: ` (syslog) and the dialplan Log() app puts
# `Ext. EXTEN` where the file goes.
ENVELOPE: Final = re.compile(
    r"(?:\[[^\]]{6,40}\] ?)?"
    r"(?:(?:[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT[0-9:.+Z-]+) \S+ [\w./-]+(?:\[\d+\])?: )?"
    r"(?:\[[^\]]{6,40}\] )?"
    r"(?P<level>[A-Z]+) ?\[\d+\](?:\[C-[0-9a-fA-F]+\])?:? "
    r"(?P<file>[^:\s][^:]{0,80}?)(?::\d+(?: in)? [^:]{0,160})?: "
)

# The start of a verbose message on the console or in the full log: "    -- ".
_VERBOSE = r"\s*(?:-- )?"
_TRANSPORT = r"(?P<transport>UDP|TCP|TLS|WSS|WS|SCTP)6?"

# chan_sip handle_request_register(): the reason strings of its `switch (res)` (chan_sip.c).
REGISTRATION_REASONS: Final[dict[str, EventKind]] = {
    "Wrong password": "auth_failure",
    "Username/auth name mismatch": "unknown_user",
    "No matching peer found": "unknown_user",
    "Not a local domain": "unknown_user",
    "Device does not match ACL": "acl_denied",
    "ACL error": "acl_denied",
    "Peer is not supposed to register": "acl_denied",
    "Device not configured to use this transport type": "acl_denied",
}

# res_pjsip/pjsip_distributor.c log_failed_request() reasons.
PJSIP_REASONS: Final[dict[str, EventKind]] = {
    "No matching endpoint found": "unknown_user",
    "Not match Endpoint ACL": "acl_denied",
    "Not match Endpoint Contact ACL": "acl_denied",
    "Failed to authenticate": "auth_failure",
    "Error to authenticate": "auth_failure",
}

_NOT_FOUND = r"rejected because (?P<reason>extension not found in context '(?P<context>[^']*)')\.?\s*$"
_PJSIP_TAIL = r" - (?P<reason>[^()']+?)(?: after (?P<tries>\d+) tries in [\d.]+ ms)?\s*$"

PATTERNS: Final = (
    Pattern(
        id="ast.chansip.register_failed",
        files=("chan_sip.c",),
        family="asterisk",
        kind="auth_failure",
        trigger=" failed ",
        # The reason after the address is PBX text; anchoring at `$` pins the last address slot.
        regex=re.compile(
            r"Registration from '(?P<from>.*)' failed for '(?P<host>" + ADDR + r")' - (?P<reason>[^']+?)\s*$"
        ),
        reasons=REGISTRATION_REASONS,
        samples=(
            Sample(
                "[2012-02-13 17:21:54] NOTICE[1638] chan_sip.c: Registration from '<sip:301@example.com>' failed for '1.2.3.4' - Wrong password",
                {
                    "kind": "auth_failure",
                    "src_ip": "1.2.3.4",
                    "src_port": None,
                    "username": "301",
                    "reason": "Wrong password",
                },
            ),
            Sample(
                "Nov  4 18:30:40 localhost asterisk[32229]: NOTICE[32257]: chan_sip.c:23417 in handle_request_register: Registration from '<sip:301@example.com>' failed for '192.168.200.100:36998' - No matching peer found",
                {"kind": "unknown_user", "src_ip": "192.168.200.100", "src_port": 36998},
            ),
            Sample(
                "[Mar 27 10:06:14] NOTICE[566][C-00000012]: chan_sip.c:28926 handle_request_register: Registration from '\"1000\" <sip:1000@127.0.0.100>' failed for '[2001:db8::7]:7998' - Device does not match ACL",
                {"kind": "acl_denied", "src_ip": "2001:db8::7", "src_port": 7998, "username": "1000"},
            ),
            Sample(
                # A From crafted to look like a failure of another address cannot move the slot.
                "[2013-06-10 18:15:03] NOTICE[2723] chan_sip.c: Registration from '\"x\" <sip:1@6.6.6.6>' failed for '6.6.6.6' - Wrong password' failed for '198.51.100.9:5060' - Not a local domain",
                {"kind": "unknown_user", "src_ip": "198.51.100.9", "src_port": 5060},
            ),
            Sample(
                "[Jan 18 17:39:50] NOTICE[1]: chan_sip.c:1 handle_request_register: Registration from '<sip:9@x>' failed for '203.0.113.5:5060' - Peer is not supposed to register",
                {"kind": "acl_denied", "src_ip": "203.0.113.5"},
            ),
        ),
    ),
    Pattern(
        id="ast.chansip.call_rejected",
        files=("chan_sip.c",),
        family="asterisk",
        kind="call_rejected",
        trigger="rejected because",
        # chan_sip prints the caller name (may come from the From header) before the address and
        # the dialled extension after it: attacker text on both sides, so the slot must be unique.
        regex=re.compile(
            r"Call from '(?P<user>.*?)' \((?P<host>" + ADDR + r")\) to extension '(?P<target>.*)' " + _NOT_FOUND
        ),
        anchor="unique",
        slot=re.compile(r"' \((?P<host>" + ADDR + r")\) to extension '"),
        samples=(
            Sample(
                "[2013-02-05 23:44:42] NOTICE[436][C-00000fa9] chan_sip.c: Call from '' (1.2.3.4:10836) to extension '0972598285108' rejected because extension not found in context 'default'.",
                {"kind": "call_rejected", "src_ip": "1.2.3.4", "src_port": 10836, "target": "0972598285108"},
            ),
            Sample(
                "[2016-01-28 10:34:33] NOTICE[3477][C-000003c3] chan_sip.c: Call from '' ([2001:db8::5]:5060) to extension '' rejected because extension not found in context 'my-context'.",
                {"kind": "call_rejected", "src_ip": "2001:db8::5", "src_port": 5060, "target": None},
            ),
            Sample(
                "[2016-01-28 10:34:33] NOTICE[3477][C-000003c3] chan_sip.c: Call from '' (1.2.3.4:5060) to extension '1' (6.6.6.6:5060) to extension '2' rejected because extension not found in context 'default'.",
                {"kind": "malformed", "src_ip": None},
            ),
        ),
    ),
    Pattern(
        id="ast.pjsip.call_rejected",
        files=("res_pjsip_session.c",),
        family="asterisk",
        kind="call_rejected",
        trigger="rejected because",
        # res_pjsip_session.c new_invite(): the endpoint name (configuration) comes first.
        regex=re.compile(
            r"Call from '(?P<endpoint>[^']*)' \(" + _TRANSPORT + r":(?P<host>" + ADDR + r")\) "
            r"to extension '(?P<target>.*)' " + _NOT_FOUND
        ),
        anchor="start",
        samples=(
            Sample(
                "[Jan 18 17:39:50] NOTICE[12049]: res_pjsip_session.c:2337 new_invite: Call from 'anonymous' (TCP:[1.2.3.4]:61470) to extension '9011+442037690237' rejected because extension not found in context 'default'.",
                {
                    "kind": "call_rejected",
                    "src_ip": "1.2.3.4",
                    "src_port": 61470,
                    "transport": "tcp",
                    "target": "9011+442037690237",
                },
            ),
            Sample(
                "[2019-01-01 10:00:00] NOTICE[1][C-00000001]: res_pjsip_session.c:2900 new_invite: Call from 'anonymous' (UDP:[2001:db8::1]:5060) to extension '900441234' (UDP:6.6.6.6:5060) to extension '1' rejected because extension not found in context 'from-external'.",
                {"kind": "call_rejected", "src_ip": "2001:db8::1", "src_port": 5060, "transport": "udp"},
            ),
        ),
    ),
    Pattern(
        id="ast.pjsip.call_rejected_v20",
        files=("res_pjsip_session.c",),
        family="asterisk",
        kind="call_rejected",
        trigger="rejected because",
        # Asterisk 20+: "ENDPOINT: Call (TRANSPORT:ADDR:PORT) to extension ..." (endpoint first).
        regex=re.compile(
            r"(?P<endpoint>[^:'\s]+): Call \(" + _TRANSPORT + r":(?P<host>" + ADDR + r")\) "
            r"to extension '(?P<target>.*)' " + _NOT_FOUND
        ),
        anchor="start",
        samples=(
            Sample(
                "[2024-03-01 12:00:00.123] NOTICE[2211][C-00000002]: res_pjsip_session.c:3866 new_invite: anonymous: Call (UDP:192.0.2.77:5071) to extension '0046701234567' rejected because extension not found in context 'default'.",
                {
                    "kind": "call_rejected",
                    "src_ip": "192.0.2.77",
                    "src_port": 5071,
                    "transport": "udp",
                    "target": "0046701234567",
                },
            ),
        ),
    ),
    Pattern(
        id="ast.pjsip.request_failed",
        files=("pjsip_distributor.c",),
        family="asterisk",
        kind="auth_failure",
        trigger=" failed ",
        # Asterisk 13.8-13.9: no method. From before and Call-ID after the address are both the
        # caller's text, so the address slot must be unique in the message.
        regex=re.compile(
            r"Request from '(?P<from>.*)' failed for '(?P<host>" + ADDR + r")' \(callid: (?P<callid>.*)\)" + _PJSIP_TAIL
        ),
        anchor="unique",
        slot=re.compile(r"' failed for '(?P<host>" + ADDR + r")' \(callid: "),
        glued_port=True,
        reasons=PJSIP_REASONS,
        samples=(
            Sample(
                "[2016-05-23 10:18:16] NOTICE[19388] res_pjsip/pjsip_distributor.c: Request from '\"1000\" <sip:1000@10.0.0.1>' failed for '1.2.3.4:48336' (callid: 276666022) - No matching endpoint found",
                {
                    "kind": "unknown_user",
                    "src_ip": "1.2.3.4",
                    "src_port": 48336,
                    "username": "1000",
                    "call_id": "276666022",
                },
            ),
            Sample(
                "[2016-05-23 10:18:16] NOTICE[19388] res_pjsip/pjsip_distributor.c: Request from '\"1000\" <sip:1000@10.0.0.1>' failed for '1.2.3.4:48336' (callid: 276666022) - Not match Endpoint Contact ACL",
                {"kind": "acl_denied", "src_ip": "1.2.3.4", "reason": "Not match Endpoint Contact ACL"},
            ),
            Sample(
                "[2016-05-23 10:18:16] NOTICE[19388] res_pjsip/pjsip_distributor.c: Request from '<sip:a@b>' failed for '1.2.3.4:48336' (callid: x' failed for '6.6.6.6:5060' (callid: y) - Failed to authenticate",
                {"kind": "malformed", "src_ip": None},
            ),
        ),
    ),
    Pattern(
        id="ast.pjsip.request_method_failed",
        files=("pjsip_distributor.c",),
        family="asterisk",
        kind="auth_failure",
        trigger=" failed ",
        # Asterisk 13.10-16.0 print IPv6 unbracketed with the port glued on ('2001:db8::20:5060');
        # 16.1+ bracket it and may add "after N tries in X ms".
        regex=re.compile(
            r"Request '(?P<method>[A-Za-z]+)' from '(?P<from>.*)' failed for '(?P<host>" + ADDR + r")' "
            r"\(callid: (?P<callid>.*)\)" + _PJSIP_TAIL
        ),
        anchor="unique",
        slot=re.compile(r"' failed for '(?P<host>" + ADDR + r")' \(callid: "),
        glued_port=True,
        reasons=PJSIP_REASONS,
        samples=(
            Sample(
                "[2017-12-14 22:18:00] NOTICE[1943] res_pjsip/pjsip_distributor.c: Request 'INVITE' from '<sip:'or''='@4.5.6.7>' failed for '1.2.3.4:43678' (callid: UmOkE9yQPGOsF3Az24YTRe..) - No matching endpoint found",
                {"kind": "unknown_user", "src_ip": "1.2.3.4", "src_port": 43678, "method": "INVITE"},
            ),
            Sample(
                "[2018-04-01 08:00:00] NOTICE[1943] res_pjsip/pjsip_distributor.c: Request 'REGISTER' from '<sip:100@example.com>' failed for '2001:db8::20:5060' (callid: abc@host) - Failed to authenticate",
                {
                    "kind": "auth_failure",
                    "src_ip": "2001:db8::20",
                    "src_port": 5060,
                    "method": "REGISTER",
                    "username": "100",
                },
            ),
            Sample(
                "[2023-05-02 09:10:11.512] NOTICE[3012]: res_pjsip/pjsip_distributor.c:676 log_failed_request: Request 'REGISTER' from '\"201\" <sip:201@pbx.example.com>' failed for '[2001:db8::99]:5062' (callid: 7f2-aa) - No matching endpoint found after 5 tries in 0.211 ms",
                {
                    "kind": "unknown_user",
                    "src_ip": "2001:db8::99",
                    "src_port": 5062,
                    "username": "201",
                    "reason": "No matching endpoint found",
                },
            ),
            Sample(
                "[2023-05-02 09:10:11.512] NOTICE[3012]: res_pjsip/pjsip_distributor.c:676 log_failed_request: Request 'OPTIONS' from '<sip:100@x>' failed for '198.51.100.1:5060' (callid: (UDP:6.6.6.6:5060)) - Failed to authenticate after 1 tries in 0.050 ms",
                {"kind": "auth_failure", "src_ip": "198.51.100.1", "method": "OPTIONS"},
            ),
        ),
    ),
    Pattern(
        id="ast.ami.auth_failed",
        files=("manager.c",),
        family="asterisk",
        kind="auth_failure",
        trigger=" failed ",
        regex=re.compile(r"(?P<host>" + ADDR + r") failed to authenticate as '(?P<user>.*)'\s*$"),
        anchor="start",
        samples=(
            Sample(
                "[2016-06-09 00:01:02] NOTICE [22382] manager.c: 192.0.2.1 failed to authenticate as 'admin'",
                {"kind": "auth_failure", "src_ip": "192.0.2.1", "username": "admin"},
            ),
        ),
    ),
    Pattern(
        id="ast.ami.nonexistent_user",
        files=("manager.c",),
        family="asterisk",
        kind="unknown_user",
        trigger="nonexistent user",
        regex=re.compile(r"(?P<host>" + ADDR + r") tried to authenticate with nonexistent user '(?P<user>.*)'\s*$"),
        anchor="start",
        samples=(
            Sample(
                "[2016-05-06 07:08:09] NOTICE[31554] manager.c: 192.0.2.4 tried to authenticate with nonexistent user 'opennms'",
                {"kind": "unknown_user", "src_ip": "192.0.2.4", "username": "opennms"},
            ),
        ),
    ),
    Pattern(
        id="ast.iax2.auth_failed",
        files=("chan_iax2.c",),
        family="asterisk",
        kind="auth_failure",
        trigger=" failed ",
        regex=re.compile(
            r"Host (?P<host>" + ADDR + r") failed (?:to authenticate as|MD5 authentication for) '(?P<user>[^']*)'"
        ),
        anchor="start",
        samples=(
            Sample(
                "[2012-02-13 17:53:59] NOTICE[1638] chan_iax2.c: Host 1.2.3.4 failed to authenticate as 'Fail2ban'",
                {"kind": "auth_failure", "src_ip": "1.2.3.4", "username": "Fail2ban"},
            ),
            Sample(
                "[2012-02-13 17:44:26] NOTICE[1638] chan_iax2.c: Host 1.2.3.4 failed MD5 authentication for 'Fail2ban' (e7df7cd2ca07f4f1ab415d457a6e1c13 != 53ac4bc41ee4ec77888ed4aa50677247)",
                {"kind": "auth_failure", "src_ip": "1.2.3.4", "username": "Fail2ban"},
            ),
        ),
    ),
    Pattern(
        id="ast.iax2.no_registration",
        files=("chan_iax2.c",),
        family="asterisk",
        kind="unknown_user",
        trigger="No registration for peer",
        regex=re.compile(r"No registration for peer '(?P<user>.*)' \(from (?P<host>" + ADDR + r")\)\s*$"),
        samples=(
            Sample(
                "[2012-02-13 17:39:20] NOTICE[1638] chan_iax2.c: No registration for peer 'Fail2ban' (from 1.2.3.4)",
                {"kind": "unknown_user", "src_ip": "1.2.3.4", "username": "Fail2ban"},
            ),
        ),
    ),
    Pattern(
        id="ast.chansip.hacking_attempt",
        files=("chan_sip.c",),
        family="asterisk",
        kind="auth_failure",
        trigger="hacking attempt",
        regex=re.compile(r"hacking attempt detected '(?P<host>" + ADDR + r")'\s*$"),
        anchor="start",
        samples=(
            Sample(
                "[2015-03-16 18:46:34] NOTICE[3453] chan_sip.c: hacking attempt detected '192.168.2.102'",
                {"kind": "auth_failure", "src_ip": "192.168.2.102"},
            ),
        ),
    ),
    Pattern(
        id="ast.dialplan.rejecting_unknown",
        family="asterisk",
        kind="call_rejected",
        trigger="Rejecting unknown",
        # FreePBX's from-sip-external context: Log(WARNING,Rejecting unknown SIP connection from ${CHANNEL(recvip)}).
        regex=re.compile(r"\"?Rejecting unknown SIP connection from (?P<host>" + ADDR + r")\"?\s*$"),
        anchor="start",
        samples=(
            Sample(
                '[2013-11-11 14:33:38] WARNING[8447][C-00000244] Ext. s: "Rejecting unknown SIP connection from 192.168.55.152:52126"',
                {"kind": "call_rejected", "src_ip": "192.168.55.152", "src_port": 52126},
            ),
            Sample(
                'Mar  1 15:35:53 pbx asterisk[2350]: WARNING[1195][C-00000b43]: Ext. s:6 in @ from-sip-external: "Rejecting unknown SIP connection from 2001:db8::1"',
                {"kind": "call_rejected", "src_ip": "2001:db8::1", "src_port": None},
            ),
        ),
    ),
    Pattern(
        id="ast.chansip.registered",
        files=("chan_sip.c",),
        family="asterisk",
        kind="auth_success",
        trigger="Registered SIP",
        # chan_sip prints the peer's address (received address with nat=force_rport, else the
        # Contact); consumers must not treat an auth_success address as trusted.
        regex=re.compile(_VERBOSE + r"Registered SIP '(?P<user>[^']*)' at (?P<host>" + ADDR + r")(?: port \d+)?\s*$"),
        anchor="start",
        samples=(
            Sample(
                "[2014-02-02 10:00:00] VERBOSE[2021] chan_sip.c:     -- Registered SIP '101' at 192.0.2.10:5060",
                {"kind": "auth_success", "src_ip": "192.0.2.10", "src_port": 5060, "username": "101"},
            ),
        ),
    ),
    Pattern(
        id="ast.pjsip.contact_added",
        files=("res_pjsip_registrar.c",),
        family="asterisk",
        kind="auth_success",
        trigger="Added contact",
        # The contact URI is the registrant's own text: kept as detail, never as src_ip.
        regex=re.compile(
            _VERBOSE + r"Added contact '(?P<contact>.*)' to AOR '(?P<user>[^']*)' with expiration of \d+ seconds\s*$"
        ),
        samples=(
            Sample(
                "[2021-07-07 07:07:07] VERBOSE[3301] res_pjsip_registrar.c: Added contact 'sip:101@192.0.2.10:5060;ob' to AOR '101' with expiration of 3600 seconds",
                {"kind": "auth_success", "src_ip": None, "username": "101"},
            ),
            Sample(
                # The [plain] formatter (Asterisk 16.? +): "[date] LEVEL[lwp][C-id]: file:line function: msg".
                "[2023-06-01 10:00:00.123] VERBOSE[2222][C-00000003]: res_pjsip_registrar.c:1133 register_aor_core:     -- Added contact 'sip:102@[2001:db8::10]:5060' to AOR '102' with expiration of 60 seconds",
                {"kind": "auth_success", "src_ip": None, "username": "102"},
            ),
        ),
    ),
)
