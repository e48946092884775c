"""Settings of the PBX log sensors (`[logs]`)."""

from __future__ import annotations

from datetime import tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from sipwarden.settings_base import Section


class LogsSettings(Section):
    """`[logs]`: which PBX logs `sipwarden run` follows and how their lines are read."""

    enabled: bool = Field(default=False, description="Follow PBX logs from `sipwarden run`.")
    paths: list[str] = Field(
        default_factory=list,
        description="Log files (glob patterns allowed) and journald units as 'journal:UNIT'.",
    )
    format: str = Field(
        default="auto",
        pattern="^(auto|asterisk|freeswitch|kamailio|opensips)$",
        description="Log format; 'auto' detects it per file from the first lines.",
    )
    timezone: str = Field(
        default="UTC", description="IANA zone of log times written without a zone (e.g. 'Europe/Berlin')."
    )
    poll_interval: float = Field(
        default=0.05, gt=0, le=5, description="Seconds between checks for new lines (latency of a ban)."
    )
    from_start: bool = Field(
        default=False, description="Without a saved position, read existing files from the start (else from the end)."
    )
    state_file: str = Field(
        default="", description="Where read positions are kept; empty means <data_dir>/logs-state.json."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    def zone(self) -> tzinfo:
        """The zone object of `timezone`."""
        return ZoneInfo(self.timezone)
