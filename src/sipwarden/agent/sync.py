"""Catching up with a hub after a disconnect: the net changes since the kept cursor, or a snapshot.

On (re)connecting, the agent asks `GET /v1/blocklist?format=json&since=CURSOR` for what changed since
the cursor it kept, net of itself (an address listed and delisted while we were away is neither).
When it has no cursor yet, when the answer says there is `more` than one page (a long disconnect:
replaying tens of thousands of changes costs more than reading the list), or when the hub no longer
keeps changes that old (410 Gone), it reads the whole list (`GET /v1/blocklist?format=json`) and
reconciles: everything listed is enforced, hub bans the list no longer holds are lifted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import httpx

from sipwarden.events import Decision, parse_ts

#: Statuses that mean "your cursor is older than the change log kept here: take a snapshot".
SNAPSHOT_STATUSES: Final = frozenset({404, 410})
#: Scenario of hub decisions rebuilt from a feed (the stream sends the hub's own).
HUB_SCENARIO: Final = "sipwarden/hub-blocklist"


class SyncError(Exception):
    """The hub's answer cannot be used (status or shape); the agent retries later."""


@dataclass(frozen=True, slots=True)
class CatchUp:
    """What to apply after a disconnect: `added` decisions, `removed` addresses, the new cursor.

    `snapshot` True: `added` is the whole list, and hub bans not in it must be lifted.
    """

    cursor: str
    added: list[Decision]
    removed: list[str]
    snapshot: bool


def listing_decision(item: dict[str, Any]) -> Decision:
    """A hub listing (the JSON feed's item) as the Decision the stream would have sent."""
    return Decision(
        id=str(item["decision_id"]),
        ts=parse_ts(item["last_evidence"]),
        scope="ip",
        value=str(item["ip"]),
        action="ban",
        scenario=HUB_SCENARIO,
        reason=str(item.get("reason", "")),
        until=parse_ts(item["expires_at"]),
        origin="hub",
    )


def delisting(ip: str, now: Any) -> Decision:
    """A `deleted` decision for an address the hub no longer lists."""
    return Decision(ts=now, scope="ip", value=ip, action="ban", scenario=HUB_SCENARIO, reason="delisted")


async def fetch_catch_up(client: httpx.AsyncClient, base: str, headers: dict[str, str], cursor: str | None) -> CatchUp:
    """The changes since `cursor`, or a snapshot when there is no cursor or too much to replay."""
    if cursor is not None and cursor.isdigit():
        response = await client.get(f"{base}/v1/blocklist", params={"format": "json", "since": cursor}, headers=headers)
        if response.status_code not in SNAPSHOT_STATUSES:
            delta = _json(response)
            if not delta.get("more"):
                try:
                    added = [listing_decision(item) for item in delta.get("added", [])]
                    removed = [str(ip) for ip in delta.get("removed", [])]
                    return CatchUp(str(int(delta["cursor"])), added, removed, snapshot=False)
                except (KeyError, TypeError, ValueError) as exc:
                    raise SyncError(f"malformed change list: {exc}") from None
    response = await client.get(f"{base}/v1/blocklist", params={"format": "json"}, headers=headers)
    feed = _json(response)
    try:
        added = [listing_decision(item) for item in feed["addresses"]]
        return CatchUp(str(int(feed["cursor"])), added, [], snapshot=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise SyncError(f"malformed blocklist: {exc}") from None


def _json(response: httpx.Response) -> dict[str, Any]:
    if not response.is_success:
        raise SyncError(f"hub answered {response.status_code}: {response.text[:500]}")
    try:
        data = response.json()
    except ValueError as exc:
        raise SyncError(f"hub answered with no JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SyncError("hub answered with something other than a JSON object")
    return data
