"""A deferring guard (`FraudGuard(defer=True)`, what `cdr scan` uses) against the plain one.

Every rule's `quiet` must be conservative: quiet means its check finds nothing. The deferring scan
must give the very alerts of the plain guard, evidence records included (those of deferred calls
are read again from the file), on streams built to sit at the edges of the screens: bursts one
call short of the floor, concurrency one call short, spend a cent under the budget, calls written
far out of order.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cdrgen import GenCall, national_number, office_day, premium_burst, write_asterisk_csv
from test_cdr_screened import SETTINGS, random_calls

from sipwarden.fraud import guard as guard_module
from sipwarden.fraud.alerts import FraudAlert
from sipwarden.fraud.guard import FraudGuard
from sipwarden.fraud.history import AccountHistory, SeenCall
from sipwarden.fraud.rules import Finding, FraudRule, default_rules
from sipwarden.fraud.settings import FraudSettings
from sipwarden.intel.risk import RiskClass
from sipwarden.sensors.cdr import rowlines
from sipwarden.sensors.cdr.fastcsv import scan_csv
from sipwarden.sensors.cdr.readers import ASTERISK_COLUMNS
from sipwarden.sensors.cdr.rowlines import RowsByLine
from sipwarden.sensors.cdr.scan import BadRecord, read_cdr_file, scan_cdr_files

#: National calls cost 1.0 a minute here, so budgets are crossed by ordinary calls too.
EDGES = SETTINGS.model_copy(update={"rates": {"1": 1.0}, "budget": 40.0, "burst_min_calls": 8})


class Contract:
    """A rule that asks its own `quiet` before every check and holds it to its promise."""

    def __init__(self, rule: FraudRule, broken: list[str]) -> None:
        self.rule, self.broken = rule, broken
        self.reason, self.severity, self.tail = rule.reason, rule.severity, rule.tail

    def concerns(self, country: str | None, international: bool, risk: RiskClass) -> bool:
        return self.rule.concerns(country, international, risk)

    def quiet(self, call: SeenCall, history: AccountHistory) -> bool:
        return False

    def check(self, call: SeenCall, history: AccountHistory) -> Finding | None:
        quiet = self.rule.quiet(call, history)
        finding = self.rule.check(call, history)
        if quiet and finding is not None:
            self.broken.append(f"{self.reason}: {finding.message}")
        return finding


def edge_calls(seed: int) -> list[GenCall]:
    """National calls of four accounts in clumps around the burst, concurrency and budget edges."""
    rng = random.Random(seed)
    t = datetime(2026, 11, 23, 7, 0)
    calls = []
    for i in range(700):
        t += timedelta(seconds=rng.choice([1, 30, 120, 600, 1800, 7200]))
        account = str(2001 + rng.randrange(4))
        clump = rng.random() < 0.08
        for k in range(rng.choice([6, 7, 8, 9]) if clump else 1):
            # Overlapping clumps, calls that end before they start or last no time, late hangups.
            start = t + timedelta(seconds=k * rng.choice([0, 1, 40, 75]) - rng.choice([0, 0, 0, 90, 700, 5000]))
            billsec = rng.choice([0, 5, 60, 300, 900, 1500])
            calls.append(GenCall(start, account, national_number(rng), billsec, rng.choice([0, 2, 5]),
                                 f"10.0.1.{rng.randrange(9)}", f"e{i}.{k}"))  # fmt: skip
    return calls


def plain(path: Path, settings: FraudSettings) -> list[FraudAlert]:
    guard = FraudGuard(settings)
    return [a for r in read_cdr_file(path, "asterisk-csv", UTC) if not isinstance(r, BadRecord) for a in guard.feed(r)]


@pytest.mark.parametrize("seed", range(6))
def test_every_quiet_keeps_its_promise(tmp_path: Path, seed: int) -> None:
    broken: list[str] = []
    for settings, calls in ((SETTINGS, random_calls(seed)), (EDGES, edge_calls(seed))):
        path = write_asterisk_csv(tmp_path / f"{seed}.csv", calls)
        guard = FraudGuard(settings, rules=[Contract(r, broken) for r in default_rules(settings)])
        alerts = [a for r in read_cdr_file(path, "asterisk-csv", UTC) if not isinstance(r, BadRecord)
                  for a in guard.feed(r)]  # fmt: skip
        assert alerts == plain(path, settings)
    assert broken == []


@pytest.mark.parametrize("seed", range(6))
def test_deferring_scan_gives_the_plain_alerts_at_the_edges(tmp_path: Path, seed: int) -> None:
    path = write_asterisk_csv(tmp_path / "Master.csv", edge_calls(seed))
    expected = plain(path, EDGES)
    assert len(expected) >= 3
    for workers in (1, 2):
        assert list(scan_cdr_files([path], "asterisk-csv", UTC, EDGES, workers=workers)) == expected


def test_the_edge_streams_trip_every_rule_that_any_call_can_trip(tmp_path: Path) -> None:
    reasons = set()
    for seed in range(6):
        reasons |= {a.reason for a in plain(write_asterisk_csv(tmp_path / f"{seed}.csv", edge_calls(seed)), EDGES)}
    assert {"burst", "concurrency", "budget"} <= reasons


@pytest.mark.parametrize(("per_account", "in_all"), [(3, 10**9), (10**9, 7), (1, 1)])
def test_full_ledgers_are_added_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, per_account: int, in_all: int
) -> None:
    monkeypatch.setattr(guard_module, "MAX_DEFERRED", per_account)
    monkeypatch.setattr(guard_module, "MAX_DEFERRED_TOTAL", in_all)
    for calls, settings in ((edge_calls(1), EDGES), (random_calls(1), SETTINGS)):
        path = write_asterisk_csv(tmp_path / "Master.csv", calls)
        guard = FraudGuard(settings, defer=True)
        scanned = [item for _, item in scan_csv(path, ASTERISK_COLUMNS, UTC, guard)]
        assert scanned == plain(path, settings)
        waiting = [len(h.deferred) for h in guard._accounts.values() if h.deferred is not None]
        assert guard._waiting == sum(waiting) <= in_all and max(waiting, default=0) < per_account


def test_a_forgotten_account_takes_its_ledger_along(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard_module, "MAX_ACCOUNTS", 2)
    path = write_asterisk_csv(tmp_path / "Master.csv", edge_calls(2))
    guard = FraudGuard(EDGES, defer=True)
    scanned = [item for _, item in scan_csv(path, ASTERISK_COLUMNS, UTC, guard)]
    assert scanned == plain(path, EDGES)  # both forget the least recently active of four accounts
    assert guard._waiting == sum(len(h.deferred) for h in guard._accounts.values() if h.deferred is not None)


def test_an_office_is_mostly_deferred_and_an_attack_is_not(tmp_path: Path) -> None:
    day = office_day(datetime(2026, 11, 24), accounts=20)
    attack = premium_burst(datetime(2026, 11, 25, 2, 0), account="1007", calls=10)
    path = write_asterisk_csv(tmp_path / "Master.csv", day + attack)
    guard = FraudGuard(FraudSettings(), defer=True)
    alerts = [item for _, item in scan_csv(path, ASTERISK_COLUMNS, UTC, guard)]
    assert alerts == plain(path, FraudSettings()) and {a.account for a in alerts} == {"1007"}  # type: ignore[union-attr]
    histories = guard._accounts
    waiting = sum(len(h.deferred) for h in histories.values() if h.deferred is not None)
    added = sum(h._next for h in histories.values())  # calls that went through `add`
    assert waiting + added == guard.external_calls
    assert added <= 60 < waiting  # the attacker's calls (and its office day, once), not the rest
    assert histories["1007"].deferred is None and histories["1003"].deferred is not None


def test_rows_are_read_again_by_the_lines_csv_gave_them(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    # CRLF, a lone CR, a blank line, a record over three lines, bytes that are not UTF-8.
    path.write_bytes(b'"a","1"\r\n"b","2"\r"c","3"\n\n"d","multi\nline\r\nrecord"\n"e\xff\xfe","5"')
    again = RowsByLine(path)
    assert again.row(1, 1) == ["a", "1"]
    assert again.row(3, 3) == ["c", "3"]
    assert again.row(5, 7) == ["d", "multi\nline\r\nrecord"]
    assert again.row(8, 8) == ["e\ufffd\ufffd", "5"]
    assert again.row(2, 2) == ["b", "2"]
    with pytest.raises(ValueError, match="not in the file"):
        again.row(9, 9)


def test_evidence_of_deferred_calls_comes_from_the_file_the_scan_read(tmp_path: Path) -> None:
    day = office_day(datetime(2026, 11, 24), accounts=5)
    attack = premium_burst(datetime(2026, 11, 24, 17, 0), account="1003", calls=6)
    path = write_asterisk_csv(tmp_path / "Master.csv", day + attack)
    expected = plain(path, FraudSettings())
    assert any(len(a.calls) > 1 for a in expected)  # the alerts show earlier calls too
    scan = scan_cdr_files([path], "asterisk-csv", UTC, FraudSettings(), workers=1)
    first = next(scan)
    # Rotation: the file is renamed and a new one written in its place while the scan runs.
    os.rename(path, tmp_path / "Master.csv.1")
    write_asterisk_csv(path, office_day(datetime(2026, 11, 26), accounts=5, seed=9))
    assert [first, *scan] == expected


@pytest.mark.parametrize("block", [4, 7, 64, 1 << 22])
def test_line_ends_found_in_blocks_match_the_text_reading(
    tmp_path: Path, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rowlines, "INDEX_BLOCK", block)
    rows = [["a", "1"], ["bb" * 9, ""], ["c", "multi\nline"], [], ["é" * 5, "x"], ["last", "no end"]]
    text = "".join(f'"{a}","{b}"\n' if a else "\n" for a, b in (r or ("", "") for r in rows)).removesuffix("\n")
    path = tmp_path / "rows.csv"
    path.write_text(text, encoding="utf-8")
    again = RowsByLine(path)
    assert again.row(7, 7) == ["last", "no end"]  # the whole file indexed at once, then read back
    assert [again.row(1, 1), again.row(2, 2), again.row(3, 4), again.row(6, 6)] == [rows[0], rows[1], rows[2], rows[4]]
    with pytest.raises(ValueError, match="no record"):
        again.row(5, 5)
