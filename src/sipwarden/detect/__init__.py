"""Detection: Events in, Decisions out (pure; time from the events). See docs/detection.md."""

from sipwarden.detect.engine import Engine
from sipwarden.detect.rules import Finding, Rule, SourceView, build_rules
from sipwarden.detect.settings import DetectSettings

__all__ = ["DetectSettings", "Engine", "Finding", "Rule", "SourceView", "build_rules"]
