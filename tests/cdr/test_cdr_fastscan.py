"""`scan_cdr_files`: the fast CSV path and the account-sharded workers give exactly the alerts of
`read_cdr_file` + `FraudGuard.feed`, and these alerts are pinned down explicitly."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cdrgen import GenCall, office_day, premium_burst, write_asterisk_csv, write_freeswitch_json

from sipwarden.fraud.alerts import FraudAlert
from sipwarden.fraud.guard import FraudGuard
from sipwarden.fraud.history import micros
from sipwarden.fraud.settings import FraudSettings
from sipwarden.sensors.cdr.fastcsv import MinuteTimes
from sipwarden.sensors.cdr.readers import parse_time
from sipwarden.sensors.cdr.scan import BadRecord, ScanTotals, read_cdr_file, scan_cdr_files


def regression_calls() -> list[GenCall]:
    """Two office days, then a night of premium calls (1004), test calls to GB (1007) and a flood (1010)."""
    calls = []
    for day, seed in ((23, 1), (24, 2)):
        calls += office_day(datetime(2026, 11, day), accounts=12, seed=seed)
    calls += premium_burst(datetime(2026, 11, 25, 3, 0), account="1004", calls=40)
    wed = datetime(2026, 11, 25, 10, 0)
    calls += [GenCall(wed + timedelta(minutes=3 * i), "1007", f"01144113496000{i}", 3, 4, "10.0.0.17", f"s{i}.{i}")
              for i in range(4)]  # fmt: skip
    calls += [GenCall(wed.replace(hour=11) + timedelta(seconds=i), "1010", f"21255501{i:02d}", 600, 2, "10.0.0.20",
                      f"c{i}.{i}") for i in range(8)]  # fmt: skip
    return calls


SL, LV, GW, XS = "23276", "371", "24588", "881"
BURST = (
    f"{SL}011524 {SL}566828 {LV}2033025 {GW}915031 {LV}2082433 {GW}301110 {GW}784005 {XS}660055000 {XS}688577000 "
    f"{LV}2006903 {XS}626685000 {XS}664378000 {LV}2078374 {SL}082040 {LV}2093909 {XS}600591000 {SL}633668 "
    f"{XS}611023000 {GW}195454 {XS}628858000 {XS}603371000 {LV}2088889 {GW}193995 {SL}955726 {LV}2062181 "
    f"{SL}054222 {GW}827685 {LV}2031510 {SL}904692 {GW}525449"
).split()
#: (account, reason, calls, estimated cost, first and last call start, destinations in first-call order)
EXPECTED = [
    ("1004", "high_risk_destination", 1, 2.6417, "03:00", "03:00", BURST[:1]),
    ("1004", "new_country", 1, 2.6417, "03:00", "03:00", BURST[:1]),
    ("1004", "after_hours", 1, 2.6417, "03:00", "03:00", BURST[:1]),
    ("1004", "concurrency", 12, 29.9583, "03:00", "03:07", BURST[:12]),
    ("1004", "burst", 20, 54.5417, "03:00", "03:13", BURST[:20]),
    ("1004", "budget", 30, 99.6417, "03:00", "03:13", BURST[:30]),
    ("1007", "new_country", 1, 0.025, "10:00", "10:00", ["441134960000"]),
    ("1007", "short_call_series", 4, 0.1, "10:00", "10:09", [f"44113496000{i}" for i in range(4)]),
    ("1010", "concurrency", 6, 0.6, "11:00", "11:00", [f"121255501{i:02d}" for i in range(6)]),
]


def summary(alerts: list[FraudAlert]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for alert in alerts:
        d = alert.to_dict()
        assert all(x["calls"] == 1 for x in d["destinations"])
        numbers = [x["number"].removeprefix("+") for x in d["destinations"]]
        out.append(
            (d["account"], d["reason"], d["calls"], d["estimated_cost"], d["first"][11:16], d["last"][11:16], numbers)
        )
    return out


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Written in end order, as Asterisk does: starts arrive out of order.
    return write_asterisk_csv(tmp_path_factory.mktemp("cdr") / "Master.csv", regression_calls())


def scanned(paths: list[Path], fmt: str = "asterisk-csv", workers: int = 1, **settings: object) -> tuple[list[FraudAlert], list[BadRecord], ScanTotals]:  # fmt: skip
    totals = ScanTotals()
    items = list(scan_cdr_files(paths, fmt, UTC, FraudSettings(**settings), workers=workers, totals=totals))  # type: ignore[arg-type]
    alerts = [i for i in items if isinstance(i, FraudAlert)]
    bad = [i for i in items if isinstance(i, BadRecord)]
    assert (totals.alerts, totals.bad) == (len(alerts), len(bad))
    return alerts, bad, totals


def fed(paths: list[Path], fmt: str = "asterisk-csv", **settings: object) -> tuple[list[FraudAlert], list[BadRecord], FraudGuard]:  # fmt: skip
    guard = FraudGuard(FraudSettings(**settings))  # type: ignore[arg-type]
    alerts: list[FraudAlert] = []
    bad: list[BadRecord] = []
    for path in paths:
        for item in read_cdr_file(path, fmt, UTC):
            if isinstance(item, BadRecord):
                bad.append(item)
            else:
                alerts += guard.feed(item)
    return alerts, bad, guard


def test_the_alerts_of_the_regression_file_are_exactly_these(master: Path) -> None:
    alerts, bad, guard = fed([master])
    assert summary(alerts) == EXPECTED
    assert (guard.records_seen, guard.external_calls, bad) == (637, 526, [])
    assert alerts[3].message == "9 simultaneous calls (usual peak 3)"
    assert alerts[4].message == "20 calls in 10 min (usual 0.3, limit 20)"
    assert alerts[5].message == "estimated spend 100.57 USD in 24 h crosses budget 100.00"


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_scan_gives_the_same_alerts_with_any_number_of_workers(master: Path, workers: int) -> None:
    alerts, bad, totals = scanned([master], workers=workers)
    assert summary(alerts) == EXPECTED
    assert (totals.records, totals.external_calls, bad) == (637, 526, [])
    reference, _, _ = fed([master])
    assert [a.to_dict() for a in alerts] == [a.to_dict() for a in reference]
    assert alerts == reference  # the very records, destinations and costs


UNUSUAL_ROWS = [
    '"","1001","x"',  # too few columns
    '"","1001","01123276111222","c","n","PJSIP/1001-1","","","","2026-13-01 00:00:00","","","5","0","NO ANSWER","","u1",""',
    '"","1001","01123276111223","c","n","PJSIP/1001-1","","","","2026-11-20 09:00:00","","2026-11-20 09:01:00","15000","70","ANSWERED","","u2",""',
    '"","1001","01123276111224","c","n","PJSIP/1001-1","","","","2026-11-20T09:00:07","","","007","5","ANSWERED","","u3",""',
    '"","1001","01123276111225","c","n","PJSIP/1001-1","","","","2026-11-20 09:00:08","","","7","\u00b2","ANSWERED","","u4",""',
    '"","1001","  ","c","n","PJSIP/1001-1","","","","2026-11-20 09:00:09","","","7","7","ANSWERED","","u5",""',
    '"","1001","01123276111226","c","n","PJSIP/1001-1","","","","1795000000","","0","7","7","ANSWERED","","u6",""',
    '"acct9","1001","01123276111227","c","n","PJSIP/1001-1","","","","2026-11-20 09:10:00.250000","","2026-11-20 09:10:00.1","7","7","ANSWERED","","u7",""',
    '"","1001","01123276111228","c","n","SIP/9-9","","","","2026-11-20 09:10:59","","2026-11-20 09:11:60","7","7","ANSWERED","","u8",""',
    '"","1001","01123276111229","c","n","SIP/9-9","","","","2026-11-20 09:11:00","","2026-11-20 09:12:00","7","7","ANSWERED","","u9",""',
    '"","1001"," 01123276111230 ","c","n","IAX2/9-9","","",""," 2026-11-20 09:11:30","","2026-11-20 09:12:00 ","\u0665","7","ANSWERED","","u10",""',
    '"","1001","01123276111231","c","n","PJSIP/1001-1","","","","2026-11-20 09:12:00","","","7","7"',  # short row
    '"","1001","01123276111232","c","n","PJSIP/1001-1","","","","2026-11-20 09:13:00+01:00","","","7","7","ANSWERED","","u12",""',
    '"unterminated',
]


def test_unusual_rows_are_read_exactly_as_the_full_parser_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "Master.csv"
    path.write_text("\n".join(UNUSUAL_ROWS) + "\n")
    # No cooldown: every risky call alerts, so every readable record is compared.
    reference, reference_bad, guard = fed([path], alert_cooldown_seconds=0)
    for workers in (1, 2):
        alerts, bad, totals = scanned([path], workers=workers, alert_cooldown_seconds=0)
        assert alerts == reference
        assert bad == reference_bad
        assert (totals.records, totals.external_calls) == (guard.records_seen, guard.external_calls)
    assert len(reference_bad) == 6 and len(reference) >= 6
    problems = [b.problem for b in reference_bad]
    assert "bad billsec '²'" in problems and any("not CSV" in p or "columns" in p for p in problems)


def test_several_files_and_formats_are_one_stream(tmp_path: Path) -> None:
    calls = regression_calls()
    first = write_asterisk_csv(tmp_path / "a.csv", [c for c in calls if c.start.day < 25])
    second = write_asterisk_csv(tmp_path / "b.csv", [c for c in calls if c.start.day == 25])
    alerts, bad, totals = scanned([first, second], workers=2)
    assert summary(alerts) == EXPECTED and not bad and totals.records == 637
    json_dir = tmp_path / "json"
    json_dir.mkdir()
    ndjson = tmp_path / "cdr.ndjson"
    docs = [json.loads(p.read_text()) for p in write_freeswitch_json(json_dir, calls)]
    ndjson.write_text("\n".join(json.dumps(d) for d in docs) + "\n{broken\n")
    reference, reference_bad, _ = fed([ndjson], "freeswitch-json")
    for workers in (1, 2):
        alerts, bad, _ = scanned([ndjson], "freeswitch-json", workers=workers)
        assert alerts == reference and bad == reference_bad and len(bad) == 1
    assert {a.reason for a in reference} == {a[1] for a in EXPECTED}


@pytest.mark.parametrize(("zone", "minutes"), [
    ("America/New_York", ["2026-03-08 01:59", "2026-03-08 02:30", "2026-03-08 03:00", "2026-11-01 01:30"]),
    ("Europe/Paris", ["2026-03-29 02:15", "2026-10-25 02:59"]),
    ("Africa/Monrovia", ["1972-01-06 23:59", "1972-01-07 00:00", "1960-06-01 12:00"]),  # -0:44:30 until 1972
])  # fmt: skip
def test_minute_cache_matches_parse_time_around_zone_changes(zone: str, minutes: list[str]) -> None:
    tz = ZoneInfo(zone)
    times = MinuteTimes(tz)
    for minute in minutes:
        base = times.start(minute)
        for second in range(60):
            text = f"{minute}:{second:02d}"
            exact = parse_time(text, tz)
            assert exact is not None
            if base is not None:
                assert base + second * 1_000_000 == micros(exact), text
    assert times.start("2026-11-01 1:30") is None  # not the usual shape: the full parser decides
    assert times.start("2026-11-01 01:3+") is None


def test_a_premium_night_is_caught_when_accounts_are_spread_over_workers(tmp_path: Path) -> None:
    day = office_day(datetime(2026, 11, 24), accounts=30)
    attack = premium_burst(datetime(2026, 11, 25, 2, 0), account="1017", calls=10)
    path = write_asterisk_csv(tmp_path / "Master.csv", day + attack)
    alerts, _, _ = scanned([path], workers=4)
    assert {a.account for a in alerts} == {"1017"}
    assert alerts[0].reason == "high_risk_destination" and alerts[0].ts == datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
