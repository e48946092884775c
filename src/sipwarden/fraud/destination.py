"""Dialled string -> Destination (E.164, country, number type, IRSF risk), cached.

A PBX dials the same few prefixes all day, so classification is cached on the leading digits and
the length of the dialled string: two strings that agree there reach the same country and number
type (number plans are prefix trees), and the E.164 form is rebuilt from the string's own tail.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import phonenumbers

from sipwarden.fraud.records import Destination
from sipwarden.intel.risk import RiskClass, RiskTable, default_table

#: Shorter strings are extensions, feature codes or emergency numbers, never a toll destination.
MIN_EXTERNAL_DIGITS: Final = 7
#: E.164 numbers have at most 15 digits (ITU-T E.164 6.1); add room for access and IDD prefixes.
MAX_DIALLED_DIGITS: Final = 24
#: Leading digits that select the cache entry; 9 covers every country code plus the longest
#: number-type prefixes of common plans (UK 070/09, DE 0900, NANP NPA-NXX).
CACHE_KEY_DIGITS: Final = 9
#: Bound on the cache (entries are small; a PBX sees far fewer distinct prefixes).
MAX_CACHE_ENTRIES: Final = 200_000

_TYPE_NAMES: Final = {
    value: name.lower() for name, value in vars(phonenumbers.PhoneNumberType).items() if isinstance(value, int)
}


def dialled_digits(raw: str) -> str:
    """The dialled string reduced to digits, keeping a leading `+`; '' when it has other symbols."""
    text = raw.strip()
    if text.startswith("sip:") or "@" in text:
        # sip:00232...@host as written by some FreeSWITCH dial strings: the user part is what was dialled.
        text = text.removeprefix("sip:").split("@", 1)[0]
    plus = text.startswith("+")
    body = text[1:] if plus else text
    body = body.replace(" ", "").replace("-", "").replace(".", "")
    if not body.isdigit() or len(body) > MAX_DIALLED_DIGITS:
        return ""
    return ("+" if plus else "") + body


class DestinationClassifier:
    """Classify dialled strings for one PBX (its home country and outside-line prefixes)."""

    def __init__(
        self, home_country: str, outside_line_prefixes: Iterable[str] = (), risk_table: RiskTable | None = None
    ) -> None:
        self.home_country = home_country.upper()
        self.outside_line_prefixes = tuple(sorted(outside_line_prefixes, key=len, reverse=True))
        self.risk_table = risk_table or default_table()
        # key -> (country code, NSN length, country, type, risk) or None for "not external"
        self._cache: dict[tuple[str, int], tuple[str, int, str | None, str, RiskClass] | None] = {}

    def _strip_outside_line(self, digits: str) -> str:
        for prefix in self.outside_line_prefixes:
            if digits.startswith(prefix) and len(digits) - len(prefix) >= MIN_EXTERNAL_DIGITS:
                return digits[len(prefix) :]
        return digits

    def classify(self, dialled: str) -> Destination:
        """What `dialled` reaches; an internal Destination (no E.164) for extensions and junk."""
        digits = dialled_digits(dialled)
        if not digits.startswith("+"):
            digits = self._strip_outside_line(digits)
        if len(digits.lstrip("+")) < MIN_EXTERNAL_DIGITS:
            return Destination(dialled, None, None, "internal", False, RiskClass.LOW)
        key = (digits[:CACHE_KEY_DIGITS], len(digits))
        if key in self._cache:
            cached = self._cache[key]
        else:
            cached = self._parse(digits)
            if len(self._cache) >= MAX_CACHE_ENTRIES:
                self._cache.clear()
            self._cache[key] = cached
        if cached is None:
            return Destination(dialled, None, None, "internal", False, RiskClass.LOW)
        cc, nsn_len, country, number_type, risk = cached
        e164 = f"+{cc}{digits[-nsn_len:]}"
        return Destination(dialled, e164, country, number_type, country != self.home_country, risk)

    def _parse(self, digits: str) -> tuple[str, int, str | None, str, RiskClass] | None:
        try:
            number = phonenumbers.parse(digits, self.home_country)
        except phonenumbers.NumberParseException:
            return None
        nsn = phonenumbers.national_significant_number(number)
        if not nsn or not digits.endswith(nsn) or len(nsn) < MIN_EXTERNAL_DIGITS - 3:
            return None
        e164 = f"+{number.country_code}{nsn}"
        entry = self.risk_table.lookup(e164)
        country = phonenumbers.region_code_for_number(number)
        if country in (None, "ZZ", "001"):
            region = phonenumbers.region_code_for_country_code(number.country_code or 0)
            country = region if region not in ("ZZ", "001") else (entry.country if entry else None)
        number_type = _TYPE_NAMES.get(phonenumbers.number_type(number), "unknown")
        risk = entry.risk if entry else RiskClass.LOW
        if number_type == "premium_rate":
            # A premium-rate range pays the called party per minute: the heart of revenue-share fraud.
            risk = RiskClass.HIGH
        return str(number.country_code), len(nsn), country, number_type, risk
