"""The `[cdr]` (where call records come from) and `[fraud]` (what looks like toll fraud) sections."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from sipwarden.settings_base import Section

_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (an IANA name such as 'Europe/Paris')") from None
    return value


class CdrSettings(Section):
    """Call-detail-record files that `sipwarden run` follows."""

    enabled: bool = Field(default=False, description="Follow the CDR files from `sipwarden run`.")
    paths: list[str] = Field(
        default_factory=list, description="CDR files or glob patterns (Asterisk Master.csv, FreeSWITCH CSV/JSON)."
    )
    format: str = Field(
        default="auto",
        pattern="^(auto|asterisk-csv|asterisk-custom|freeswitch-csv|freeswitch-json)$",
        description="Record format; auto detects it from the first record of each file.",
    )
    timezone: str = Field(default="UTC", description="Time zone of CDR times written without one (local PBX time).")
    custom_columns: list[str] = Field(
        default_factory=lambda: [
            "clid", "src", "dst", "dcontext", "channel", "dstchannel", "lastapp", "lastdata", "start",
            "answer", "end", "duration", "billsec", "disposition", "amaflags", "accountcode", "uniqueid",
            "userfield", "-",
        ],
        description="Column order of Asterisk cdr_custom files (the default cdr_custom.conf mapping); '-' skips.",
    )  # fmt: skip
    poll_seconds: float = Field(default=1.0, gt=0, le=60, description="How often followed files are checked.")
    state_file: str = Field(
        default="", description="Where read positions are saved; empty means <data_dir>/cdr-positions.json."
    )

    _zone = field_validator("timezone")(_check_zone)


class AmiSettings(Section):
    """An Asterisk Manager Interface action run when an alert fires."""

    enabled: bool = Field(default=False, description="Run the AMI action on each alert.")
    host: str = Field(default="127.0.0.1", description="AMI host (manager.conf bindaddr).")
    port: int = Field(default=5038, ge=1, le=65535, description="AMI TCP port.")
    username: str = Field(default="", description="AMI user (a [section] of manager.conf).")
    secret: str = Field(default="", description="AMI secret of that user.")
    action: str = Field(
        default="hangup",
        pattern="^(hangup|command)$",
        description="hangup: hang up every channel of the account; command: run `command` on the CLI.",
    )
    command: str = Field(
        default="", description="CLI command for action=command; {account} is replaced by the account."
    )
    timeout_seconds: float = Field(default=5.0, gt=0, le=60, description="Give up on AMI after this long.")


class FraudSettings(Section):
    """Toll-fraud rules on call records, and what to do when one fires."""

    home_country: str = Field(
        default="US", pattern="^[A-Z]{2}$", description="ISO country of the PBX: national dialling is read from here."
    )
    outside_line_prefixes: list[str] = Field(
        default_factory=list, description="Digits dialled to get an outside line (e.g. '9'), stripped before parsing."
    )
    risk_alert_min: str = Field(
        default="high", pattern="^(medium|high)$", description="Lowest IRSF risk class that alerts on the first call."
    )
    timezone: str = Field(default="UTC", description="Time zone of the business hours.")
    business_hours: str = Field(default="07:00-20:00", description="Office hours as HH:MM-HH:MM (local time).")
    business_days: list[int] = Field(
        default_factory=lambda: [1, 2, 3, 4, 5], description="Office days, ISO numbering (1 Monday ... 7 Sunday)."
    )
    after_hours_scope: str = Field(
        default="international",
        pattern="^(international|all)$",
        description="Which outside-hours calls alert: international (and premium) ones, or all outbound.",
    )
    burst_window_seconds: int = Field(default=600, gt=0, description="Window for counting an account's call burst.")
    burst_min_calls: int = Field(default=20, gt=1, description="A burst needs at least this many calls in the window.")
    burst_factor: float = Field(default=5.0, gt=1, description="... and this many times the account's usual rate.")
    concurrency_min: int = Field(default=6, gt=1, description="Simultaneous calls of one account that may alert.")
    concurrency_factor: float = Field(default=3.0, gt=1, description="... when this many times its usual peak.")
    short_call_seconds: int = Field(default=10, ge=0, description="An international call this short is a test call.")
    short_series_calls: int = Field(default=4, gt=1, description="This many short international calls ...")
    short_series_window_seconds: int = Field(default=900, gt=0, description="... within this window alert.")
    new_country_min_history: int = Field(
        default=30, ge=0, description="Calls an account must have made before a new country is news."
    )
    rates: dict[str, float] = Field(
        default_factory=lambda: {"1": 0.01},
        description="Price per minute by E.164 prefix (digits, longest wins); the currency is `currency`.",
    )
    default_international_rate: float = Field(
        default=0.5, ge=0, description="Price per minute of international calls not in `rates`."
    )
    budget: float = Field(default=100.0, gt=0, description="Estimated spend of one account per budget window.")
    budget_window_seconds: int = Field(default=86400, gt=0, description="Window of the budget (seconds).")
    currency: str = Field(default="USD", description="Currency of rates and budget, for the reports.")
    alert_cooldown_seconds: int = Field(
        default=3600, ge=0, description="One alert per account and reason in this time; later calls join it."
    )
    ban_seconds: int = Field(default=86400, ge=0, description="How long the calls' source addresses are banned.")
    notify_urls: list[str] = Field(default_factory=list, description="Apprise URLs alerts are sent to.")
    command: list[str] = Field(
        default_factory=list,
        description="Command run on each alert as argv (no shell); {account} {reason} {ips} are replaced.",
    )
    webhook_url: str = Field(default="", description="URL the alert JSON is POSTed to.")
    ami: AmiSettings = AmiSettings()

    _zone = field_validator("timezone")(_check_zone)

    @field_validator("business_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        if not _HOURS.match(value):
            raise ValueError("business hours must look like 08:00-18:00")
        return value

    @field_validator("business_days")
    @classmethod
    def _days(cls, value: list[int]) -> list[int]:
        if any(not 1 <= d <= 7 for d in value):
            raise ValueError("business days are 1 (Monday) to 7 (Sunday)")
        return value

    @field_validator("rates")
    @classmethod
    def _rates(cls, value: dict[str, float]) -> dict[str, float]:
        for prefix, price in value.items():
            if not prefix.isdigit():
                raise ValueError(f"rate prefix {prefix!r} must be E.164 digits without '+'")
            if price < 0:
                raise ValueError(f"rate of {prefix!r} must not be negative")
        return value

    @field_validator("outside_line_prefixes")
    @classmethod
    def _outside(cls, value: list[str]) -> list[str]:
        if any(not p.isdigit() for p in value):
            raise ValueError("outside-line prefixes are digits")
        return value
