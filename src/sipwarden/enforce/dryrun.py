"""Dry-run backend: remembers and logs what it would ban, touches no firewall (trying a config)."""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterable
from datetime import datetime

from sipwarden.enforce.backend import Ban, Target, make_ban
from sipwarden.events import utcnow

log = logging.getLogger(__name__)


class DryRunBackend:
    """Bans kept in memory only."""

    name = "dry-run"

    def __init__(self) -> None:
        self._bans: dict[str, Ban] = {}

    def setup(self) -> None:
        """Nothing to create."""

    def ban(self, target: str | Target, until: datetime | None) -> None:
        """Record a ban."""
        self.ban_many([make_ban(target, until)])

    def unban(self, target: str | Target) -> None:
        """Forget a ban."""
        ban = make_ban(target)
        if self._bans.pop(ban.value, None) is not None:
            log.info("dry-run: would unban %s", ban.value)

    def ban_many(self, bans: Iterable[Ban]) -> int:
        """Record many bans."""
        n = 0
        for ban in bans:
            self._bans[ban.value] = ban
            log.info("dry-run: would ban %s until %s", ban.value, ban.until)
            n += 1
        return n

    def reconcile(self, active: Iterable[Ban]) -> int:
        """Hold exactly `active`."""
        self._bans = {b.value: b for b in active}
        return len(self._bans)

    def list(self) -> builtins.list[Ban]:
        """Bans not yet expired."""
        now = utcnow()
        return [b for b in self._bans.values() if b.until is None or b.until > now]
