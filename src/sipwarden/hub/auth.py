"""Who is asking: API keys (`Authorization: Bearer KEY` or `X-Api-Key: KEY`), roles, anonymous reads,
and per-key submission rate limits."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from fastapi import HTTPException, Request

from sipwarden.hub.repo import ApiKey, HubRepo

#: Seconds a looked-up key is remembered by one process. Feed and check requests come by the
#: thousand per second; a revocation therefore takes effect within this time on every process.
KEY_CACHE_SECONDS: Final = 5.0
#: Keys remembered at most (unknown keys included, so guessing cannot grow memory without bound).
KEY_CACHE_MAX: Final = 10_000
#: Longest key accepted in a header; ours are 46 characters.
MAX_KEY_CHARS: Final = 200
#: Role hierarchy: an admin may do what a sensor and a reader may.
ROLE_RANK: Final = {"reader": 0, "sensor": 1, "admin": 2}


class TokenBucket:
    """A leaky token bucket per key; time is a parameter (STYLE.md, practice 2)."""

    def __init__(self, rate: float, burst: int) -> None:
        """`rate` tokens per second, at most `burst` stored."""
        self.rate = rate
        self.burst = float(burst)
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: float, cost: float = 1.0) -> float:
        """Take `cost` tokens; 0.0 on success, else the seconds to wait before retrying."""
        with self._lock:
            tokens, last = self._state.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= cost:
                self._state[key] = (tokens - cost, now)
                return 0.0
            self._state[key] = (tokens, now)
            return (cost - tokens) / self.rate


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller of a request (key None: anonymous reader)."""

    key: ApiKey | None

    @property
    def name(self) -> str:
        """The key's name, or `anonymous`."""
        return self.key.name if self.key else "anonymous"


def presented_key(request: Request) -> str | None:
    """The key in `Authorization: Bearer` or `X-Api-Key`, if any."""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()[:MAX_KEY_CHARS] or None
    key = request.headers.get("x-api-key", "").strip()
    return key[:MAX_KEY_CHARS] or None


class Authenticator:
    """Resolves keys to callers (with a short per-process cache) and enforces roles."""

    def __init__(self, repo: HubRepo, anonymous_read: list[str], clock: Callable[[], float] = time.monotonic) -> None:
        """Keys from `repo`; reads without a key allowed from the `anonymous_read` networks."""
        self.repo = repo
        self.anonymous = tuple(ipaddress.ip_network(n, strict=False) for n in anonymous_read)
        self.clock = clock
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._lock = threading.Lock()

    def lookup(self, key: str) -> ApiKey | None:
        """The live record of `key` (cached for KEY_CACHE_SECONDS)."""
        now = self.clock()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and now - hit[0] < KEY_CACHE_SECONDS:
            return hit[1]
        record = self.repo.key_for(key)
        with self._lock:
            if len(self._cache) >= KEY_CACHE_MAX:
                self._cache.clear()
            self._cache[key] = (now, record)
        return record

    def anonymous_allowed(self, request: Request) -> bool:
        """True when the peer's address is in an anonymous-read network."""
        host = request.client.host if request.client else ""
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(addr.version == net.version and addr in net for net in self.anonymous)

    def cached_reader(self, request: Request) -> bool:
        """True when the request's key is a live key in the cache (any role may read); no I/O,
        so the hottest read path can answer on the event loop."""
        key = presented_key(request)
        return key is not None and self.is_cached_live(key)

    def is_cached_live(self, key: str) -> bool:
        """True when `key` is a live key in the cache (no I/O)."""
        with self._lock:
            hit = self._cache.get(key)
        return hit is not None and hit[1] is not None and self.clock() - hit[0] < KEY_CACHE_SECONDS

    def caller(self, request: Request, role: str, key: str | None = None) -> Caller:
        """The caller, who must hold at least `role` (`reader` may be anonymous); 401/403 otherwise."""
        key = key if key is not None else presented_key(request)
        if key is None:
            if role == "reader" and self.anonymous_allowed(request):
                return Caller(None)
            raise HTTPException(401, "an API key is required", headers={"WWW-Authenticate": "Bearer"})
        record = self.lookup(key)
        if record is None:
            raise HTTPException(401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
        if ROLE_RANK[record.role] < ROLE_RANK[role]:
            raise HTTPException(403, f"this needs a {role} key; {record.name!r} is a {record.role} key")
        return Caller(record)
