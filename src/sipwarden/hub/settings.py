"""Settings of the hub (`[hub]`): the shared blocklist service."""

from __future__ import annotations

from pydantic import Field

from sipwarden.hub.abuse.settings import AbuseSettings
from sipwarden.settings_base import Section


class HubSettings(Section):
    """`[hub]`: listing policy, limits and who may read without a key."""

    listen: str = Field(default="127.0.0.1:8081", description="HOST:PORT the hub serves on.")
    anonymous_read: list[str] = Field(
        default=["127.0.0.0/8", "::1/128"],
        description="Networks that may read feeds without a key (empty: every read needs a key).",
    )
    allowlist: list[str] = Field(
        default=[],
        description="The operator's networks that are never listed (added to the built-in reserved ranges).",
    )
    reporters_to_list: float = Field(
        default=3.0,
        gt=0,
        le=1000,
        description="Summed reporter trust (1 per untrusted sensor key) that lists an address without trusted evidence.",
    )
    untrusted_weight: float = Field(
        default=1.0, gt=0, le=100, description="Weight of one untrusted sensor key's evidence."
    )
    listing_days: float = Field(
        default=7.0, gt=0, le=3650, description="Days an address stays listed after its last evidence."
    )
    max_body_bytes: int = Field(
        default=4_000_000, ge=1024, le=100_000_000, description="Largest request body the hub reads (bytes)."
    )
    max_batch_events: int = Field(
        default=5000, ge=1, le=100_000, description="Most events or decisions one POST may carry."
    )
    rate_per_second: float = Field(
        default=1000.0,
        gt=0,
        le=1_000_000,
        description="Events or decisions per second each key may submit (per hub process).",
    )
    rate_burst: int = Field(
        default=10_000,
        ge=1,
        le=10_000_000,
        description="Events or decisions a key may send at once before the rate applies.",
    )
    change_log_days: float = Field(
        default=30.0,
        gt=0,
        le=3650,
        description="Days a listing change stays in the change log; a client whose cursor is older reads the whole list.",
    )
    stream_poll_seconds: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="How often the event stream looks for changes when the store cannot notify.",
    )
    abuse: AbuseSettings = Field(
        default=AbuseSettings(), description="`[hub.abuse]`: network owners, the scoreboard, abuse reports."
    )
