"""Plain text, JSON and CSV feeds."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Final

from sipwarden.hub.formats.base import FeedData
from sipwarden.hub.repo import Listing


def _iso(ts: Any) -> str:
    return str(ts.isoformat().replace("+00:00", "Z"))


def listing_dict(item: Listing) -> dict[str, Any]:
    """The JSON shape of one listed address (feeds and the check endpoint share it)."""
    return {
        "ip": item.ip,
        "listed": item.listed,
        "reason": item.reason,
        "score": item.score,
        "reporters": item.reporters,
        "events": item.events,
        "first_seen": _iso(item.first_seen),
        "last_evidence": _iso(item.last_evidence),
        "expires_at": _iso(item.expires_at),
        "decision_id": item.decision_id,
        "cursor": item.seq,
    }


class PlainFormat:
    """One address per line: what most scripts and firewalls read."""

    name: Final = "plain"
    media_type: Final = "text/plain; charset=utf-8"

    def render(self, feed: FeedData) -> str:
        """Addresses, one per line."""
        return "".join(ip + "\n" for ip in feed.ips)


class JsonFormat:
    """Every listed address with its evidence summary."""

    name: Final = "json"
    media_type: Final = "application/json"

    def render(self, feed: FeedData) -> str:
        """`{"generated", "cursor", "count", "addresses": [...]}`."""
        items = [listing_dict(item) for item in feed.load_listings()]
        body = {"generated": _iso(feed.generated), "cursor": feed.cursor, "count": len(items), "addresses": items}
        return json.dumps(body, separators=(",", ":"))


#: CSV columns, in order.
CSV_COLUMNS: Final = ("ip", "first_seen", "last_evidence", "expires_at", "reporters", "score", "reason")


class CsvFormat:
    """A spreadsheet-friendly table (RFC 4180)."""

    name: Final = "csv"
    media_type: Final = "text/csv; charset=utf-8"

    def render(self, feed: FeedData) -> str:
        """A header row, then one row per address."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for item in feed.load_listings():
            row = listing_dict(item)
            # A leading = + - @ makes spreadsheets run the cell as a formula (CSV injection): quote it.
            reason = row["reason"]
            if reason[:1] in ("=", "+", "-", "@"):
                reason = "'" + reason
            writer.writerow(
                [
                    row["ip"],
                    row["first_seen"],
                    row["last_evidence"],
                    row["expires_at"],
                    row["reporters"],
                    row["score"],
                    reason,
                ]
            )
        return out.getvalue()
