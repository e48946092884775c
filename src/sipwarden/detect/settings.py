"""`[detect]`: thresholds of the detection rules, trust learning and ban lengths."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import AfterValidator, Field

from sipwarden.detect.durations import parse_duration, parse_rate
from sipwarden.settings_base import Section


def _rate(value: str) -> str:
    parse_rate(value)
    return value


def _duration(value: str) -> str:
    parse_duration(value)
    return value


def _cidr(value: str) -> str:
    ipaddress.ip_network(value, strict=False)
    return value


RateText = Annotated[str, AfterValidator(_rate)]
DurationText = Annotated[str, AfterValidator(_duration)]
CidrText = Annotated[str, AfterValidator(_cidr)]


class DetectSettings(Section):
    """`[detect]`: when a source is banned, for how long, and whom never to ban."""

    bruteforce: list[RateText] = Field(
        default_factory=lambda: ["5/1m", "20/1h", "50/24h"],
        description="Failed authentications per source, COUNT/DURATION; any one crossed bans the source. "
        "The long windows catch slow guessing (one try every few minutes for hours).",
    )
    enumeration: RateText = Field(
        default="10/10m", description="Distinct usernames tried by one source (extension scanning)."
    )
    attack_tools: bool = Field(default=True, description="Ban on the first request from a known attack tool.")
    international_calls: RateText = Field(
        default="3/1h", description="Rejected calls to international numbers per source (dial-plan probing)."
    )
    prefix_variants: int = Field(
        default=3, ge=2, description="Distinct dial prefixes (00, 9, 9011...) in front of one number from one source."
    )
    prefix_window: DurationText = Field(default="1h", description="Window in which prefix variants are counted.")
    international_prefixes: list[str] = Field(
        default_factory=lambda: ["+", "00", "011"],
        description="Dialled strings starting with one of these (after a dial-out digit) are international.",
    )
    home_country: str = Field(
        default="", description="ISO country of this PBX; calls to another country count as international."
    )
    flood: RateText = Field(default="300/10s", description="Requests of any kind from one source (floods).")
    distributed: RateText = Field(
        default="10/1h", description="Distinct sources failing one account (distributed brute force)."
    )
    distributed_range_ban: bool = Field(
        default=False, description="Also ban the /24 (IPv4) or /64 (IPv6) of every source of a distributed attack."
    )
    honeypot_contact: bool = Field(default=True, description="Ban any source that contacts the honeypot.")
    ban_time: DurationText = Field(default="1h", description="Length of a first ban.")
    repeat_factor: float = Field(
        default=2.0, ge=1.0, description="Each earlier ban of the same address multiplies the ban time by this."
    )
    max_ban_time: DurationText = Field(default="30d", description="Upper bound of a ban, however often repeated.")
    trust_window: DurationText = Field(
        default="7d", description="A source with a successful login within this time is trusted (an office NAT)."
    )
    trust_factor: float = Field(
        default=5.0, ge=1.0, description="Thresholds for trusted sources are multiplied by this."
    )
    notice_time: DurationText = Field(
        default="1h", description="A misconfigured-device notice is not repeated for the same source within this."
    )
    allowlist: list[CidrText] = Field(
        default_factory=list, description="Addresses and CIDR ranges never banned (your customers, your trunks)."
    )
    max_sources: int = Field(
        default=2_000_000, ge=1000, description="Sources tracked at once; the oldest are forgotten beyond it."
    )
