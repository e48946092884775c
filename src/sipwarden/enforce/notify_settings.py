"""`[notify]`: where a readable summary of every ban is sent (mail, chat, webhook)."""

from __future__ import annotations

from pydantic import Field

from sipwarden.settings_base import Section


class NotifySettings(Section):
    """`[notify]`: Apprise URLs and what to send."""

    urls: list[str] = Field(
        default_factory=list,
        description="Apprise URLs (mailto://, slack://, msteams://, json://host/path...); empty: no notifications.",
    )
    actions: list[str] = Field(
        default_factory=lambda: ["ban", "watch", "notice"], description="Decision actions that are notified."
    )
    evidence_lines: int = Field(
        default=5, ge=0, le=50, description="Log lines or messages quoted as evidence in each notification."
    )
