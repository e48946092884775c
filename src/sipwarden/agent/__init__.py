"""The hub agent: push local evidence to a sipwarden hub and enforce the hub's decisions locally."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sipwarden.lazy import lazy_names

if TYPE_CHECKING:
    from sipwarden.agent.agent import CURSOR_KEY, Agent, RetryLater, hub_origin
    from sipwarden.agent.queue import PushQueue
    from sipwarden.agent.settings import AgentSettings

__all__ = ["CURSOR_KEY", "Agent", "AgentSettings", "PushQueue", "RetryLater", "hub_origin"]

# The public names load on first use (PEP 562): the configuration imports `agent/settings.py`, and
# commands that never talk to a hub must not pay for the HTTP client and the store.
__getattr__ = lazy_names(
    __name__,
    {
        "CURSOR_KEY": "sipwarden.agent.agent",
        "Agent": "sipwarden.agent.agent",
        "RetryLater": "sipwarden.agent.agent",
        "hub_origin": "sipwarden.agent.agent",
        "PushQueue": "sipwarden.agent.queue",
        "AgentSettings": "sipwarden.agent.settings",
    },
)
