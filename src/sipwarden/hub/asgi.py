"""An app factory for uvicorn workers: `sipwarden hub --workers N` passes its settings by environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from fastapi import FastAPI

from sipwarden.config import load_settings
from sipwarden.hub.api import create_hub_app
from sipwarden.store import Store, default_url

ENV_CONFIG: Final = "SIPWARDEN_HUB_CONFIG"
ENV_DB: Final = "SIPWARDEN_HUB_DB"


def create_from_env() -> FastAPI:
    """The hub app for the configuration file and store URL named in the environment."""
    config = os.environ.get(ENV_CONFIG)
    settings = load_settings(Path(config) if config else None)
    store = Store.open(os.environ.get(ENV_DB) or default_url(settings))
    return create_hub_app(store, settings.hub, full=settings)
