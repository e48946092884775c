"""Cadence: is a source (or a campaign) a machine or a person at a keyboard?

Pure functions of event times (STYLE.md: time is a parameter). Attack tools fire requests milliseconds
apart; a person who redials with another prefix after a failed call takes minutes. The decision uses
the median inter-arrival gap (robust to the one long pause of a tool restarting) and reports the
regularity (coefficient of variation) next to it, because a script with a fixed sleep is slow but regular.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

Pace = Literal["automated", "human-paced", "mixed", "unknown"]

#: Median gap at or below which a sequence is machine speed: SIPVicious sends a request every few
#: milliseconds; a person cannot even retype a number in 5 s.
AUTOMATED_MAX_MEDIAN_GAP: Final = 5.0
#: Median gap at or above which a sequence is human speed: reading a failure, editing the dial string
#: and calling again takes tens of seconds at least.
HUMAN_MIN_MEDIAN_GAP: Final = 30.0
#: Fewer gaps than this say nothing about a rhythm.
MIN_GAPS: Final = 2
#: Coefficient of variation below which gaps are called regular (a fixed sleep in a script).
REGULAR_MAX_CV: Final = 0.05
#: Most times looked at: the newest ones are enough to tell a rhythm, and the bound keeps it O(n log n).
MAX_SAMPLES: Final = 10_000


@dataclass(frozen=True, slots=True)
class Cadence:
    """The rhythm of a sequence of events."""

    pace: Pace
    events: int
    median_gap: float | None  # seconds
    mean_gap: float | None
    cv: float | None  # standard deviation / mean of the gaps
    regular: bool  # gaps nearly identical (a timer, not a person)
    span: float  # seconds from first to last

    def describe(self) -> str:
        """One line for a terminal or a page."""
        if self.median_gap is None:
            return f"{self.pace} ({self.events} events)"
        rhythm = ", regular" if self.regular else ""
        return f"{self.pace}: {self.events} events, median gap {_human(self.median_gap)}{rhythm}"


def _human(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def cadence(times: Iterable[datetime]) -> Cadence:
    """Classify the rhythm of `times` (any order; duplicates count as zero gaps)."""
    ordered = sorted(times)[-MAX_SAMPLES:]
    span = (ordered[-1] - ordered[0]).total_seconds() if ordered else 0.0
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(ordered)]
    if len(gaps) < MIN_GAPS:
        return Cadence("unknown", len(ordered), gaps[0] if gaps else None, gaps[0] if gaps else None, None, False, span)
    median = statistics.median(gaps)
    mean = statistics.fmean(gaps)
    cv = statistics.pstdev(gaps) / mean if mean > 0 else 0.0
    if median <= AUTOMATED_MAX_MEDIAN_GAP:
        pace: Pace = "automated"
    elif median >= HUMAN_MIN_MEDIAN_GAP:
        pace = "human-paced"
    else:
        pace = "mixed"
    return Cadence(pace, len(ordered), median, mean, cv, cv <= REGULAR_MAX_CV, span)
