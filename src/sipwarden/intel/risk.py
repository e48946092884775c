"""International revenue-share fraud (IRSF) risk of a destination, from a table kept as data.

The table (`irsf_risk.csv`, next to this module) maps E.164 prefixes to a country and a risk class;
its header names the public sources. The longest matching prefix wins, so a premium range inside an
ordinary country (`+449`, `+49900`) outranks the country itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Final

#: E.164 allows at most 15 digits (ITU-T E.164 section 6.1); no prefix can be longer.
MAX_E164_DIGITS: Final = 15


class RiskClass(IntEnum):
    """How likely calls to a destination are revenue-share fraud; ordered, so `>=` compares."""

    LOW = 0
    MEDIUM = 1
    HIGH = 2

    @classmethod
    def parse(cls, text: str) -> RiskClass:
        """`"high"` -> RiskClass.HIGH; ValueError naming the text otherwise."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown risk class {text!r} (low, medium, high)") from None

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class RiskEntry:
    """One row of the risk table."""

    prefix: str
    country: str
    risk: RiskClass


class RiskTable:
    """Longest-prefix lookup of E.164 digits in a set of `RiskEntry` rows."""

    def __init__(self, entries: Iterable[RiskEntry]) -> None:
        table: dict[str, RiskEntry] = {}
        for entry in entries:
            if not entry.prefix.isdigit() or len(entry.prefix) > MAX_E164_DIGITS:
                raise ValueError(f"risk prefix must be 1-{MAX_E164_DIGITS} digits: {entry.prefix!r}")
            table[entry.prefix] = entry
        self.entries: Mapping[str, RiskEntry] = MappingProxyType(table)
        self._longest = max((len(p) for p in table), default=0)

    def lookup(self, e164: str) -> RiskEntry | None:
        """The row whose prefix is the longest prefix of `e164` (`+` optional), or None."""
        digits = e164[1:] if e164.startswith("+") else e164
        for n in range(min(self._longest, len(digits)), 0, -1):
            entry = self.entries.get(digits[:n])
            if entry is not None:
                return entry
        return None

    def risk_of(self, e164: str) -> RiskClass:
        """The risk class of a number (LOW when no prefix matches)."""
        entry = self.lookup(e164)
        return entry.risk if entry else RiskClass.LOW


def parse_risk_csv(text: str, origin: str = "<risk table>") -> RiskTable:
    """Parse the CSV format of `irsf_risk.csv` (`#` comments, a `prefix,country,risk` header)."""
    entries = []
    header_seen = False
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not header_seen:
            if line.replace(" ", "") != "prefix,country,risk":
                raise ValueError(f"{origin}:{lineno}: expected header 'prefix,country,risk'")
            header_seen = True
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 3:
            raise ValueError(f"{origin}:{lineno}: expected 3 columns, got {len(parts)}")
        try:
            entries.append(RiskEntry(parts[0], parts[1].upper(), RiskClass.parse(parts[2])))
        except ValueError as exc:
            raise ValueError(f"{origin}:{lineno}: {exc}") from None
    return RiskTable(entries)


@cache
def default_table() -> RiskTable:
    """The table shipped with sipwarden (loaded once)."""
    text = resources.files("sipwarden.intel").joinpath("irsf_risk.csv").read_text(encoding="utf-8")
    return parse_risk_csv(text, "irsf_risk.csv")


def risk_of(e164: str) -> RiskClass:
    """The IRSF risk class of an E.164 number according to the shipped table."""
    return default_table().risk_of(e164)
