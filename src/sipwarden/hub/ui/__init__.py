"""The investigation dashboard: a FastAPI router served under /ui/ by `sipwarden hub` and `sipwarden run`.

The router is imported on first use, so loading the settings (`hub/ui/settings.py`) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import APIRouter

    from sipwarden.config import Settings
    from sipwarden.store import Store

__all__ = ["ui_router"]


def ui_router(store: Store, settings: Settings | None = None, **options: Any) -> APIRouter:
    """The dashboard routes (see `router.ui_router`); include with `prefix="/ui"`."""
    from sipwarden.hub.ui.router import ui_router as build

    return build(store, settings, **options)
