"""Detection: Events in, Decisions out (pure; time from the events). See docs/detection.md."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sipwarden.detect.engine import Engine
    from sipwarden.detect.rules import Finding, Rule, SourceView, build_rules
    from sipwarden.detect.settings import DetectSettings

__all__ = ["DetectSettings", "Engine", "Finding", "Rule", "SourceView", "build_rules"]

# The public names load on first use (PEP 562): the configuration imports `detect/settings.py`,
# and commands that never run detection (`sipwarden parse`) need not load the rules.
_LAZY: dict[str, str] = {
    "DetectSettings": "sipwarden.detect.settings",
    "Engine": "sipwarden.detect.engine",
    "Finding": "sipwarden.detect.rules",
    "Rule": "sipwarden.detect.rules",
    "SourceView": "sipwarden.detect.rules",
    "build_rules": "sipwarden.detect.rules",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
