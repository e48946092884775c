"""Decisions record when they last changed, so a running Guard picks up bans added or lifted elsewhere.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add `decisions.changed_at` (set on insert and on removal), filled for existing rows, indexed."""
    op.add_column("decisions", sa.Column("changed_at", sa.DateTime(timezone=True)))
    op.execute("UPDATE decisions SET changed_at = COALESCE(removed_at, ts)")
    op.create_index("ix_decisions_changed_at", "decisions", ["changed_at"])


def downgrade() -> None:
    """Drop the column and its index."""
    op.drop_index("ix_decisions_changed_at", table_name="decisions")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("changed_at")
