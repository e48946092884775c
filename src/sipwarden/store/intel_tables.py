"""Aggregate tables of the investigation views (migration 0003 creates them; keep both in step).

Counters are maintained incrementally by `sipwarden.intel.aggregates` from an event-id cursor, so the
dashboard reads a few hundred rows instead of scanning millions of events per page view.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from sipwarden.store.tables import metadata
from sipwarden.store.types import UTCDateTime

#: Events per hour, per dimension ("all", "kind:<kind>"): the "attacks over time" chart.
intel_hourly = Table(
    "intel_hourly",
    metadata,
    Column("dim", String(64), primary_key=True),
    Column("hour", UTCDateTime(), primary_key=True),
    Column("count", BigInteger, nullable=False),
)

#: All-time totals per dimension and key (dim "ip", "country", "number", "ua", "tool", "password",
#: "username", "network"...): the top lists of the overview.
intel_totals = Table(
    "intel_totals",
    metadata,
    Column("dim", String(32), primary_key=True),
    Column("key", Text, primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("first_ts", UTCDateTime(), nullable=False),
    Column("last_ts", UTCDateTime(), nullable=False),
    Index("ix_intel_totals_dim_count", "dim", "count"),
)

#: Facets of one subject (an address or a number): which user agents, accounts, passwords, numbers,
#: sensors, days... with counts and first/last times. A dossier is one indexed read of these rows.
intel_facets = Table(
    "intel_facets",
    metadata,
    Column("subject", String(80), primary_key=True),  # "ip:192.0.2.1" or "num:+2314599711"
    Column("facet", String(32), primary_key=True),
    Column("value", Text, primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("first_ts", UTCDateTime(), nullable=False),
    Column("last_ts", UTCDateTime(), nullable=False),
    Index("ix_intel_facets_facet_value", "facet", "value"),
)

#: Who owns a network (the ownership cache, migration 0004): filled from RDAP by `intel.rdap_refresh`,
#: read by `intel.owner_cache.StoreOwnership`. One row per CIDR block; an RDAP range that is not one
#: block is stored as the blocks that make it up, all with the same handle.
intel_owners = Table(
    "intel_owners",
    metadata,
    Column("network", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("prefixlen", Integer, nullable=False),
    Column("handle", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("org", Text, nullable=False),
    Column("asn", BigInteger),
    Column("country", String(8)),
    Column("abuse_email", Text),
    Column("source", Text, nullable=False),  # the RDAP URL that answered
    Column("fetched_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

#: The outcome of the last ownership lookup per address, so that failures and unknown addresses are
#: asked again only after `retry_at`, not on every refresh.
intel_owner_lookups = Table(
    "intel_owner_lookups",
    metadata,
    Column("ip", String(64), primary_key=True),
    Column("status", String(16), nullable=False),  # found, missing, error
    Column("network", String(64)),
    Column("detail", Text, nullable=False),
    Column("checked_at", UTCDateTime(), nullable=False),
    Column("retry_at", UTCDateTime(), nullable=False),
)
