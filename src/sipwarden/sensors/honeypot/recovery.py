"""Events held back while the password behind refused credentials is searched for.

A search that did not finish while answering (auth.MAX_TRIES_PER_REQUEST) goes on from the timer in
slices; its event is emitted when the password is found, the candidates or the source's budget run
out, or after MAX_HOLD_SECONDS at most, so detection never waits long for evidence.
"""

from __future__ import annotations

from collections import deque
from typing import Final

from sipwarden.events import Event
from sipwarden.sensors.honeypot.auth import Authenticator, Search

#: Events held at once; beyond this, events go out at once without the password.
MAX_PENDING_RECOVERIES: Final = 100
#: Longest an event waits for its password.
MAX_HOLD_SECONDS: Final = 60.0
#: Guesses per timer tick (~30 ms of CPU every 0.5 s), and per held event before the next one's turn.
RECOVERY_TRIES_PER_TICK: Final = 20_000
RECOVERY_SLICE: Final = 5_000


class HeldEvents:
    """Refusal events waiting for their password search, served round-robin."""

    def __init__(self, auth: Authenticator) -> None:
        self.auth = auth
        self._held: deque[tuple[Event, Search, float]] = deque()

    def hold(self, event: Event, search: Search, now: float) -> bool:
        """Keep `event` until its search ends; False (not held) when the queue is full."""
        if len(self._held) >= MAX_PENDING_RECOVERIES:
            return False
        self._held.append((event, search, now))
        return True

    def resume(self, now: float) -> list[Event]:
        """Spend this tick's guesses; the events whose search ended or whose hold time is up."""
        out: list[Event] = []
        for item in [h for h in self._held if now - h[2] >= MAX_HOLD_SECONDS]:
            self._held.remove(item)
            out.append(item[0])
        budget = RECOVERY_TRIES_PER_TICK
        for _ in range(len(self._held) * 2 + RECOVERY_TRIES_PER_TICK // RECOVERY_SLICE):
            if not self._held or budget <= 0:
                break
            event, search, _ = self._held[0]
            found, finished = self.auth.resume(search, min(budget, RECOVERY_SLICE))
            budget -= RECOVERY_SLICE
            if not finished:
                self._held.rotate(-1)
                continue
            self._held.popleft()
            if found is not None:
                event = event.replace(password=found, detail={**event.detail, "recovered_by": "search"})
            out.append(event)
        return out

    def release_all(self) -> list[Event]:
        """Every held event as it is (shutdown)."""
        out = [event for event, _, _ in self._held]
        self._held.clear()
        return out

    def __len__(self) -> int:
        return len(self._held)
