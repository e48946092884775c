"""Per-source token buckets with bounded memory, so the honeypot is never a reflector.

Replies to unauthenticated UDP can be sent to a spoofed source; a token bucket per source caps what
any one address receives. The table is an LRU: when it holds MAX_SOURCES entries the least recently
seen source is forgotten (it then starts again with a full bucket, which is the safe direction for
a bound of at most `burst` extra replies).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

#: 100,000 sources at ~150 bytes per entry is ~15 MB: enough for an internet-wide scan wave.
MAX_SOURCES: Final = 100_000


class RateLimiter:
    """`allow(source, now)` spends one token from the source's bucket (`rate` per second, `burst` deep)."""

    def __init__(self, rate: float, burst: int, *, max_sources: int = MAX_SOURCES) -> None:
        if rate <= 0 or burst < 1 or max_sources < 1:
            raise ValueError("rate, burst and max_sources must be positive")
        self.rate = rate
        self.burst = float(burst)
        self.max_sources = max_sources
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # source -> (tokens, stamp)

    def allow(self, source: str, now: float) -> bool:
        """True when a reply to `source` may be sent at time `now` (and spends a token)."""
        entry = self._buckets.pop(source, None)
        if entry is None:
            tokens = self.burst
        else:
            tokens, stamp = entry
            tokens = min(self.burst, tokens + max(0.0, now - stamp) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[source] = (tokens, now)
        if len(self._buckets) > self.max_sources:
            self._buckets.popitem(last=False)
        return allowed

    def __len__(self) -> int:
        return len(self._buckets)
