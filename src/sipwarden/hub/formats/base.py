"""The one Protocol every feed format implements, and the data a feed is rendered from."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sipwarden.hub.repo import Listing


@dataclass(frozen=True, slots=True)
class FeedData:
    """A snapshot of the list: addresses in change order, details loaded only by formats that need them."""

    ips: Sequence[str]
    load_listings: Callable[[], Sequence[Listing]]
    generated: datetime
    cursor: int


class FeedFormat(Protocol):
    """A feed format: a name (`?format=`), a media type, and a renderer."""

    @property
    def name(self) -> str:
        """The `?format=` value."""
        ...

    @property
    def media_type(self) -> str:
        """The Content-Type of the rendered feed."""
        ...

    def render(self, feed: FeedData) -> str:
        """The whole feed as text."""
        ...


def split_families(ips: Sequence[str]) -> tuple[list[str], list[str]]:
    """IPv4 and IPv6 addresses, each in the given order (stored text is canonical already)."""
    v4 = [ip for ip in ips if ":" not in ip]
    v6 = [ip for ip in ips if ":" in ip]
    return v4, v6


def is_v6(ip: str) -> bool:
    """True for IPv6 text (canonical text has a colon only then)."""
    return ":" in ip
