"""The store: events, decisions and small named values (SQLite by default, PostgreSQL for a fleet).

Public API: `Store`, `EventWriter`, `default_url`. See docs/store.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sipwarden.lazy import lazy_names

if TYPE_CHECKING:
    from sipwarden.store.store import Store, default_url
    from sipwarden.store.writer import EventWriter

__all__ = ["EventWriter", "Store", "default_url"]

# The public names load on first use (PEP 562): the configuration imports `store/settings.py`, and
# commands that never open a store (`sipwarden parse`) must not pay for SQLAlchemy and Alembic.
__getattr__ = lazy_names(
    __name__,
    {
        "EventWriter": "sipwarden.store.writer",
        "Store": "sipwarden.store.store",
        "default_url": "sipwarden.store.store",
    },
)
