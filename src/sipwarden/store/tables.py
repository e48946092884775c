"""The store's tables (SQLAlchemy Core). Migrations in `migrations/versions/` create them; keep both in step.

Text columns are unbounded `Text`: values come from hostile peers, and a length limit in the schema
would turn a long User-Agent into a failed batch instead of a stored event (`raw` is bounded by
`events.MAX_RAW_CHARS` before it gets here).
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, MetaData, String, Table, Text

from sipwarden.store.types import UTCDateTime

metadata = MetaData()

#: Every Event field, one column each (docs/design.md, "The Event record").
events = Table(
    "events",
    metadata,
    Column("id", String(26), primary_key=True),  # ULID: sortable, time-ordered
    Column("ts", UTCDateTime(), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("source", String(32), nullable=False),
    Column("sensor", Text, nullable=False),
    Column("src_ip", String(64)),
    Column("src_port", Integer),
    Column("dst_ip", String(64)),
    Column("dst_port", Integer),
    Column("transport", Text),
    Column("method", Text),
    Column("user_agent", Text),
    Column("tool", Text),
    Column("username", Text),
    Column("password", Text),
    Column("target", Text),
    Column("target_e164", Text),
    Column("target_country", Text),
    Column("call_id", Text),
    Column("raw", Text),
    Column("detail", JSON, nullable=False),
    Column("count", BigInteger, nullable=False),
    Index("ix_events_ts", "ts"),
    Index("ix_events_src_ip", "src_ip"),
    Index("ix_events_kind", "kind"),
)

#: Every Decision field, plus when and why it was lifted.
decisions = Table(
    "decisions",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("ts", UTCDateTime(), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("value", Text, nullable=False),
    Column("action", String(16), nullable=False),
    Column("scenario", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("until", UTCDateTime()),
    Column("origin", Text, nullable=False),
    Column("event_ids", JSON, nullable=False),
    Column("removed_at", UTCDateTime()),
    Column("removed_reason", Text),
    # When the row was written or lifted (the writer's clock): running Guards poll it (0005).
    Column("changed_at", UTCDateTime()),
    Index("ix_decisions_value", "value"),
    Index("ix_decisions_until", "until"),
    Index("ix_decisions_changed_at", "changed_at"),
)

#: Small named values: reader cursors, file positions, last-seen ids.
kv = Table(
    "kv",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
)
