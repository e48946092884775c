"""The store: events, decisions and small named values (SQLite by default, PostgreSQL for a fleet).

Public API: `Store`, `EventWriter`, `default_url`. See docs/store.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sipwarden.store.store import Store, default_url
    from sipwarden.store.writer import EventWriter

__all__ = ["EventWriter", "Store", "default_url"]

# The public names load on first use (PEP 562): the configuration imports `store/settings.py`, and
# commands that never open a store (`sipwarden parse`) must not pay for SQLAlchemy and Alembic.
_LAZY: dict[str, str] = {
    "EventWriter": "sipwarden.store.writer",
    "Store": "sipwarden.store.store",
    "default_url": "sipwarden.store.store",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
