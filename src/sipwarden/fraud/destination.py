"""Dialled string -> Destination (E.164, country, number type, IRSF risk), cached.

A PBX dials the same few prefixes all day, so classification is cached on leading digits and
length: number plans are prefix trees, so two strings that agree there reach the same country and
number type, and the E.164 form is rebuilt from each string's own tail. `reading` also remembers
whole dialled strings (the same numbers recur); `read` leaves that to callers with their own cache.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Final, TypeVar

from sipwarden.fraud.records import Destination
from sipwarden.intel.numbers import normalize_dialled
from sipwarden.intel.risk import RiskClass, RiskTable, default_table

#: Shorter strings are extensions, feature codes or emergency numbers, never a toll destination.
MIN_EXTERNAL_DIGITS: Final = 7
#: E.164 numbers have at most 15 digits (ITU-T E.164 6.1); add room for access and IDD prefixes.
MAX_DIALLED_DIGITS: Final = 24
#: Leading dialled digits that decide how a string becomes E.164: an international prefix (up to
#: 3 digits: 00, 011) and a country code (up to 3), or a national prefix and area code.
DIAL_KEY_DIGITS: Final = 6
#: ... and for numbers dialled without any prefix, the area code (NANP: 1 + 3 digits).
NATIONAL_KEY_DIGITS: Final = 4
#: Leading characters of the E.164 form ("+" and 6 digits) that decide country, number type and
#: risk: country code plus the range (NANP area code, UK 070/09, DE 900, satellite blocks).
E164_KEY_CHARS: Final = 7
#: Digits a country code has at most (ITU-T E.164): what E.164 may put in front of dialled digits.
MAX_CC_DIGITS: Final = 3
#: Bound on each cache (entries are small; a PBX sees far fewer distinct prefixes).
MAX_CACHE_ENTRIES: Final = 200_000
#: Dialled strings whose reading is remembered (least recently used are forgotten): a PBX dials
#: the same numbers again and again, and a pumping attacker the same few premium numbers.
MAX_DIALLED_ENTRIES: Final = 65_536

_V = TypeVar("_V")
_UNSEEN: Final = (-1, "")  # a form no dial string has: "not cached yet"
#: What a dialled string reaches: (E.164, country, number type, international, risk).
Reading = tuple[str, str | None, str, bool, RiskClass]


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
    """Classify dialled strings for one PBX (its home country and outside-line prefixes).

    Reading is `intel.numbers.normalize_dialled` (every dial-out prefix attackers cycle through);
    two caches keep it off the hot path: dialled prefix -> how the string becomes E.164, then
    E.164 prefix -> (country, number type, risk). Each E.164 number is rebuilt from the dialled
    string's own digits, so only the classification is shared.
    """

    def __init__(
        self, home_country: str, outside_line_prefixes: Iterable[str] = (), risk_table: RiskTable | None = None
    ) -> None:
        self.home_country = home_country.upper()
        self.outside_line_prefixes = tuple(sorted(outside_line_prefixes, key=len, reverse=True))
        self.risk_table = risk_table or default_table()
        self._dial_cache: dict[tuple[str, int], tuple[int, str] | None] = {}
        self._e164_cache: dict[tuple[str, int], tuple[str | None, str, RiskClass]] = {}
        # reading(dialled): the Reading of a dialled string, None for extensions and junk.
        self.reading = functools.lru_cache(maxsize=MAX_DIALLED_ENTRIES)(self.read)

    def _strip_outside_line(self, digits: str) -> str:
        for prefix in self.outside_line_prefixes:
            if digits.startswith(prefix) and len(digits) - len(prefix) >= MIN_EXTERNAL_DIGITS:
                return digits[len(prefix) :]
        return digits

    def classify(self, dialled: str) -> Destination:
        """What `dialled` reaches; an internal Destination (no E.164) for extensions and junk."""
        found = self.reading(dialled)
        if found is None:
            return Destination(dialled, None, None, "internal", False, RiskClass.LOW)
        return Destination(dialled, *found)

    def read(self, dialled: str) -> Reading | None:
        """`reading` without its cache (for callers that cache the result themselves)."""
        if dialled.isascii() and dialled.isdigit() and len(dialled) <= MAX_DIALLED_DIGITS:
            digits = plain = dialled  # the usual case, which dialled_digits returns unchanged
        else:
            digits = dialled_digits(dialled)
            plain = digits.lstrip("+")
        if self.outside_line_prefixes and digits == plain:
            digits = plain = self._strip_outside_line(digits)
        if len(plain) < MIN_EXTERNAL_DIGITS:
            return None
        form = self.form(digits)
        if form is None:
            return None
        drop, front = form
        e164 = f"+{front}{plain[drop:]}"
        key2 = (e164[:E164_KEY_CHARS], len(e164))
        info = self._e164_cache.get(key2)
        if info is None:
            info = _bounded_put(self._e164_cache, key2, self._describe(e164))
        country, number_type, risk = info
        return e164, country, number_type, country != self.home_country, risk

    def form(self, digits: str) -> tuple[int, str] | None:
        """How a dial string of at least MIN_EXTERNAL_DIGITS digits (and a leading `+` or not, outside
        line stripped) becomes E.164: (digits to drop, digits to put in front); None when internal.

        Decided by the leading digits alone: an international or trunk prefix plus a country or area
        code needs 6 of them; a national number without trunk prefix (NANP) its area code.
        """
        key = (digits[:DIAL_KEY_DIGITS] if digits[0] in "0+" else digits[:NATIONAL_KEY_DIGITS], len(digits))
        form = self._dial_cache.get(key, _UNSEEN)
        if form is _UNSEEN:
            form = _bounded_put(self._dial_cache, key, self._e164_form(digits))
        return form

    def _e164_form(self, digits: str) -> tuple[int, str] | None:
        """How this shape of dial string becomes E.164: (digits to drop, digits to put in front)."""
        dn = normalize_dialled(digits, default_region=self.home_country)
        plain = digits.lstrip("+")
        e164 = dn.e164
        if e164 is None and dn.country and dn.prefix:
            # An explicit international prefix to a range libphonenumber does not know (many IRSF
            # ranges): the call still leaves the PBX, to that country.
            e164 = "+" + plain[len(dn.prefix.lstrip("+")) :]
        if e164 is None:
            return None
        target = e164[1:]
        for drop in range(len(plain) + 1):
            tail = plain[drop:]
            if target.endswith(tail) and len(target) - len(tail) <= MAX_CC_DIGITS:
                return drop, target[: len(target) - len(tail)]
        return None

    def _describe(self, e164: str) -> tuple[str | None, str, RiskClass]:
        """Country, number type and IRSF risk of an E.164 number (the table and libphonenumber)."""
        entry = self.risk_table.lookup(e164)
        dn = normalize_dialled(e164)
        country = dn.country if dn.country not in (None, "001", "ZZ") else (entry.country if entry else None)
        number_type = dn.number_type.lower() if dn.number_type else "unknown"
        risk = entry.risk if entry else RiskClass.LOW
        if number_type == "premium_rate":
            # A premium-rate range pays the called party per minute: the heart of revenue-share fraud.
            risk = RiskClass.HIGH
        return country, number_type, risk


def _bounded_put(cache: dict[tuple[str, int], _V], key: tuple[str, int], value: _V) -> _V:
    if len(cache) >= MAX_CACHE_ENTRIES:
        cache.clear()
    cache[key] = value
    return value
