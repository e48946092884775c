"""The hub agent: push local evidence to a sipwarden hub and enforce the hub's decisions locally."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sipwarden.agent.agent import CURSOR_KEY, Agent, RetryLater, hub_origin
    from sipwarden.agent.queue import PushQueue
    from sipwarden.agent.settings import AgentSettings

__all__ = ["CURSOR_KEY", "Agent", "AgentSettings", "PushQueue", "RetryLater", "hub_origin"]

# The public names load on first use (PEP 562): the configuration imports `agent/settings.py`, and
# commands that never talk to a hub must not pay for the HTTP client and the store.
_LAZY: dict[str, str] = {
    "CURSOR_KEY": "sipwarden.agent.agent",
    "Agent": "sipwarden.agent.agent",
    "RetryLater": "sipwarden.agent.agent",
    "hub_origin": "sipwarden.agent.agent",
    "PushQueue": "sipwarden.agent.queue",
    "AgentSettings": "sipwarden.agent.settings",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
