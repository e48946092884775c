"""Settings of the hub agent (`[agent]`): push local evidence to a hub, enforce its decisions."""

from __future__ import annotations

from pydantic import Field

from sipwarden.settings_base import Section


class AgentSettings(Section):
    """`[agent]`: which hub, with which key, and how hard to retry."""

    hub_url: str = Field(default="", description="Base URL of the hub (empty: no agent runs).")
    key: str = Field(default="", description="The hub key of this node (a sensor key pushes and reads).")
    name: str = Field(default="", description="Name of the hub in decision origins (`hub:NAME`); default: its host.")
    queue_dir: str = Field(
        default="", description="Directory of the on-disk push queue; default: `agent` in [general] data_dir."
    )
    batch_size: int = Field(default=500, ge=1, le=5000, description="Most events one push carries.")
    retry_min_seconds: float = Field(default=0.5, gt=0, le=60, description="First wait after a failed push or stream.")
    retry_max_seconds: float = Field(default=30.0, gt=0, le=3600, description="Longest wait between retries.")
    push: bool = Field(default=True, description="Send local events to the hub.")
    pull: bool = Field(default=True, description="Enforce the hub's decisions through the local firewall.")
