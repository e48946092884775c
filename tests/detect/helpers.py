"""Synthetic events for detection tests: exact times, one source per test unless said otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sipwarden.events import Event

T0 = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """T0 plus `seconds`."""
    return T0 + timedelta(seconds=seconds)


def ev(seconds: float, kind: Any = "auth_failure", ip: str = "203.0.113.7", **fields: Any) -> Event:
    """An event from a PBX log at T0 + seconds."""
    fields.setdefault("source", "asterisk")
    if kind in ("auth_failure", "unknown_user", "register", "auth_success"):
        fields.setdefault("username", "100")
    return Event(ts=at(seconds), kind=kind, src_ip=ip, **fields)
