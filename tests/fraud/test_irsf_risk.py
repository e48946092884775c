"""The IRSF risk table (data) and the destination classifier."""

from __future__ import annotations

import pytest

from sipwarden.fraud.destination import DestinationClassifier, dialled_digits
from sipwarden.intel.risk import RiskClass, RiskEntry, RiskTable, default_table, parse_risk_csv, risk_of


def test_shipped_table_loads_and_longest_prefix_wins() -> None:
    table = default_table()
    assert len(table.entries) > 50
    assert risk_of("+23276123456") is RiskClass.HIGH
    assert risk_of("+441134960000") is RiskClass.LOW  # UK geographic
    assert risk_of("+449012345678") is RiskClass.HIGH  # UK premium inside a low-risk country
    assert risk_of("37120000000") is RiskClass.HIGH
    assert table.lookup("+3755") == RiskEntry("375", "BY", RiskClass.MEDIUM)


@pytest.mark.parametrize(("text", "message"), [
    ("prefix,country,risk\n12a,XX,high\n", "digits"),
    ("prefix,country,risk\n12,XX,extreme\n", ":2: unknown risk class"),
    ("nope\n", "expected header"),
    ("prefix,country,risk\n1,2\n", "3 columns"),
])  # fmt: skip
def test_bad_tables_are_named(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_risk_csv(text, "t.csv")


def test_custom_table() -> None:
    table = RiskTable([RiskEntry("99", "ZZ", RiskClass.HIGH)])
    assert table.risk_of("+991") is RiskClass.HIGH and table.risk_of("+1") is RiskClass.LOW


@pytest.mark.parametrize(("dialled", "e164", "country", "international", "risk"), [
    ("2125550100", "+12125550100", "US", False, RiskClass.LOW),
    ("912125550100", "+12125550100", "US", False, RiskClass.LOW),
    ("901123276123456", "+23276123456", "SL", True, RiskClass.HIGH),
    ("+881612345678", "+881612345678", "XS", True, RiskClass.HIGH),
    ("19005550100", "+19005550100", "US", False, RiskClass.HIGH),  # premium rate
    ("18765550100", "+18765550100", "JM", True, RiskClass.MEDIUM),
    ("sip:011441134960000@trunk", "+441134960000", "GB", True, RiskClass.LOW),
    ("0113712093909", "+3712093909", "LV", True, RiskClass.HIGH),  # a range libphonenumber does not know
    ("1001", None, None, False, RiskClass.LOW),
    ("*97", None, None, False, RiskClass.LOW),
    ("s", None, None, False, RiskClass.LOW),
    ("0" * 40, None, None, False, RiskClass.LOW),
])  # fmt: skip
def test_classify(dialled: str, e164: str | None, country: str | None, international: bool, risk: RiskClass) -> None:
    dest = DestinationClassifier("US", ["9"]).classify(dialled)
    assert (dest.e164, dest.country, dest.international, dest.risk) == (e164, country, international, risk)
    assert dest.dialled == dialled


def test_cache_rebuilds_each_number_from_its_own_digits() -> None:
    c = DestinationClassifier("US")
    a, b = c.classify("01123276123456"), c.classify("01123276123999")
    assert (a.e164, b.e164) == ("+23276123456", "+23276123999")


def test_home_country_changes_national_reading() -> None:
    dest = DestinationClassifier("GB").classify("01134960000")
    assert (dest.e164, dest.country, dest.international) == ("+441134960000", "GB", False)


def test_dialled_digits() -> None:
    assert dialled_digits(" +44 113-496.0000 ") == "+441134960000"
    assert dialled_digits("12ab") == ""
