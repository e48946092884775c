"""CDR formats: Asterisk cdr-csv and cdr_custom, FreeSWITCH CSV and JSON; detection; bad records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cdrgen import (
    GenCall,
    premium_burst,
    write_asterisk_csv,
    write_custom_csv,
    write_freeswitch_csv,
    write_freeswitch_json,
)

from sipwarden.fraud.records import CallRecord
from sipwarden.sensors.cdr.readers import (
    ASTERISK_COLUMNS,
    CdrFormatError,
    account_of,
    check_columns,
    detect_format,
    parse_csv_line,
    parse_json_cdr,
)
from sipwarden.sensors.cdr.scan import BadRecord, read_cdr_file, sniff

CALLS = premium_burst(datetime(2026, 11, 26, 3, 0), calls=5, src_ip="203.0.113.50")
NY = ZoneInfo("America/New_York")

# A Master.csv line as Asterisk 18 writes it (loguniqueid and loguserfield on).
ASTERISK_LINE = (
    '"","1004","01123276123456","from-internal","""Bob"" <1004>","PJSIP/1004-0000002a",'
    '"PJSIP/trunk-0000002b","Dial","PJSIP/01123276123456@trunk,60","2026-11-26 03:00:00",'
    '"2026-11-26 03:00:04","2026-11-26 03:05:04",304,300,"ANSWERED","DOCUMENTATION","1764126000.42",""'
)


def records(items: list[CallRecord | BadRecord]) -> list[CallRecord]:
    assert not [i for i in items if isinstance(i, BadRecord)]
    return [i for i in items if isinstance(i, CallRecord)]


def test_asterisk_master_csv_line() -> None:
    r = parse_csv_line(ASTERISK_LINE, check_columns(ASTERISK_COLUMNS), UTC, "Master.csv:1")
    assert r.account == "1004"  # no accountcode: the peer of the channel
    assert r.dst == "01123276123456"
    assert r.start == datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    assert (r.duration, r.billsec, r.answered) == (304, 300, True)
    assert r.uniqueid == "1764126000.42" and r.src_ip is None


def test_local_times_are_converted_with_the_configured_zone() -> None:
    r = parse_csv_line(ASTERISK_LINE, ASTERISK_COLUMNS, NY)
    assert r.start == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("writer", "fmt"), [
    (write_asterisk_csv, "asterisk-csv"),
    (write_freeswitch_csv, "freeswitch-csv"),
])  # fmt: skip
def test_csv_formats_round_trip_and_are_detected(tmp_path: Path, writer: object, fmt: str) -> None:
    path = writer(tmp_path / "Master.csv", CALLS)  # type: ignore[operator]
    assert sniff(path) == fmt
    got = records(list(read_cdr_file(path, "auto", UTC)))
    assert [r.dst for r in got] == [c.dst for c in sorted(CALLS, key=lambda c: c.end)]
    assert all(r.account == "1004" for r in got)
    assert got[0].start == CALLS[0].start.replace(tzinfo=UTC)
    assert got[0].billsec == CALLS[0].billsec
    assert got[0].origin.endswith("Master.csv:1")


def test_custom_columns_carry_the_source_address(tmp_path: Path) -> None:
    columns = ["start", "accountcode", "src", "dst", "duration", "billsec", "disposition", "uniqueid", "src_ip"]
    path = write_custom_csv(tmp_path / "Master.csv", CALLS, columns)
    got = records(list(read_cdr_file(path, "asterisk-custom", UTC, columns)))
    assert len(got) == 5 and {r.src_ip for r in got} == {"203.0.113.50"}


def test_freeswitch_json_files_and_ndjson(tmp_path: Path) -> None:
    paths = write_freeswitch_json(tmp_path, CALLS)
    assert sniff(paths[0]) == "freeswitch-json"
    by_end = [c.dst for c in sorted(CALLS, key=lambda c: c.end)]
    got = [r for p in paths for r in records(list(read_cdr_file(p, "auto", UTC)))]
    assert [r.dst for r in got] == by_end
    assert got[0].src_ip == "203.0.113.50" and got[0].account == "1004"
    assert min(r.start for r in got) == CALLS[0].start.replace(tzinfo=UTC)  # from start_uepoch
    # Many documents in one file (NDJSON) read the same.
    nd = tmp_path / "all.json"
    nd.write_text("\n".join(p.read_text().replace("\n", "") for p in paths))
    assert [r.dst for r in records(list(read_cdr_file(nd, "freeswitch-json", UTC)))] == by_end


def test_json_values_are_url_decoded() -> None:
    doc = {"variables": {"start_epoch": "1764126000", "destination_number": "%2B23276123456", "user_name": "1004",
                         "sip_network_ip": "203.0.113.7", "billsec": "30"}}  # fmt: skip
    r = parse_json_cdr(doc, UTC)
    assert r.dst == "+23276123456" and r.src_ip == "203.0.113.7" and r.billsec == 30


@pytest.mark.parametrize("line", [
    '"","1004","0112327","ctx","","","","","","not a time","","",1,1,"ANSWERED","DOCUMENTATION"',
    '"","1004","","ctx","","","","","","2026-11-26 03:00:00","","",1,1,"ANSWERED","DOCUMENTATION"',
    '"","1004","0112327","ctx","","","","","","2026-11-26 03:00:00","","",-5,1,"ANSWERED","DOCUMENTATION"',
    '"","1004","0112327","ctx","","","","","","2026-11-26 03:00:00","","",99999999,1,"ANSWERED","X"',
    '"only","three","columns"',
    "x" * 20_000,
])  # fmt: skip
def test_bad_records_are_errors_not_crashes(line: str) -> None:
    with pytest.raises(CdrFormatError):
        parse_csv_line(line, ASTERISK_COLUMNS, UTC)


def test_a_file_with_bad_lines_loses_only_those(tmp_path: Path) -> None:
    path = write_asterisk_csv(tmp_path / "Master.csv", CALLS)
    lines = path.read_text().splitlines()
    lines.insert(2, '"garbage","\x00",,,')
    lines.insert(4, "")
    path.write_text("\n".join(lines) + "\n")
    items = list(read_cdr_file(path, "asterisk-csv", UTC))
    assert len([i for i in items if isinstance(i, CallRecord)]) == 5
    bad = [i for i in items if isinstance(i, BadRecord)]
    assert len(bad) == 1 and bad[0].origin.endswith(":3")


def test_broken_json_document_is_skipped(tmp_path: Path) -> None:
    good = json.dumps({"variables": {"start_epoch": "1764126000", "destination_number": "0113712345678"}})
    path = tmp_path / "cdr.json"
    path.write_text(good + '\n{"variables": {broken\n' + good + "\n[1, 2]\n")
    items = list(read_cdr_file(path, "freeswitch-json", UTC))
    assert len([i for i in items if isinstance(i, CallRecord)]) == 2
    assert len([i for i in items if isinstance(i, BadRecord)]) == 2


def test_detection_refuses_unknown_files() -> None:
    with pytest.raises(CdrFormatError):
        detect_format("a,b,c\n")
    with pytest.raises(CdrFormatError):
        detect_format("")


def test_column_mappings_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown CDR column"):
        check_columns(["start", "dst", "nosuch"])
    with pytest.raises(ValueError, match="needs start"):
        check_columns(["dst"])


@pytest.mark.parametrize(("accountcode", "channel", "src", "account"), [
    ("acme", "PJSIP/1001-00000001", "1001", "acme"),
    ("", "SIP/trunk-out-0000001", "555", "trunk-out"),
    ("", "IAX2/2001-1234", "", "2001"),
    ("", "Local/100@ctx-0001;2", "100", "100"),
    ("", "", "", "?"),
])  # fmt: skip
def test_account_of(accountcode: str, channel: str, src: str, account: str) -> None:
    assert account_of(accountcode, channel, src) == account


def test_gencall_is_in_end_order_in_master_csv(tmp_path: Path) -> None:
    calls = [GenCall(datetime(2026, 11, 26, 3, 0), "1", "0113712345678", 600),
             GenCall(datetime(2026, 11, 26, 3, 1), "1", "0113712345679", 10)]  # fmt: skip
    got = records(list(read_cdr_file(write_asterisk_csv(tmp_path / "m.csv", calls), "auto", UTC)))
    assert [r.dst for r in got] == ["0113712345679", "0113712345678"]
