"""Abuse desk: the ownership cache (RDAP), lookup outcomes, and abuse reports.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create `intel_owners`, `intel_owner_lookups` and `abuse_reports`."""
    op.create_table(
        "intel_owners",
        sa.Column("network", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("prefixlen", sa.Integer, nullable=False),
        sa.Column("handle", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("org", sa.Text, nullable=False),
        sa.Column("asn", sa.BigInteger),
        sa.Column("country", sa.String(8)),
        sa.Column("abuse_email", sa.Text),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "intel_owner_lookups",
        sa.Column("ip", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("network", sa.String(64)),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "abuse_reports",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("events", sa.BigInteger, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True)),
        sa.Column("approved_by", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ix_abuse_reports_status", "abuse_reports", ["status"])
    op.create_index("ix_abuse_reports_ip", "abuse_reports", ["ip"])
    op.create_index("ix_abuse_reports_network", "abuse_reports", ["network"])


def downgrade() -> None:
    """Drop the abuse desk's tables."""
    op.drop_table("abuse_reports")
    op.drop_table("intel_owner_lookups")
    op.drop_table("intel_owners")
