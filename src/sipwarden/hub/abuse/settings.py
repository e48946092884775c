"""Settings of the abuse desk (`[hub.abuse]`)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from sipwarden.settings_base import Section


class AbuseSettings(Section):
    """`[hub.abuse]`: where ownership comes from, how networks are judged, how reports are mailed."""

    rdap_bootstrap_url: str = Field(
        default="https://data.iana.org/rdap/",
        description="Base URL of the IANA RDAP bootstrap files ipv4.json and ipv6.json (RFC 9224).",
    )
    rdap_base_url: str = Field(
        default="",
        description="Ask this RDAP server for every address instead of the one the bootstrap names (a mirror or redirector).",
    )
    rdap_timeout_seconds: float = Field(default=15.0, gt=0, le=300, description="Timeout of one RDAP request.")
    rdap_cache_days: float = Field(
        default=30.0, gt=0, le=3650, description="Days a network's owner is kept before it is asked again."
    )
    rdap_missing_retry_hours: float = Field(
        default=168.0, gt=0, le=87600, description="Hours before an address no registry knows is asked again."
    )
    rdap_error_retry_hours: float = Field(
        default=6.0, gt=0, le=8760, description="Hours before a failed lookup is tried again."
    )
    rdap_max_lookups: int = Field(
        default=500, ge=1, le=100_000, description="Most RDAP queries one refresh run makes (the rest wait)."
    )
    rdap_interval_seconds: float = Field(
        default=1.0, ge=0, le=60, description="Pause between RDAP queries (registries rate-limit bursts)."
    )
    quiet_days: float = Field(
        default=7.0,
        gt=0,
        le=365,
        description="Days a network must stay quiet after a report to count as one that acts.",
    )
    grace_hours: float = Field(
        default=24.0,
        ge=0,
        le=720,
        description="Hours an abuse desk is given after a report before new attacks count against it.",
    )
    report_again_days: float = Field(
        default=30.0, gt=0, le=3650, description="Days before the same address is reported again."
    )
    max_drafts: int = Field(default=200, ge=1, le=100_000, description="Most reports one drafting run prepares.")
    evidence_lines: int = Field(
        default=50, ge=1, le=10_000, description="Most evidence lines (newest events) in one report."
    )
    reporter: str = Field(
        default="sipwarden hub", description="Who reports, as named in the report's greeting and signature."
    )
    from_address: str = Field(
        default="",
        pattern=r"^$|^[^@\s<>,;\"]+@[^@\s<>,;\"]+$",
        description="Sender address of reports (also X-ARF Reported-From); required to draft and send.",
    )
    tlp: str = Field(
        default="green",
        pattern="^(white|green|amber|red)$",
        description="Traffic Light Protocol label of the reports (who may the recipient share them with).",
    )
    smtp_enabled: bool = Field(
        default=False, description="Send approved reports by SMTP; while false nothing is ever sent."
    )
    smtp_host: str = Field(default="localhost", description="SMTP server (submission or relay).")
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP port (587 submission, 25 relay).")
    smtp_starttls: bool = Field(
        default=True, description="Upgrade the SMTP connection with STARTTLS (RFC 3207) before anything else."
    )
    smtp_user: str = Field(default="", description="SMTP login (empty: no authentication).")
    smtp_password: SecretStr = Field(default=SecretStr(""), description="SMTP password.")
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, le=600, description="Timeout of one SMTP session.")
    smtp_max_attempts: int = Field(
        default=8,
        ge=1,
        le=1000,
        description="Failed sends retried automatically (with growing pauses) before a report waits for an admin.",
    )
