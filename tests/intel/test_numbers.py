"""Dial strings -> E.164: the prefixes toll-fraud campaigns walk through, table-driven."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipwarden.intel.numbers import MAX_RAW_CHARS, normalize_dialled, target_from_uri_user

# raw, default region, expected e164, country, valid, prefix
CASES: list[tuple[str, str | None, str | None, str | None, bool, str]] = [
    # the required readings
    ("9011441234567890", None, "+441234567890", "GB", True, "9011"),
    # +231 4599711 (Liberia): a range used in fraud that libphonenumber calls possible, not valid
    ("002314599711", None, "+2314599711", "LR", False, "00"),
    ("92314599711", None, "+2314599711", "LR", False, "9"),
    ("9002314599711", None, "+2314599711", "LR", False, "900"),
    ("90112314599711", None, "+2314599711", "LR", False, "9011"),
    # junk prefixes seen from scripts
    ("++2314599711", None, "+2314599711", "LR", False, "++"),
    ("0+2314599711", None, "+2314599711", "LR", False, "0+"),
    ("+002314599711", None, "+2314599711", "LR", False, "+00"),
    ("9+2314599711", None, "+2314599711", "LR", False, "9+"),
    ("8102314599711", None, "+2314599711", "LR", False, "810"),
    ("+011442071234567", None, "+442071234567", "GB", True, "+011"),
    ("0011442071234567", None, "+442071234567", "GB", True, "0011"),
    ("90011442071234567", None, "+442071234567", "GB", True, "90011"),
    # E.164 and the common international prefixes
    ("+442071234567", None, "+442071234567", "GB", True, "+"),
    ("00442071234567", None, "+442071234567", "GB", True, "00"),
    ("011442071234567", None, "+442071234567", "GB", True, "011"),
    ("9011442071234567", None, "+442071234567", "GB", True, "9011"),
    ("900442071234567", None, "+442071234567", "GB", True, "900"),
    ("+44 20 7123-4567", None, "+442071234567", "GB", True, "+"),
    ("0044 (0)20 7123 4567", None, "+442071234567", "GB", True, "00"),
    ("01123276123456", None, "+23276123456", "SL", True, "011"),  # Sierra Leone mobile
    ("0040900123456", None, "+40900123456", "RO", True, "00"),  # Romanian premium rate
    ("00881612345678", None, "+881612345678", "001", True, "00"),  # Iridium satellite, non-geographic
    ("+19005551234", None, "+19005551234", "US", True, "+"),
    # national numbers need the PBX's region
    ("2125551234", "US", "+12125551234", "US", True, ""),
    ("92125551234", "US", "+12125551234", "US", True, "9"),
    ("02071234567", "gb", "+442071234567", "GB", True, ""),
    ("02071234567", None, None, None, False, ""),
    # a leading 9 that belongs to the number: Indian mobile, valid as dialled, not after stripping
    ("919876543210", None, "+919876543210", "IN", True, ""),
    ("923001234567", None, "+923001234567", "PK", True, ""),
    ("905321234567", None, "+905321234567", "TR", True, ""),
    ("9441234567890", None, "+441234567890", "GB", True, "9"),
    # not numbers: extensions, feature codes, bare prefixes, garbage
    ("100", None, None, None, False, ""),
    ("100", "US", None, None, False, ""),
    ("1000", "DE", None, None, False, ""),
    ("*97", None, None, None, False, ""),
    ("s", None, None, None, False, ""),
    ("", None, None, None, False, ""),
    ("+", None, None, None, False, ""),
    ("00", None, None, None, False, ""),
    ("9011", None, None, None, False, ""),
    ("sip:100@host", None, None, None, False, ""),
    ("٤٤٢٠٧١٢٣٤٥٦٧", None, None, None, False, ""),  # Arabic-Indic digits are not dialled digits
    ("9" * 40, None, None, None, False, ""),
]


@pytest.mark.parametrize(("raw", "region", "e164", "country", "valid", "prefix"), CASES)
def test_normalize_dialled(
    raw: str, region: str | None, e164: str | None, country: str | None, valid: bool, prefix: str
) -> None:
    got = normalize_dialled(raw, default_region=region)
    assert (got.e164, got.country, got.valid, got.prefix) == (e164, country, valid, prefix)
    assert got.raw == raw
    assert got.digits == "".join(c for c in raw if c in "0123456789")


def test_number_type_for_valid_numbers_only() -> None:
    assert normalize_dialled("+19005551234").number_type == "PREMIUM_RATE"
    assert normalize_dialled("0040900123456").number_type == "PREMIUM_RATE"
    assert normalize_dialled("01123276123456").number_type == "MOBILE"
    assert normalize_dialled("002314599711").number_type is None


def test_country_without_a_possible_number() -> None:
    # an explicit international prefix and a known country code, but too short to be a number
    got = normalize_dialled("0023177")
    assert (got.e164, got.country, got.prefix) == (None, "LR", "00")
    # without an explicit prefix, the digits say nothing about a country
    assert normalize_dialled("23177").country is None


def test_ambiguous_readings_are_reported() -> None:
    # 9 + +1 212 (US) or +91 2125551234 (India): both valid; the outside-line reading wins, the other is kept
    got = normalize_dialled("912125551234")
    assert got.e164 == "+12125551234"
    assert got.alternatives == ("+912125551234",)
    # 92 is Pakistan, but only the Liberian reading is a possible length there
    assert normalize_dialled("92314599711").e164 == "+2314599711"
    assert normalize_dialled("+442071234567").alternatives == ()


def test_digits_and_bounds() -> None:
    got = normalize_dialled("9011-44-1234-567890")
    assert got.digits == "9011441234567890"
    assert got.e164 == "+441234567890"
    long = normalize_dialled("1" * 10_000)
    assert len(long.raw) == MAX_RAW_CHARS
    assert long.e164 is None


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("9011441234567890", "9011441234567890"),
        ("+44%20(20)%207123-4567;phone-context=example.com", "+442071234567"),
        ("%2B2314599711", "+2314599711"),
        ("00231.459.9711;user=phone", "002314599711"),
        ("100", "100"),
        ("*97", "*97"),
        ("%ZZ100", "%ZZ100"),
        ("%ff100", "\ufffd100"),
        ("", ""),
    ],
)
def test_target_from_uri_user(user: str, expected: str) -> None:
    assert target_from_uri_user(user) == expected


def test_uri_user_to_number() -> None:
    got = normalize_dialled(target_from_uri_user("%2B44-20-7123-4567;isub=12"))
    assert got.e164 == "+442071234567"


@given(st.text(max_size=60), st.sampled_from([None, "US", "GB", "DE", "LR", "XX"]))
def test_never_raises(raw: str, region: str | None) -> None:
    got = normalize_dialled(raw, default_region=region)
    assert got.e164 is None or (got.e164.startswith("+") and got.e164[1:].isdigit())
    target_from_uri_user(raw)
