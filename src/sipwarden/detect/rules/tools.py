"""Known attack tools (SIPVicious, sipcli, SIPScan...): named by the sensor, or by their User-Agent.

A User-Agent is caller-controlled text, so it only ever *names* a tool; the banned address still
comes from what the PBX itself wrote. The signatures are data, each proven by sample User-Agents
(tests/detect/test_rules.py), like fail2ban's labelled samples.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

from sipwarden.detect.rules.base import Finding, SourceView
from sipwarden.events import Event

#: (tool name, User-Agent regex, sample User-Agents). Case-insensitive, searched anywhere in the UA.
TOOL_SIGNATURES: Final[tuple[tuple[str, str, tuple[str, ...]], ...]] = (
    ("sipvicious", r"friendly-scanner|sipvicious", ("friendly-scanner", "sipvicious 0.3.4")),
    ("sipcli", r"\bsipcli\b", ("sipcli/v1.8",)),
    ("sipscan", r"\bsip-?scan\b", ("sip-scan", "SIPScan 1.0")),
    ("sundayddr", r"sundayddr", ("sundayddr",)),
    ("pplsip", r"\bpplsip\b", ("pplsip",)),
    ("vaxsip", r"vaxsipuseragent", ("VaxSIPUserAgent/3.1",)),
    ("iwar", r"\biwar\b", ("iWar",)),
    ("sipsak-scan", r"^sip-?sak\b.*scan", ("sipsak 0.9.8 scan",)),
)
_COMPILED: Final = tuple((name, re.compile(rx, re.IGNORECASE)) for name, rx, _ in TOOL_SIGNATURES)
#: Only the start of a User-Agent is searched (bounded work per event on hostile input).
MAX_UA_CHARS: Final = 256


def tool_of(event: Event) -> str | None:
    """The attack tool behind `event`: the sensor's verdict, else a User-Agent signature."""
    if event.tool:
        return event.tool
    ua = (event.user_agent or "")[:MAX_UA_CHARS]
    if ua:
        for name, rx in _COMPILED:
            if rx.search(ua):
                return name
    return None


class AttackTool:
    """Ban on the first event from a known tool: no legitimate phone calls itself friendly-scanner."""

    windows: tuple[float, ...] = ()

    def observe(self, event: Event, source: SourceView) -> list[Finding]:
        """Report any event from a recognised tool."""
        tool = tool_of(event)
        if tool is None:
            return []
        return [Finding(scenario="attack-tool", reason=f"request from attack tool {tool}")]

    def expire(self, now: datetime) -> None:
        """Stateless."""
