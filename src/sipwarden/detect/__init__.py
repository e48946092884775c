"""Detection: Events in, Decisions out (pure; time from the events). See docs/detection.md."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sipwarden.lazy import lazy_names

if TYPE_CHECKING:
    from sipwarden.detect.engine import Engine
    from sipwarden.detect.rules import Finding, Rule, SourceView, build_rules
    from sipwarden.detect.settings import DetectSettings

__all__ = ["DetectSettings", "Engine", "Finding", "Rule", "SourceView", "build_rules"]

# The public names load on first use (PEP 562): the configuration imports `detect/settings.py`,
# and commands that never run detection (`sipwarden parse`) need not load the rules.
__getattr__ = lazy_names(
    __name__,
    {
        "DetectSettings": "sipwarden.detect.settings",
        "Engine": "sipwarden.detect.engine",
        "Finding": "sipwarden.detect.rules",
        "Rule": "sipwarden.detect.rules",
        "SourceView": "sipwarden.detect.rules",
        "build_rules": "sipwarden.detect.rules",
    },
)
