"""The hub agent: push local evidence to a sipwarden hub and enforce the hub's decisions locally."""

from sipwarden.agent.agent import CURSOR_KEY, Agent, RetryLater, hub_origin
from sipwarden.agent.queue import PushQueue
from sipwarden.agent.settings import AgentSettings

__all__ = ["CURSOR_KEY", "Agent", "AgentSettings", "PushQueue", "RetryLater", "hub_origin"]
