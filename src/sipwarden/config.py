"""One TOML file -> typed, validated settings.

Each part declares its own section next to its code (`<package>/settings.py`, a pydantic model with
documented defaults); this module assembles them, loads the file once at start and turns every
validation problem into a `ConfigError` that names the file and the dotted key.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sipwarden.agent.settings import AgentSettings
from sipwarden.detect.settings import DetectSettings
from sipwarden.enforce.notify_settings import NotifySettings
from sipwarden.enforce.settings import EnforceSettings
from sipwarden.fraud.settings import CdrSettings, FraudSettings
from sipwarden.hub.settings import HubSettings
from sipwarden.hub.ui.settings import UiSettings
from sipwarden.sensors.honeypot.settings import HoneypotSettings
from sipwarden.sensors.logs.settings import LogsSettings
from sipwarden.settings_base import Section
from sipwarden.store.settings import StoreSettings


class GeneralSettings(Section):
    """Settings shared by every part."""

    sensor: str = Field(default="", description="Name of this node in events and on the hub; default: host name.")
    data_dir: Path = Field(default=Path("var"), description="Where the SQLite store, recordings and queues live.")
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$", description="Operator log level.")


class WebSettings(Section):
    """The small web page that `sipwarden run` serves."""

    enabled: bool = Field(default=True, description="Serve the web page from `sipwarden run`.")
    listen: str = Field(default="127.0.0.1:8080", description="HOST:PORT of the web page.")


class Settings(BaseModel):
    """The whole configuration file. Every section is optional; defaults live next to each field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    general: GeneralSettings = GeneralSettings()
    store: StoreSettings = StoreSettings()
    web: WebSettings = WebSettings()
    honeypot: HoneypotSettings = HoneypotSettings()
    logs: LogsSettings = LogsSettings()
    cdr: CdrSettings = CdrSettings()
    fraud: FraudSettings = FraudSettings()
    detect: DetectSettings = DetectSettings()
    enforce: EnforceSettings = EnforceSettings()
    notify: NotifySettings = NotifySettings()
    hub: HubSettings = HubSettings()
    ui: UiSettings = UiSettings()
    agent: AgentSettings = AgentSettings()


class ConfigError(Exception):
    """A configuration problem; the message names the file and the key."""


def _dotted(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def settings_from_mapping(data: dict[str, Any], origin: str = "<config>") -> Settings:
    """Validate a parsed TOML mapping; raise ConfigError naming `origin` and every bad key."""
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = _dotted(err["loc"])
            if err["type"] == "extra_forbidden":
                lines.append(f"{origin}: unknown key '{key}'")
            else:
                lines.append(f"{origin}: key '{key}': {err['msg']} (got {err.get('input')!r})")
        raise ConfigError("\n".join(lines)) from None


def load_settings(path: Path | None) -> Settings:
    """Load and validate the TOML file at `path` (defaults only when `path` is None)."""
    if path is None:
        return Settings()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return settings_from_mapping(data, str(path))
