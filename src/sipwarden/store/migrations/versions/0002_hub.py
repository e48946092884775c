"""Hub schema: API keys, listings, evidence per reporter, the change log, dialled numbers, web reports.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the hub tables and their indexes."""
    op.create_table(
        "hub_keys",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("trusted", sa.Boolean, nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ux_hub_keys_hash", "hub_keys", ["key_hash"], unique=True)
    op.create_table(
        "hub_listings",
        sa.Column("ip", sa.String(64), primary_key=True),
        sa.Column("listed", sa.Boolean, nullable=False),
        sa.Column("decision_id", sa.String(26), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("reporters", sa.Integer, nullable=False),
        sa.Column("events", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_evidence", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("delisted_at", sa.DateTime(timezone=True)),
        sa.Column("delisted_reason", sa.Text),
    )
    op.create_index("ix_hub_listings_listed_seq", "hub_listings", ["listed", "seq"])
    op.create_index("ix_hub_listings_expires", "hub_listings", ["listed", "expires_at"])
    op.create_table(
        "hub_evidence",
        sa.Column("ip", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.String(26), primary_key=True),
        sa.Column("weight", sa.Float, nullable=False),
        sa.Column("trusted", sa.Boolean, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("first_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_table(
        "hub_changes",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("op", sa.String(8), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "hub_numbers",
        sa.Column("number", sa.String(32), primary_key=True),
        sa.Column("country", sa.String(8)),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "hub_reports",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("contact", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("decided_reason", sa.Text),
    )
    op.create_index("ix_hub_reports_status", "hub_reports", ["status"])


def downgrade() -> None:
    """Drop everything the upgrade created."""
    for table in ("hub_reports", "hub_numbers", "hub_changes", "hub_evidence", "hub_listings", "hub_keys"):
        op.drop_table(table)
