"""A sans-I/O parser of server-sent events (HTML Living Standard, "Parsing an event stream").

Feed it text lines as they arrive; it returns the complete messages. No sockets, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

#: Bound on one message's data: a hub Decision record is well under 64 KiB.
MAX_DATA_CHARS: Final = 1 << 20


class SseProtocolError(Exception):
    """The server sent a stream we refuse to buffer (an over-long message)."""


@dataclass(frozen=True, slots=True)
class SseMessage:
    """One dispatched message: `event` type (default "message"), `data`, and the last `id` seen."""

    event: str
    data: str
    id: str | None


@dataclass(slots=True)
class SseParser:
    """Turns lines of an event stream into SseMessages; `last_id` survives between messages."""

    last_id: str | None = None
    _event: str = ""
    _data: list[str] = field(default_factory=list)
    _size: int = 0

    def feed_line(self, line: str) -> SseMessage | None:
        """Consume one line (without its end-of-line); return a message when a blank line ends one."""
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):  # a comment (keep-alive)
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._size += len(value) + 1
            if self._size > MAX_DATA_CHARS:
                self._reset()
                raise SseProtocolError(f"an event's data exceeds {MAX_DATA_CHARS} characters")
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\x00" not in value:
            self.last_id = value
        return None  # `retry` and unknown fields are ignored

    def _dispatch(self) -> SseMessage | None:
        if not self._data:
            self._event = ""
            return None
        msg = SseMessage(event=self._event or "message", data="\n".join(self._data), id=self.last_id)
        self._reset()
        return msg

    def _reset(self) -> None:
        self._event = ""
        self._data = []
        self._size = 0
