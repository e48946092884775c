"""The [cdr] and [fraud] sections: defaults valid, bad values named by key."""

from __future__ import annotations

import re

import pytest

from sipwarden.config import ConfigError, settings_from_mapping


def test_defaults() -> None:
    settings = settings_from_mapping({})
    assert settings.cdr.enabled is False and settings.fraud.home_country == "US"


@pytest.mark.parametrize(("section", "key", "value"), [
    ("fraud", "timezone", "Mars/Olympus"),
    ("fraud", "business_hours", "9-5"),
    ("fraud", "business_days", [0, 8]),
    ("fraud", "rates", {"+44": 0.1}),
    ("fraud", "rates", {"44": -1.0}),
    ("fraud", "outside_line_prefixes", ["9#"]),
    ("fraud", "risk_alert_min", "low"),
    ("cdr", "timezone", "Nowhere"),
    ("cdr", "format", "xml"),
])  # fmt: skip
def test_bad_values_name_the_key(section: str, key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"key '{section}.{key}")):
        settings_from_mapping({section: {key: value}}, "t.toml")


def test_ami_subsection() -> None:
    settings = settings_from_mapping({"fraud": {"ami": {"enabled": True, "port": 5039, "action": "command"}}})
    assert settings.fraud.ami.port == 5039
    with pytest.raises(ConfigError, match=r"fraud\.ami\.action"):
        settings_from_mapping({"fraud": {"ami": {"action": "reboot"}}})
