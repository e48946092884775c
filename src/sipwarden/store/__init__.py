"""The store: events, decisions and small named values (SQLite by default, PostgreSQL for a fleet).

Public API: `Store`, `EventWriter`, `default_url`. See docs/store.md.
"""

from sipwarden.store.store import Store, default_url
from sipwarden.store.writer import EventWriter

__all__ = ["EventWriter", "Store", "default_url"]
