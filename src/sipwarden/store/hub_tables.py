"""The hub's tables (SQLAlchemy Core); migration 0002 creates them. Keep both in step.

Listings carry `seq`, the number of their last change in `hub_changes`: that one counter is the
cursor of every incremental feed (`since=`, APIBAN `ID`, the event stream) and the feeds' ETag.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, String, Table, Text

from sipwarden.store.tables import metadata
from sipwarden.store.types import UTCDateTime

#: API keys, stored as the SHA-256 of the key (see hub/keys.py for why a plain hash suffices).
hub_keys = Table(
    "hub_keys",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("name", Text, nullable=False),
    Column("role", String(16), nullable=False),  # sensor, reader, admin
    Column("trusted", Boolean, nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime()),
    Index("ux_hub_keys_hash", "key_hash", unique=True),
)

#: One row per address ever reported; `listed` says whether it is on the blocklist now.
hub_listings = Table(
    "hub_listings",
    metadata,
    Column("ip", String(64), primary_key=True),
    Column("listed", Boolean, nullable=False),
    Column("decision_id", String(26), nullable=False),  # new ULID each time the address is listed anew
    Column("score", Float, nullable=False),
    Column("reporters", Integer, nullable=False),
    Column("events", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("first_seen", UTCDateTime(), nullable=False),
    Column("last_evidence", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("delisted_at", UTCDateTime()),
    Column("delisted_reason", Text),
    Index("ix_hub_listings_listed_seq", "listed", "seq"),
    Index("ix_hub_listings_expires", "listed", "expires_at"),
)

#: Evidence per (address, reporter key): independent reporters are counted from here.
hub_evidence = Table(
    "hub_evidence",
    metadata,
    Column("ip", String(64), primary_key=True),
    Column("key_id", String(26), primary_key=True),
    Column("weight", Float, nullable=False),
    Column("trusted", Boolean, nullable=False),  # a trusted sensor's honeypot evidence lists at once
    Column("count", BigInteger, nullable=False),
    Column("first_ts", UTCDateTime(), nullable=False),
    Column("last_ts", UTCDateTime(), nullable=False),
    Column("reason", Text, nullable=False),
)

#: Every listing and delisting, in order: `seq` is the cursor clients keep.
hub_changes = Table(
    "hub_changes",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("ip", String(64), nullable=False),
    Column("op", String(8), nullable=False),  # add, del
    Column("ts", UTCDateTime(), nullable=False),
)

#: Numbers dialled at honeypots (E.164), for call screening.
hub_numbers = Table(
    "hub_numbers",
    metadata,
    Column("number", String(32), primary_key=True),
    Column("country", String(8)),
    Column("count", BigInteger, nullable=False),
    Column("first_seen", UTCDateTime(), nullable=False),
    Column("last_seen", UTCDateTime(), nullable=False),
)

#: Reports from the web form; listed only once an admin accepts them.
hub_reports = Table(
    "hub_reports",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("ip", String(64), nullable=False),
    Column("evidence", Text, nullable=False),
    Column("contact", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),  # pending, accepted, rejected
    Column("decided_at", UTCDateTime()),
    Column("decided_reason", Text),
    Index("ix_hub_reports_status", "status"),
)

#: Abuse reports to network owners (migration 0004): drafted, approved by an admin, then sent by SMTP
#: (docs/hub.md, "Abuse desk"). `message` is the whole RFC 5322 message the admin approved.
abuse_reports = Table(
    "abuse_reports",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("ip", String(64), nullable=False),
    Column("network", String(64), nullable=False),
    Column("recipient", Text, nullable=False),
    Column("status", String(16), nullable=False),  # draft, approved, sending, sent, failed, discarded
    Column("events", BigInteger, nullable=False),
    Column("message", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("approved_at", UTCDateTime()),
    Column("approved_by", Text),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime()),
    Column("sent_at", UTCDateTime()),
    Column("last_error", Text),
    Index("ix_abuse_reports_status", "status"),
    Index("ix_abuse_reports_ip", "ip"),
    Index("ix_abuse_reports_network", "network"),
)
