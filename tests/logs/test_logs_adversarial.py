"""Attacker-controlled text (From, Call-ID, User-Agent, SessionID, dialled number) never picks the ban target."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipwarden.sensors.logs import LineParser, parse_lines

INJECT = "6.6.6.6"
REAL = "198.51.100.20"

# (line with {x} where the caller's text goes, the address the PBX really wrote or None)
TEMPLATES = [
    (
        "[2024-01-01 00:00:00] NOTICE[1] chan_sip.c: Registration from '{x}' failed for '"
        + REAL
        + ":5060' - Wrong password",
        REAL,
    ),
    (
        "[2024-01-01 00:00:00] NOTICE[1] chan_sip.c: Call from '' ("
        + REAL
        + ":5060) to extension '{x}' rejected because extension not found in context 'default'.",
        REAL,
    ),
    (
        "[2024-01-01 00:00:00] NOTICE[1]: res_pjsip_session.c:1 new_invite: Call from 'anon' (UDP:"
        + REAL
        + ":5060) to extension '{x}' rejected because extension not found in context 'default'.",
        REAL,
    ),
    (
        "[2024-01-01 00:00:00] NOTICE[1] res_pjsip/pjsip_distributor.c: Request 'REGISTER' from '{x}' failed for '"
        + REAL
        + ":5060' (callid: abc) - Failed to authenticate",
        REAL,
    ),
    (
        "[2024-01-01 00:00:00] NOTICE[1] res_pjsip/pjsip_distributor.c: Request 'REGISTER' from '<sip:1@x>' failed for '"
        + REAL
        + ":5060' (callid: {x}) - Failed to authenticate",
        REAL,
    ),
    ("[2024-01-01 00:00:00] NOTICE[1] manager.c: " + REAL + " failed to authenticate as '{x}'", REAL),
    ("[2024-01-01 00:00:00] NOTICE[1] chan_iax2.c: No registration for peer '{x}' (from " + REAL + ")", REAL),
    (
        '[2024-01-01 00:00:00] SECURITY[1] res_security_log.c: SecurityEvent="InvalidAccountID",EventTV="1704067200-0",Severity="Error",Service="SIP",EventVersion="1",AccountID="{x}",SessionID="{x}",LocalAddress="IPV4/UDP/192.0.2.1/5060",RemoteAddress="IPV4/UDP/'
        + REAL
        + '/5060"',
        REAL,
    ),
    (
        "2024-01-01 00:00:00.000000 [WARNING] sofia_reg.c:1 SIP auth failure (REGISTER) on sofia profile 'internal' for [{x}@pbx] from ip "
        + REAL,
        REAL,
    ),
    ("2024-01-01 00:00:00.000000 [WARNING] sofia_reg.c:1 Can't find user [{x}@pbx] from " + REAL, REAL),
    (
        "Jan  1 00:00:00 sbc kamailio[1]: NOTICE: <script>: sipwarden: auth failed src="
        + REAL
        + " port=5060 proto=udp method=REGISTER user='{x}' ua='{x}'",
        REAL,
    ),
    (
        "Jan  1 00:00:00 sbc kamailio[1]: ALERT: <script>: ALERT: pike blocking INVITE from sip:{x}@y (IP:"
        + REAL
        + ":5060)",
        REAL,
    ),
]

PAYLOADS = [
    f'"{INJECT}" <sip:x@{INJECT}>',
    f"x' failed for '{INJECT}' - Wrong password",
    f"(UDP:{INJECT}:5060)",
    f"1' ({INJECT}:5060) to extension '2",
    f"x' failed for '{INJECT}:5060' (callid: y",
    f'",LocalAddress="IPV4/UDP/1.1.1.1/5060",RemoteAddress="IPV4/UDP/{INJECT}/5060',
    f"x] from ip {INJECT}",
    f"{INJECT} failed to authenticate as 'root'",
    f"x src={INJECT} port=1 proto=udp",
    f"x (IP:{INJECT}:1)",
    "evil.example.com",
    "\x1b[31m" + INJECT,
]


@pytest.mark.parametrize(("template", "real"), TEMPLATES)
@pytest.mark.parametrize("payload", PAYLOADS)
def test_injected_address_never_becomes_the_source(template: str, real: str, payload: str) -> None:
    line = template.replace("{x}", payload)
    result = LineParser(None).parse_line(line)
    assert result is not None and result.event is not None, line
    event = result.event
    assert event.src_ip != INJECT, line
    # Either the real address, or no address at all (ambiguous lines become `malformed`).
    assert event.src_ip == real or (event.kind == "malformed" and event.src_ip is None), (line, event)


def test_hostname_in_address_slot_gives_no_event_and_no_lookup() -> None:
    line = "[2024-01-01 00:00:00] NOTICE[1] chan_sip.c: Registration from '<sip:1@x>' failed for 'evil.example.com' - Wrong password"
    result = LineParser("asterisk", report_missed=True).parse_line(line)
    assert result is not None and result.event is None and result.pattern_id is None


def test_out_of_range_addresses_are_malformed_not_bans() -> None:
    for bad in ("999.1.1.1", "1.2.3.4:99999", "[2001:db8::1"):
        line = f"[2024-01-01 00:00:00] NOTICE[1] chan_sip.c: hacking attempt detected '{bad}'"
        result = LineParser("asterisk").parse_line(line)
        assert result is not None and result.event is not None
        assert result.event.kind == "malformed" and result.event.src_ip is None
        assert "not an IP address" in result.event.detail["error"]


def test_message_must_start_where_the_envelope_ends() -> None:
    # A User-Agent logged by some other message cannot pose as an AMI failure.
    line = "[2024-01-01 00:00:00] NOTICE[1] chan_sip.c: Unknown UA '6.6.6.6 failed to authenticate as 'x''"
    assert LineParser("asterisk").parse_line(line) is None


ALPHABET = st.characters(codec="utf-8", exclude_categories=("Cs",))


@settings(max_examples=300, deadline=None)
@given(payload=st.text(ALPHABET, max_size=80), which=st.integers(0, len(TEMPLATES) - 1))
def test_any_caller_text_yields_the_real_address_or_none(payload: str, which: int) -> None:
    template, real = TEMPLATES[which]
    line = template.replace("{x}", payload.replace("\n", " "))
    for result in parse_lines([line], "auto"):
        event = result.event
        if event is None or event.src_ip is None:
            continue
        assert ipaddress.ip_address(event.src_ip)
        assert event.src_ip == real, (line, event)


@settings(max_examples=300, deadline=None)
@given(line=st.text(ALPHABET, max_size=300))
def test_garbage_never_raises(line: str) -> None:
    for fmt in (None, "asterisk", "freeswitch", "kamailio", "opensips"):
        LineParser(fmt, report_missed=True).parse_line(line)
