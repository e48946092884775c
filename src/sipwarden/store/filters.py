"""Parsing of the filters that `sipwarden events` and the web API share."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timedelta
from typing import Final

from sipwarden.events import EVENT_KINDS, parse_ts

_RELATIVE: Final = re.compile(r"^\s*(\d{1,9})\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: Ten years back is already "everything"; a larger span is a typo, not a query.
MAX_SINCE_SPAN: Final = timedelta(days=3650)


def parse_since(value: str, now: datetime) -> datetime:
    """`30s`, `15m`, `1h`, `7d`, `2w` before `now`, or an ISO-8601 time; ValueError says what is accepted."""
    match = _RELATIVE.match(value)
    if match:
        span = timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()])
        if span > MAX_SINCE_SPAN:
            raise ValueError(f"since {value!r} reaches back more than {MAX_SINCE_SPAN.days} days")
        return now - span
    try:
        return parse_ts(value)
    except ValueError:
        raise ValueError(
            f"since {value!r} is neither a span (30s, 15m, 1h, 7d, 2w) nor an ISO time (2026-01-31T12:00:00Z)"
        ) from None


def check_kind(value: str) -> str:
    """`value` if it is a known event kind; otherwise ValueError listing the kinds."""
    if value not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {value!r}; known: {', '.join(sorted(EVENT_KINDS))}")
    return value


def normalize_ip(value: str) -> str:
    """The canonical text of an address (`2001:DB8::1` -> `2001:db8::1`); other text is returned stripped."""
    value = value.strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value
