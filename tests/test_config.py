"""The configuration loader and the sample configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from sipwarden.config import ConfigError, Settings, load_settings, settings_from_mapping

SAMPLE = Path(__file__).resolve().parents[1] / "docs" / "sipwarden.sample.toml"


def _keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, info in model.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys |= _keys(ann, f"{prefix}{name}.")
        else:
            keys.add(prefix + name)
    return keys


def _flatten(data: dict[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, value in data.items():
        if isinstance(value, dict) and not name.startswith("_"):
            sub = _flatten(value, f"{prefix}{name}.")
            keys |= sub or {prefix + name}
        else:
            keys.add(prefix + name)
    return keys


def test_sample_config_is_valid_and_lists_every_key() -> None:
    import tomllib

    data = tomllib.loads(SAMPLE.read_text())
    load_settings(SAMPLE)
    missing = {k for k in _keys(Settings) if not any(k == s or s.startswith(k + ".") for s in _flatten(data))}
    assert not missing, f"keys missing from {SAMPLE.name}: {sorted(missing)}"


def test_sample_config_comments_every_key() -> None:
    lines = SAMPLE.read_text().splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.lstrip().startswith(("#", "[")) and not line.startswith(" "):
            assert lines[i - 1].lstrip().startswith("#"), f"{SAMPLE.name}:{i + 1}: key without a comment: {line}"


def test_defaults_load_without_a_file() -> None:
    assert load_settings(None) == Settings()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[store]\nurll = 'x'\n", "unknown key 'store.urll'"),
        ("[nosuch]\na = 1\n", "unknown key 'nosuch'"),
        ("[honeypot]\nlisten = 5\n", "key 'honeypot.listen'"),
        ("[general]\nlog_level = 'LOUD'\n", "key 'general.log_level'"),
        ("[general\n", "not valid TOML"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "absent.toml")


def test_mapping_origin_is_named() -> None:
    with pytest.raises(ConfigError, match=r"^env: unknown key 'x'"):
        settings_from_mapping({"x": 1}, "env")
