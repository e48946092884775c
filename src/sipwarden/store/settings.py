"""Settings of the event store."""

from __future__ import annotations

from pydantic import Field

from sipwarden.settings_base import Section


class StoreSettings(Section):
    """`[store]`: where events and decisions are kept."""

    url: str = Field(
        default="",
        description="SQLAlchemy URL (sqlite:///path or postgresql://...). Empty: SQLite in general.data_dir.",
    )
