"""Detection rules, and the one place that lists them (`build_rules`)."""

from __future__ import annotations

from sipwarden.detect.durations import parse_duration, parse_rate
from sipwarden.detect.rules.base import Finding, Rule, SourceView
from sipwarden.detect.rules.bruteforce import BruteForce
from sipwarden.detect.rules.dialplan import DialplanProbing
from sipwarden.detect.rules.distributed import DistributedBruteForce
from sipwarden.detect.rules.enumeration import Enumeration
from sipwarden.detect.rules.flood import Flood
from sipwarden.detect.rules.honeypot import HoneypotContact
from sipwarden.detect.rules.tools import AttackTool
from sipwarden.detect.settings import DetectSettings

__all__ = ["Finding", "Rule", "SourceView", "build_rules"]


def build_rules(settings: DetectSettings) -> list[Rule]:
    """Every rule enabled by `settings`, in the order they see an event."""
    rules: list[Rule] = []
    if settings.honeypot_contact:
        rules.append(HoneypotContact())
    if settings.attack_tools:
        rules.append(AttackTool())
    rules += [
        BruteForce([parse_rate(r) for r in settings.bruteforce]),
        Enumeration(parse_rate(settings.enumeration)),
        DialplanProbing(
            parse_rate(settings.international_calls),
            variants=settings.prefix_variants,
            window=parse_duration(settings.prefix_window),
            prefixes=settings.international_prefixes,
            home_country=settings.home_country,
        ),
        Flood(parse_rate(settings.flood)),
        DistributedBruteForce(parse_rate(settings.distributed), range_ban=settings.distributed_range_ban),
    ]
    return rules
