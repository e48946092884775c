"""Settings of the investigation dashboard (`[ui]`)."""

from __future__ import annotations

from pydantic import Field

from sipwarden.settings_base import Section


class UiSettings(Section):
    """`[ui]`: who may read and act on the dashboard under /ui/."""

    admin_user: str = Field(
        default="admin", min_length=1, max_length=64, description="Name of the configured administrator."
    )
    admin_password_hash: str = Field(
        default="",
        description="scrypt hash of the administrator's password (`sipwarden ui hash-password`); empty: only users "
        "created with `sipwarden ui add-user` can log in.",
    )
    open_on_loopback: bool = Field(
        default=True,
        description="Read-only pages need no login for clients on 127.0.0.0/8 or ::1 (behind a reverse proxy on the "
        "same host every client looks local: set false there). Actions always need a login.",
    )
    session_hours: float = Field(default=12.0, gt=0, le=720, description="Hours a login stays valid.")
    refresh_max_events: int = Field(
        default=50_000,
        ge=0,
        le=10_000_000,
        description="Most new events a page view folds into the aggregates before answering (0: never; then run "
        "`sipwarden report summary` or the daemon's refresher).",
    )
