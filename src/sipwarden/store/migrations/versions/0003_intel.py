"""Investigation aggregates: hourly counts, all-time totals and per-subject facets.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the three aggregate tables (filled from the events by `sipwarden.intel.aggregates`)."""
    op.create_table(
        "intel_hourly",
        sa.Column("dim", sa.String(64), primary_key=True),
        sa.Column("hour", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "intel_totals",
        sa.Column("dim", sa.String(32), primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("first_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_ts", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_intel_totals_dim_count", "intel_totals", ["dim", "count"])
    op.create_table(
        "intel_facets",
        sa.Column("subject", sa.String(80), primary_key=True),
        sa.Column("facet", sa.String(32), primary_key=True),
        sa.Column("value", sa.Text, primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("first_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_ts", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_intel_facets_facet_value", "intel_facets", ["facet", "value"])


def downgrade() -> None:
    """Drop the aggregate tables (they are rebuilt from the events by the next refresh)."""
    op.drop_table("intel_facets")
    op.drop_table("intel_totals")
    op.drop_table("intel_hourly")
