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
    batch_size: int = Field(
        default=500,
        ge=1,
        le=50_000,
        description="Most events the background writer commits in one transaction.",
    )
    batch_delay: float = Field(
        default=0.05,
        gt=0,
        le=10,
        description="Seconds the background writer waits to fill a batch before it commits what it has.",
    )
    queue_size: int = Field(
        default=100_000,
        ge=100,
        le=10_000_000,
        description="Events waiting to be written before new ones are dropped (each drop is counted and logged).",
    )
