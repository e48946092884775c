"""STIX 2.1: a bundle with one indicator per listed address (OASIS STIX 2.1, sections 4 and 9)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, Final

from sipwarden.hub.formats.base import FeedData, is_v6

#: Namespace of the hub's deterministic indicator ids: one address listing keeps one id.
STIX_NAMESPACE: Final = uuid.UUID("6b1d3c52-7d0e-4b9a-9a84-0f2b6c1e5a17")


def _stix_ts(ts: datetime) -> str:
    # STIX timestamps are RFC 3339 UTC with a Z, milliseconds allowed (section 3.2).
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


class StixFormat:
    """A STIX 2.1 bundle of indicators with `[ipv4-addr:value = '...']` patterns."""

    name: Final = "stix"
    media_type: Final = "application/stix+json;version=2.1"

    def render(self, feed: FeedData) -> str:
        """The bundle as JSON."""
        objects: list[dict[str, Any]] = []
        for item in feed.load_listings():
            kind = "ipv6-addr" if is_v6(item.ip) else "ipv4-addr"
            created = _stix_ts(item.first_seen)
            objects.append(
                {
                    "type": "indicator",
                    "spec_version": "2.1",
                    "id": f"indicator--{uuid.uuid5(STIX_NAMESPACE, item.decision_id)}",
                    "created": created,
                    "modified": _stix_ts(max(item.last_evidence, item.first_seen)),
                    "name": f"SIP attacker {item.ip}",
                    "description": item.reason,
                    "indicator_types": ["malicious-activity"],
                    "pattern": f"[{kind}:value = '{item.ip}']",
                    "pattern_type": "stix",
                    "valid_from": created,
                    "valid_until": _stix_ts(item.expires_at),
                    "labels": ["voip", "sip"],
                }
            )
        # One cursor, one bundle id: the same list renders the same bytes on every hub process.
        bundle = {
            "type": "bundle",
            "id": f"bundle--{uuid.uuid5(STIX_NAMESPACE, f'cursor:{feed.cursor}')}",
            "objects": objects,
        }
        return json.dumps(bundle, separators=(",", ":"))
