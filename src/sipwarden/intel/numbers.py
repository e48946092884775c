"""Dial strings -> E.164 numbers and countries, with Google's libphonenumber data (`phonenumbers`).

A toll-fraud attacker who has an account on a PBX does not know its dial plan, so the same target
arrives under many prefixes: ``+``, ``00``, ``011`` (North America), ``810`` (Russia), an outside
line ``9`` in front of any of those, and junk such as ``++`` or ``0+``. `normalize_dialled` tries
every prefix that fits and keeps the interpretation libphonenumber likes best, so a campaign that
walks ``9011``, ``900``, ``9`` and ``00`` in front of +231 4599711 is seen as one target.

Many premium-rate ranges used for fraud are not (or no longer) in the public numbering plans, so
libphonenumber calls them "possible" but not "valid"; they are kept, with ``valid=False``.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberType

__all__ = ["DialledNumber", "learn_prefixes", "normalize_dialled", "normalize_with_learned", "target_from_uri_user"]

#: Longest dial string worth parsing. E.164 numbers have at most 15 digits (ITU-T E.164 6.1); with
#: the longest prefix combination (``9011``) and sub-addresses that is well under 32.
MAX_DIAL_DIGITS: Final = 32
#: Bound on the raw string kept in a DialledNumber (it is stored and shown in the UI).
MAX_RAW_CHARS: Final = 128

#: A number libphonenumber does not know (only "possible") needs this many national digits: PBX
#: extensions have 2-5 digits and some plans (Germany) allow numbers that short, so an unknown
#: 4-5 digit number is far more likely an extension than a real destination.
MIN_POSSIBLE_NATIONAL_DIGITS: Final = 6

#: Dial strings remembered by `normalize_dialled` (each reading costs 0.2-0.5 ms of libphonenumber).
CACHE_SIZE: Final = 8192

#: Prefixes that say "an international number follows", longest first within each family.
#: Data, not code: add a prefix here with a comment on where it is used.
INTERNATIONAL_PREFIXES: Final[tuple[str, ...]] = (
    "+00",  # junk: both forms at once, seen from scripts that prepend "+" to whatever was dialled
    "+011",  # junk: the same with the North American prefix
    "++",  # junk: doubled plus
    "0+",  # junk: trunk zero before the plus
    "+",  # E.164 (RFC 3966 global number)
    "00",  # ITU-T E.164 recommended international prefix (most of the world)
    "011",  # North American Numbering Plan
    "0011",  # Australia (unambiguous: "00" + "11" would need a NANP area code starting with 1)
    "810",  # Russia and other former-USSR plans (8, dial tone, 10)
)
#: An outside-line digit some PBX dial plans need before any external number.
OUTSIDE_LINE_PREFIXES: Final[tuple[str, ...]] = ("9",)

_TYPE_NAMES: Final[dict[int, str]] = {
    value: name for name, value in vars(PhoneNumberType).items() if name.isupper() and isinstance(value, int)
}
# RFC 3966 5.1.1 visual-separator, plus spaces and the dots and slashes people type.
_VISUAL_SEPARATORS: Final = re.compile(r"[\s\-.()/\[\]]")

# How good an interpretation is; higher wins, ties go to the earlier candidate.
_VALID: Final = 3  # libphonenumber knows the range
_POSSIBLE: Final = 2  # right length for a known country
_COUNTRY_ONLY: Final = 1  # only the country code is recognised (after an explicit international prefix)


@dataclass(frozen=True, slots=True)
class DialledNumber:
    """What a dial string most likely means."""

    raw: str  # as dialled (bounded to MAX_RAW_CHARS)
    digits: str  # the digits of `raw`, without "+" or separators
    prefix: str  # the dial-out prefix taken off ("9011", "00", "+", "" ...)
    e164: str | None  # "+2314599711", or None (extension, service code, garbage)
    country: str | None  # ISO 3166 region ("LR"); "001" for non-geographic codes (+881 satellite...)
    valid: bool  # libphonenumber knows the range (False for many premium fraud ranges)
    number_type: str | None  # "PREMIUM_RATE", "MOBILE", "FIXED_LINE"... for valid numbers
    alternatives: tuple[str, ...] = ()  # other E.164 readings that scored as well (ambiguous prefix)


@dataclass(frozen=True, slots=True)
class _Reading:
    score: int
    prefix: str
    number: PhoneNumber
    e164: str
    country: str | None


def target_from_uri_user(user: str) -> str:
    """The dialled string in a SIP URI user part: ``;params`` dropped, %-escapes undone, separators removed.

    ``+44%20(20)%207123-4567;phone-context=example.com`` -> ``+442071234567`` (RFC 3261 19.1.2, RFC 3966).
    """
    user = user.split(";", 1)[0]
    user = urllib.parse.unquote(user, errors="replace")
    return _VISUAL_SEPARATORS.sub("", user)


def _read(national: str, prefix: str, region: str | None, explicit: bool) -> _Reading | None:
    """Score one interpretation: `national` in `region`, or international when `region` is None."""
    text = national if region is not None else "+" + national
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    region_of_number = phonenumbers.region_code_for_number(number)
    if phonenumbers.is_valid_number(number):
        score = _VALID
    elif (
        phonenumbers.is_possible_number(number)
        and region_of_number is not None
        and len(phonenumbers.national_significant_number(number)) >= MIN_POSSIBLE_NATIONAL_DIGITS
    ):
        score = _POSSIBLE
    elif explicit and phonenumbers.region_code_for_country_code(number.country_code or 0) != "ZZ":
        score = _COUNTRY_ONLY
    else:
        return None
    country = region_of_number or phonenumbers.region_code_for_country_code(number.country_code or 0)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return _Reading(score, prefix, number, e164, None if country == "ZZ" else country)


def _candidates(text: str, default_region: str | None) -> list[tuple[str, str, str | None, bool]]:
    """(prefix, rest, region, explicit) in order of preference when scores tie."""
    out: list[tuple[str, str, str | None, bool]] = []
    # 1. an explicit international prefix, possibly behind an outside line: longest first
    explicit = sorted(
        {line + intl for line in ("", *OUTSIDE_LINE_PREFIXES) for intl in INTERNATIONAL_PREFIXES}, key=len, reverse=True
    )
    out += [(p, text[len(p) :], None, True) for p in explicit if text.startswith(p)]
    if "+" in text:
        return out  # a plus says "international" on its own; no other reading makes sense
    # 2. a national number of the PBX's own country, possibly behind an outside line
    if default_region is not None:
        out += [(p, text[len(p) :], default_region, False) for p in (*OUTSIDE_LINE_PREFIXES, "") if text.startswith(p)]
    # 3. bare E.164 digits, as trunks that take numbers without any prefix receive them
    out += [(p, text[len(p) :], None, False) for p in (*OUTSIDE_LINE_PREFIXES, "") if text.startswith(p)]
    return out


def normalize_dialled(raw: str, *, default_region: str | None = None) -> DialledNumber:
    """Interpret a dial string; `default_region` (ISO code) lets national numbers of the PBX's country in.

    Never raises on hostile input: what cannot be read as a number has ``e164=None``. Results are
    cached: fraud campaigns dial the same few targets thousands of times.
    """
    return _normalize(raw[:MAX_RAW_CHARS], default_region.upper() if default_region else None)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _normalize(raw: str, region: str | None) -> DialledNumber:
    text = _VISUAL_SEPARATORS.sub("", raw)
    digits = "".join(c for c in text if c.isdigit() and c.isascii())
    readings: list[_Reading] = []
    if re.fullmatch(r"[+0-9]+", text) and len(digits) <= MAX_DIAL_DIGITS:
        for prefix, rest, where, explicit in _candidates(text, region):
            if rest and rest.isdigit():
                reading = _read(rest, prefix, where, explicit)
                if reading is not None:
                    readings.append(reading)
    if not readings:
        return DialledNumber(raw, digits, "", None, None, False, None)
    best = max(readings, key=lambda r: r.score)  # max keeps the first of equals: the preferred order
    if best.score == _COUNTRY_ONLY:
        return DialledNumber(raw, digits, best.prefix, None, best.country, False, None)
    alternatives = tuple(dict.fromkeys(r.e164 for r in readings if r.score == best.score and r.e164 != best.e164))
    valid = best.score == _VALID
    number_type = _TYPE_NAMES.get(phonenumbers.number_type(best.number)) if valid else None
    return DialledNumber(raw, digits, best.prefix, best.e164, best.country, valid, number_type, alternatives)


#: A prefix is learned when it is seen in front of known numbers at least this often: once may be a
#: typo, twice from the data is a dial plan habit.
MIN_LEARNED_PREFIX_USES: Final = 2
#: Longest prefix worth learning (the longest built-in combination, "9011", has 4 digits).
MAX_LEARNED_PREFIX_DIGITS: Final = 6


def learn_prefixes(dial_strings: Iterable[str], *, default_region: str | None = None) -> dict[str, int]:
    """Dial-out prefixes learned from the data: digits seen in front of numbers read elsewhere.

    A PBX whose users dial ``5500`` for international calls produces ``55002314599711`` next to
    readings of +2314599711; ``5500`` is then learned (with how often it was seen).
    """
    raws = [r for r in dial_strings if r]
    known = {n.e164[1:] for n in (normalize_dialled(r, default_region=default_region) for r in raws) if n.e164}
    counts: dict[str, int] = {}
    for raw in raws:
        digits = _VISUAL_SEPARATORS.sub("", raw)
        if not digits.isdigit():
            continue
        for cut in range(1, min(MAX_LEARNED_PREFIX_DIGITS, len(digits) - MIN_POSSIBLE_NATIONAL_DIGITS) + 1):
            if digits[cut:] in known:
                prefix = digits[:cut]
                if not any(prefix == p for p in (*INTERNATIONAL_PREFIXES, *OUTSIDE_LINE_PREFIXES)):
                    counts[prefix] = counts.get(prefix, 0) + 1
                break
    return {p: n for p, n in counts.items() if n >= MIN_LEARNED_PREFIX_USES}


def normalize_with_learned(raw: str, learned: Iterable[str], *, default_region: str | None = None) -> DialledNumber:
    """`normalize_dialled`, unless a learned prefix (longest first) gives a reading and the built-in one
    is not a valid number: the data outranks a merely "possible" guess such as ``5500...`` as Brazil."""
    first = normalize_dialled(raw, default_region=default_region)
    if first.valid:
        return first
    text = _VISUAL_SEPARATORS.sub("", raw[:MAX_RAW_CHARS])
    for prefix in sorted(learned, key=len, reverse=True):
        if text.startswith(prefix) and text[len(prefix) :].isdigit():
            reading = normalize_dialled("+" + text[len(prefix) :])
            if reading.e164 is not None:
                return DialledNumber(
                    first.raw, first.digits, prefix, reading.e164, reading.country, reading.valid, reading.number_type
                )
    return first
