"""Asterisk's security log (res_security_log.c): `SecurityEvent="...",EventTV="...",...` lines.

Asterisk writes the fields in a fixed order (security_events.c) and does not escape quotes inside
values. AccountID and SessionID (the SIP Call-ID for PJSIP) come before the addresses and are the
caller's text; some events also carry caller text after them (Response, ReceivedHash,
RequestParams). A caller can therefore write a whole fake `LocalAddress=...,RemoteAddress=...`
pair into those fields. The rule (tested with crafted lines):

* events whose trailing fields are all written by Asterisk: the last address pair is the real one;
* events with caller text after the addresses: the real pair is the one followed by the event's
  first trailing key; several distinct candidates make the line ambiguous (`malformed`).
"""

from __future__ import annotations

import re
from typing import Any, Final

from sipwarden.events import EventKind
from sipwarden.sensors.logs.patterns import Found, Pattern, Sample, parse_host

# Failures: event name -> kind. Severity="Error" events not listed here become `probe`.
FAILURES: Final[dict[str, EventKind]] = {
    "InvalidAccountID": "unknown_user",
    "ChallengeResponseFailed": "auth_failure",
    "InvalidPassword": "auth_failure",
    "AuthMethodNotAllowed": "auth_failure",
    "FailedACL": "acl_denied",
    "UnexpectedAddress": "acl_denied",
    "InvalidTransport": "acl_denied",
    "RequestNotAllowed": "probe",
    "RequestNotSupported": "probe",
    "RequestBadFormat": "probe",
    "SessionLimit": "probe",
    "MemoryLimit": "probe",
    "LoadAverageLimit": "probe",
}
#: Informational events that carry a verdict worth an Event.
SUCCESSES: Final = frozenset({"SuccessfulAuth"})
#: Informational events recognised but not turned into Events (every legitimate call is challenged).
INFORMATIONAL: Final = frozenset({"ChallengeSent"})

# The first field Asterisk writes after RemoteAddress when that field holds caller text.
CALLER_TEXT_AFTER: Final = {
    "InvalidPassword": "Challenge",
    "ChallengeResponseFailed": "Challenge",
    "RequestNotAllowed": "RequestType",
    "RequestNotSupported": "RequestType",
    "RequestBadFormat": "RequestType",
    "AuthMethodNotAllowed": "AuthMethod",
}

# IPV4|IPV6 / [UDP|TCP|TLS|WS|WSS /] address / port; the transport is absent in some versions.
_ADDR_VALUE = r"IPV[46]/(?:(?:UDP|TCP|TLS|WSS|WS|SCTP)/)?[0-9a-fA-F.:]{2,45}/\d{1,5}"
_PAIR: Final = re.compile(
    r'(?<="),LocalAddress="(?P<local>' + _ADDR_VALUE + r')",RemoteAddress="(?P<remote>' + _ADDR_VALUE + r')"'
    r'(?=(?P<next>,\w+="|\s*$))'
)
_ADDR_PARTS: Final = re.compile(r"IPV[46]/(?:(?P<transport>[A-Z]+)/)?(?P<ip>[0-9a-fA-F.:]+)/(?P<port>\d+)")

REGEX: Final = re.compile(
    r'SecurityEvent="(?P<event>\w+)",EventTV="(?P<tv>[^"]*)",Severity="(?P<severity>\w+)",'
    r'Service="(?P<service>[^"]*)",EventVersion="\d+",(?:AccountID="(?P<rest>.*))?'
)


def _address(value: str) -> tuple[str, int | None, str | None] | None:
    m = _ADDR_PARTS.fullmatch(value)
    if m is None:
        return None
    parsed = parse_host(m.group("ip"))
    if parsed is None:
        return None
    transport = m.group("transport")
    return parsed[0], int(m.group("port")), transport.lower() if transport else None


def _pick_pair(event: str, rest: str) -> tuple[re.Match[str] | None, str | None]:
    pairs = list(_PAIR.finditer(rest))
    if not pairs:
        return None, None
    first_key = CALLER_TEXT_AFTER.get(event)
    if first_key is None:
        return pairs[-1], None
    fitting = [p for p in pairs if p.group("next") == f',{first_key}="' or not p.group("next").startswith(",")]
    remotes = {(_address(p.group("remote")) or ("?",))[0] for p in fitting}
    if len(remotes) == 1:
        return fitting[-1], None
    if not fitting:
        return None, None
    return None, "ambiguous address: caller text repeats the RemoteAddress field"


def extract(pattern: Pattern, m: re.Match[str], message: str) -> Found:
    """Read one security event: kind from the event name, address by the rule above."""
    event, severity = m.group("event"), m.group("severity")
    if event in INFORMATIONAL:
        return Found(None, {}, reason=event)
    kind: EventKind
    if event in SUCCESSES:
        kind = "auth_success"
    elif event in FAILURES:
        kind = FAILURES[event]
    elif severity == "Error":
        kind = "probe"
    else:
        return Found(None, {}, reason=event)
    detail: dict[str, Any] = {"event": event, "service": m.group("service"), "event_tv": m.group("tv")}
    fields: dict[str, Any] = {}
    rest = m.group("rest") or ""
    account, sep, _ = rest.partition('",SessionID="')
    if sep and account and account != "<unknown>":
        fields["username"] = account
    pair, error = _pick_pair(event, rest)
    if pair is not None:
        remote = _address(pair.group("remote"))
        if remote is None:
            error = "not an IP address in RemoteAddress"
        else:
            fields["src_ip"], fields["src_port"], transport = remote
            if transport:
                fields["transport"] = transport
        local = _address(pair.group("local"))
        if local is not None:
            fields["dst_ip"], fields["dst_port"] = local[0], local[1]
    elif error is None:
        error = "no RemoteAddress field"
    return Found(kind, fields, reason=event, ts_text=m.group("tv"), error=error, detail=detail)


_P = '[2015-05-25 07:19:19] SECURITY[6988] res_security_log.c: SecurityEvent="{}",EventTV="{}",Severity="{}",Service="{}",EventVersion="1",AccountID="{}",SessionID="{}",LocalAddress="{}",RemoteAddress="{}"{}'

PATTERNS: Final = (
    Pattern(
        id="ast.security",
        files=("res_security_log.c",),
        family="asterisk",
        kind="probe",
        trigger="SecurityEvent=",
        regex=REGEX,
        extract=extract,
        samples=(
            Sample(
                '[2013-05-13 07:10:53] SECURITY[1204] res_security_log.c: SecurityEvent="InvalidAccountID",EventTV="1368439853-500975",Severity="Error",Service="SIP",EventVersion="1",AccountID="00972599580679",SessionID="0x7f8ecc0421f8",LocalAddress="IPV4/UDP/1.2.3.4/5060",RemoteAddress="IPV4/UDP/1.2.3.4/5070"',
                {
                    "kind": "unknown_user",
                    "src_ip": "1.2.3.4",
                    "src_port": 5070,
                    "username": "00972599580679",
                    "ts": "2013-05-13T10:10:53.500975+00:00",
                },
            ),
            Sample(
                '[2015-05-24 08:42:16] SECURITY[4583] res_security_log.c: SecurityEvent="ChallengeResponseFailed",EventTV="2015-05-24T08:42:16.296+0300",Severity="Error",Service="PJSIP",EventVersion="1",AccountID="<unknown>",SessionID="17a483d-eb8cc0-556164ab@1.2.3.4",LocalAddress="IPV4/UDP/1.2.3.4/5060",RemoteAddress="IPV4/UDP/10.250.251.252/5060",Challenge="1432446136/6d16ccf29ff59d423c6d548af00bf9b4",Response="849dfcf133d8156f77ef11a9194119df",ExpectedResponse=""',
                {
                    "kind": "auth_failure",
                    "src_ip": "10.250.251.252",
                    "username": None,
                    "transport": "udp",
                    "ts": "2015-05-24T05:42:16.296000+00:00",
                },
            ),
            Sample(
                _P.format(
                    "InvalidPassword",
                    "2015-05-25T07:19:19.015+0300",
                    "Error",
                    "SIP",
                    "972592891005",
                    "0x88aab6c",
                    "IPV6/TLS/2001:db8::1/5061",
                    "IPV6/TLS/2001:db8::66/5084",
                    ',Challenge="41d26de5",ReceivedChallenge="41d26de5",ReceivedHash="7a6a"',
                ),
                {"kind": "auth_failure", "src_ip": "2001:db8::66", "src_port": 5084, "transport": "tls"},
            ),
            Sample(
                _P.format(
                    "FailedACL",
                    "2016-05-15T22:53:00.203+0300",
                    "Error",
                    "AMI",
                    "admin",
                    "0x7fb5",
                    "IPV4/TCP/0.0.0.0/5038",
                    "IPV4/TCP/192.0.2.4/62389",
                    ',SessionTV="1970-01-01T03:00:00.000+0300"',
                ),
                {"kind": "acl_denied", "src_ip": "192.0.2.4", "username": "admin"},
            ),
            Sample(
                # A SessionID carrying a fake address pair: the last pair (Asterisk's) wins.
                _P.format(
                    "InvalidAccountID",
                    "2015-05-25T07:21:48.275+0300",
                    "Error",
                    "PJSIP",
                    "7000",
                    '",LocalAddress="IPV4/UDP/127.0.0.1/5060",RemoteAddress="IPV4/UDP/5.6.7.8/1111',
                    "IPV4/UDP/1.2.3.4/5060",
                    "IPV4/UDP/10.250.251.252/5061",
                    "",
                ),
                {"kind": "unknown_user", "src_ip": "10.250.251.252"},
            ),
            Sample(
                # A Response carrying a fake pair after the real one: the pair followed by Challenge wins.
                _P.format(
                    "ChallengeResponseFailed",
                    "2015-05-25T07:21:48.275+0300",
                    "Error",
                    "PJSIP",
                    "7000",
                    "abc",
                    "IPV4/UDP/1.2.3.4/5060",
                    "IPV4/UDP/203.0.113.8/5061",
                    ',Challenge="1/2",Response="x",LocalAddress="IPV4/UDP/1.2.3.4/5060",RemoteAddress="IPV4/UDP/6.6.6.6/1",ExpectedResponse=""',
                ),
                {"kind": "auth_failure", "src_ip": "203.0.113.8"},
            ),
            Sample(
                _P.format(
                    "SuccessfulAuth",
                    "2020-01-01T00:00:00.000+0000",
                    "Informational",
                    "PJSIP",
                    "101",
                    "cid",
                    "IPV4/UDP/192.0.2.1/5060",
                    "IPV4/UDP/192.0.2.50/5060",
                    ',UsingPassword="1"',
                ),
                {"kind": "auth_success", "src_ip": "192.0.2.50", "username": "101"},
            ),
            Sample(
                _P.format(
                    "ChallengeSent",
                    "2020-01-01T00:00:00.000+0000",
                    "Informational",
                    "PJSIP",
                    "101",
                    "cid",
                    "IPV4/UDP/192.0.2.1/5060",
                    "IPV4/UDP/192.0.2.50/5060",
                    ',Challenge="abc"',
                ),
                {"kind": None},
            ),
            Sample(
                _P.format(
                    "RequestNotAllowed",
                    "2020-01-01T00:00:00.000+0000",
                    "Error",
                    "SIP",
                    "",
                    "cid",
                    "IPV4/192.0.2.1/5060",
                    "IPV4/192.0.2.51/5060",
                    ',RequestType="INVITE",RequestParams="x"',
                ),
                {"kind": "probe", "src_ip": "192.0.2.51", "transport": None},
            ),
            Sample(
                _P.format(
                    "SessionLimit",
                    "2020-01-01T00:00:00.000+0000",
                    "Error",
                    "SIP",
                    "",
                    "cid",
                    "IPV4/UDP/192.0.2.1/5060",
                    "IPV4/UDP/192.0.2.52/5060",
                    "",
                ),
                {"kind": "probe", "src_ip": "192.0.2.52"},
            ),
        ),
    ),
)
