"""Dial-plan probing: rejected calls to international numbers, and one number tried behind many prefixes.

After cracking an account, toll-fraud tools try a premium number with every dial-out prefix a PBX
might use (`00`, `9`, `900`, `9011`, `+`) until one call goes through. Both signs are counted per source.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from sipwarden.detect.durations import Rate, format_duration
from sipwarden.detect.rules.base import Finding, SourceView
from sipwarden.events import Event

#: The last digits that identify "the same number" behind different prefixes (a subscriber number
#: without its country code has 7-10 digits in most plans).
CORE_DIGITS: Final = 8
#: Numbers remembered per source for prefix variants, and sources remembered at once.
MAX_NUMBERS_PER_SOURCE: Final = 16
MAX_DIALLING_SOURCES: Final = 100_000
#: Single dial-out digits a PBX may require before the real number.
_DIAL_OUT: Final = ("9", "0", "8")
CALL_KINDS = frozenset({"call_attempt", "call_rejected", "fraud_call"})


def dial_digits(target: str) -> str:
    """The dialled string reduced to `+` and digits (a SIP URI user part may carry separators)."""
    head = "+" if target.lstrip().startswith("+") else ""
    return head + "".join(ch for ch in target if ch.isdigit())


class DialplanProbing:
    """Ban a source probing the dial plan."""

    def __init__(
        self, international: Rate, *, variants: int, window: float, prefixes: Sequence[str], home_country: str
    ) -> None:
        self.international = international
        self.variants = variants
        self.window = timedelta(seconds=window)
        self.prefixes = tuple(prefixes)
        self.home_country = home_country.upper()
        self.windows: tuple[float, ...] = (international.seconds,)
        # source -> {core number: (prefixes seen, last time)}
        self._numbers: dict[int, dict[str, tuple[tuple[str, ...], datetime]]] = {}

    def is_international(self, event: Event) -> bool:
        """True when the call goes abroad (by its country, or by an international prefix)."""
        if event.target_country and self.home_country:
            return event.target_country.upper() != self.home_country
        digits = dial_digits(event.target or "")
        candidates = [digits] + [digits[1:] for d in _DIAL_OUT if digits.startswith(d)]
        return any(c.startswith(p) for c in candidates for p in self.prefixes if p)

    def observe(self, event: Event, source: SourceView) -> list[Finding]:
        """Count rejected international calls and prefix variants of one number."""
        if event.kind not in CALL_KINDS or not event.target:
            return []
        findings: list[Finding] = []
        if event.kind == "call_rejected" and self.is_international(event):
            n = source.count(0, event.count)
            if source.over(n, self.international.count):
                findings.append(
                    Finding(
                        scenario="dialplan-probing",
                        reason=f"{n} rejected calls to international numbers within "
                        f"{format_duration(self.international.seconds)} (last: {event.target})",
                    )
                )
        variants = self._variants(source.key, event)
        if len(variants) >= self.variants and not findings:
            findings.append(
                Finding(
                    scenario="dialplan-probing",
                    reason=f"one number dialled with {len(variants)} prefixes: {', '.join(variants)}",
                )
            )
        return findings

    def _variants(self, key: int, event: Event) -> tuple[str, ...]:
        digits = dial_digits(event.target or "")
        if len(digits.lstrip("+")) <= CORE_DIGITS:
            return ()
        core, prefix = digits[-CORE_DIGITS:], digits[:-CORE_DIGITS]
        numbers = self._numbers.get(key)
        if numbers is None:
            if len(self._numbers) >= MAX_DIALLING_SOURCES:
                self._numbers.pop(next(iter(self._numbers)))
            numbers = self._numbers[key] = {}
        seen, last = numbers.get(core, ((), event.ts))
        if event.ts - last > self.window:
            seen = ()
        if prefix not in seen:
            seen = (*seen, prefix)[-MAX_NUMBERS_PER_SOURCE:]
        if core not in numbers and len(numbers) >= MAX_NUMBERS_PER_SOURCE:
            numbers.pop(next(iter(numbers)))
        numbers[core] = (seen, event.ts)
        return seen

    def expire(self, now: datetime) -> None:
        """Forget numbers not dialled within the window."""
        for key in list(self._numbers):
            numbers = {c: v for c, v in self._numbers[key].items() if now - v[1] <= self.window}
            if numbers:
                self._numbers[key] = numbers
            else:
                del self._numbers[key]
