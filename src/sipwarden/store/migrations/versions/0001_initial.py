"""Initial schema: events, decisions, kv.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the three tables and their indexes."""
    op.create_table(
        "events",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("sensor", sa.Text, nullable=False),
        sa.Column("src_ip", sa.String(64)),
        sa.Column("src_port", sa.Integer),
        sa.Column("dst_ip", sa.String(64)),
        sa.Column("dst_port", sa.Integer),
        sa.Column("transport", sa.Text),
        sa.Column("method", sa.Text),
        sa.Column("user_agent", sa.Text),
        sa.Column("tool", sa.Text),
        sa.Column("username", sa.Text),
        sa.Column("password", sa.Text),
        sa.Column("target", sa.Text),
        sa.Column("target_e164", sa.Text),
        sa.Column("target_country", sa.Text),
        sa.Column("call_id", sa.Text),
        sa.Column("raw", sa.Text),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_events_ts", "events", ["ts"])
    op.create_index("ix_events_src_ip", "events", ["src_ip"])
    op.create_index("ix_events_kind", "events", ["kind"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("scenario", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("until", sa.DateTime(timezone=True)),
        sa.Column("origin", sa.Text, nullable=False),
        sa.Column("event_ids", sa.JSON, nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True)),
        sa.Column("removed_reason", sa.Text),
    )
    op.create_index("ix_decisions_value", "decisions", ["value"])
    op.create_index("ix_decisions_until", "decisions", ["until"])
    op.create_table(
        "kv",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    """Drop everything the upgrade created."""
    op.drop_table("kv")
    op.drop_table("decisions")
    op.drop_table("events")
