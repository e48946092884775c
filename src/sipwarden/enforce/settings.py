"""`[enforce]`: which firewall carries the bans, and how."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sipwarden.settings_base import Section

BackendName = Literal["nft", "ipset", "iptables", "dry-run"]


class EnforceSettings(Section):
    """`[enforce]`: the ban backend and its names in the kernel."""

    backend: BackendName = Field(
        default="nft", description="Ban backend: nft (nftables, default), ipset (ipset + iptables), iptables, dry-run."
    )
    table: str = Field(
        default="sipwarden",
        pattern=r"^[A-Za-z][A-Za-z0-9_]{0,29}$",
        description="Name of the nftables table (inet family), the ipset sets and the iptables chain.",
    )
    flush_conntrack: bool = Field(
        default=True, description="Also delete the conntrack entries of a banned address (conntrack -D -s IP)."
    )
    protect_own_addresses: bool = Field(
        default=True, description="Never ban the addresses configured on this machine's interfaces."
    )
    reconcile_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How often a running Guard picks up bans added or lifted in the store by others "
        "(sipwarden bans, the dashboard, another process); 0 turns it off.",
    )
