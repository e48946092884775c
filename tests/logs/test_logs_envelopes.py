"""Envelopes: every Asterisk formatter and transport, dates with and without year or zone, ANSI colours."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from sipwarden.sensors.logs import LineParser, detect_format
from sipwarden.sensors.logs.prefix import TimeContext, parse_leading_time, strip_ansi, unwrap_json

MSG = "Registration from '<sip:7@x>' failed for '192.0.2.7:5060' - Wrong password"


@pytest.mark.parametrize(
    ("line", "ts"),
    [
        (f"[2024-05-06 07:08:09] NOTICE[1] chan_sip.c: {MSG}", "2024-05-06T07:08:09"),
        (
            f"[2024-05-06 07:08:09.123] NOTICE[1][C-0000001a]: chan_sip.c:2 handle_request_register: {MSG}",
            "2024-05-06T07:08:09.123000",
        ),
        (f"[May  6 07:08:09] NOTICE[1]: chan_sip.c:2 handle_request_register: {MSG}", "2023-05-06T07:08:09"),
        (
            f"May  6 07:08:09 pbx asterisk[99]: NOTICE[1]: chan_sip.c:2 in handle_request_register: {MSG}",
            "2023-05-06T07:08:09",
        ),
        (
            f"2024-05-06T07:08:09.5+02:00 pbx asterisk[99]: NOTICE[1]: chan_sip.c:2 in handle_request_register: {MSG}",
            "2024-05-06T05:08:09.500000",
        ),
        (f"\x1b[1;33mNOTICE\x1b[0m[1]: \x1b[1;37mchan_sip.c\x1b[0m:\x1b[1;37m2\x1b[0m \x1b[1;37mh\x1b[0m: {MSG}", None),
        (
            f"[2024-05-06 07:08:09] #033[1;33mNOTICE#033[0m[1]: #033[1;37mchan_sip.c#033[0m:2 h: {MSG}",
            "2024-05-06T07:08:09",
        ),
        (f"NOTICE[566]: chan_sip.c:28926 handle_request_register: {MSG}", None),
    ],
)
def test_asterisk_envelopes(line: str, ts: str | None) -> None:
    ref = datetime(2023, 12, 1, tzinfo=UTC)
    result = LineParser("asterisk", time=TimeContext(reference=ref)).parse_line(line)
    assert result is not None and result.event is not None, line
    assert result.event.src_ip == "192.0.2.7"
    assert result.event.raw == line
    expected = datetime.fromisoformat(ts).replace(tzinfo=UTC) if ts else ref
    assert result.event.ts == expected


def test_asterisk_json_formatter() -> None:
    doc = {
        "hostname": "pbx",
        "timestamp": "2024-05-06 07:08:09.123",
        "identifiers": {"lwp": 4242, "callid": "[C-00000001]"},
        "logmsg": {
            "location": {"filename": "res_pjsip/pjsip_distributor.c", "function": "log_failed_request", "line": 676},
            "level": "NOTICE",
            "message": "Request 'REGISTER' from '<sip:8@x>' failed for '192.0.2.8:5060' (callid: c) - Failed to authenticate",
        },
    }
    line = json.dumps(doc)
    result = LineParser("asterisk").parse_line(line)
    assert result is not None and result.event is not None
    assert result.event.src_ip == "192.0.2.8" and result.event.kind == "auth_failure"
    assert result.event.raw == line
    assert result.event.ts == datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)


def test_unwrap_json_refuses_non_logs() -> None:
    ctx = TimeContext()
    assert unwrap_json("[1, 2]", ctx) is None
    assert unwrap_json("{broken", ctx) is None
    assert unwrap_json('{"logmsg": {"location": 5}}', ctx) is None
    assert unwrap_json('{"other": 1}', ctx) is None


def test_strip_ansi() -> None:
    assert strip_ansi("\x1b[1;31mred\x1b[0m #033[32mgreen#033[0m") == "red green"
    assert strip_ansi("plain") == "plain"


def test_year_rollover_and_explicit_zone() -> None:
    jan = TimeContext(reference=datetime(2024, 1, 2, tzinfo=UTC))
    assert parse_leading_time("Dec 31 23:59:59 host x: y", jan) == datetime(2023, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert parse_leading_time("Jan  1 00:00:01 host x: y", jan) == datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC)
    east = TimeContext(tz=timezone(timedelta(hours=3)), year_hint=2020)
    assert parse_leading_time("08-03 07:56:53.026292 [WARN]", east) == datetime(
        2020, 8, 3, 4, 56, 53, 26292, tzinfo=UTC
    )
    assert parse_leading_time("2020-02-30 00:00:00 bad", east) is None
    assert parse_leading_time("no date here", east) is None


def test_freeswitch_envelopes() -> None:
    tail = "SIP auth failure (REGISTER) on sofia profile 'internal' for [100@pbx] from ip 192.0.2.9"
    lines = [
        f"2024-05-06 07:08:09.123456 [WARNING] sofia_reg.c:1 {tail}",
        f"2024-05-06 07:08:09.123456 97.53% [WARNING] sofia_reg.c:1 {tail}",
        f"7f4de4bc-2a5e-4a3c-a7a4-0d1e2f3a4b5c 2024-05-06 07:08:09.123456 [WARNING] sofia_reg.c:1 {tail}",
        f"May  6 07:08:09 fs freeswitch[5]: 2024-05-06 07:08:09.123456 [WARNING] sofia_reg.c:1 {tail}",
    ]
    for line in lines:
        result = LineParser("freeswitch", time=TimeContext(year_hint=2024)).parse_line(line)
        assert result is not None and result.event is not None, line
        assert result.event.src_ip == "192.0.2.9" and result.event.username == "100"
        assert result.event.ts.replace(microsecond=0) == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def test_opensips_source_follows_the_format() -> None:
    line = (
        "Nov 25 04:00:01 sbc /usr/sbin/opensips[9]: WARNING:pike:pike_check_req: PIKE - BLOCKing ip 192.0.2.3, node=0x1"
    )
    for fmt, source in (("opensips", "opensips"), ("kamailio", "kamailio"), (None, "opensips")):
        result = LineParser(fmt).parse_line(line)
        assert result is not None and result.event is not None
        assert result.event.source == source


@pytest.mark.parametrize(
    ("lines", "fmt"),
    [
        (
            ["[2024-05-06 07:08:09] VERBOSE[1] pbx.c: -- Executing", "[2024-05-06 07:08:09] NOTICE[2] chan_sip.c: x"],
            "asterisk",
        ),
        (['{"hostname": "pbx", "logmsg": {"level": "NOTICE"}}'], "asterisk"),
        (["2024-05-06 07:08:09.123456 [NOTICE] switch_core.c:2 FreeSWITCH Started"], "freeswitch"),
        ([" 0(2211) INFO: <core> [main.c:2] main(): processes (-n): 8", " 1(2212) NOTICE: <script>: hi"], "kamailio"),
        (["Nov 25 04:00:00 sbc /usr/sbin/opensips[9]: INFO:core:main: using 32 Mb of shared memory"], "opensips"),
        (["hello", "world"], None),
    ],
)
def test_detect_format(lines: list[str], fmt: str | None) -> None:
    assert detect_format(lines) == fmt


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log format"):
        LineParser("cisco")
