"""Extension enumeration: one source trying many distinct usernames (svwar, `REGISTER` 100..999)."""

from __future__ import annotations

from datetime import datetime

from sipwarden.detect.durations import Rate, format_duration
from sipwarden.detect.rules.base import Finding, SourceView
from sipwarden.events import Event

#: Kinds that name the account a source tried.
USERNAME_KINDS = frozenset({"auth_failure", "unknown_user", "register"})


class Enumeration:
    """Ban a source that tried `rate.count` distinct usernames without pausing longer than the window."""

    windows: tuple[float, ...] = ()

    def __init__(self, rate: Rate) -> None:
        self.rate = rate

    def observe(self, event: Event, source: SourceView) -> list[Finding]:
        """Report when the distinct usernames of the source reach the limit."""
        if event.kind not in USERNAME_KINDS or not event.username:
            return []
        users = source.usernames()
        if not source.over(len(users), self.rate.count):
            return []
        return [
            Finding(
                scenario="enumeration",
                reason=f"{len(users)} distinct usernames tried (limit {self.rate.count} without a pause of "
                f"{format_duration(self.rate.seconds)}): {', '.join(users[:8])}{' ...' if len(users) > 8 else ''}",
            )
        ]

    def expire(self, now: datetime) -> None:
        """Usernames are kept (and reset after a pause) by the source table."""
