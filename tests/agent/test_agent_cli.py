"""`sipwarden agent` and the `--hub` / `--key` options."""

from __future__ import annotations

from typer.testing import CliRunner

from sipwarden.cli import app
from sipwarden.cli.agent_cmd import with_hub
from sipwarden.config import Settings


def test_agent_without_a_hub_is_a_clear_error() -> None:
    result = CliRunner().invoke(app, ["agent"])
    assert result.exit_code == 2
    assert "no hub" in result.output


def test_hub_options_override_the_agent_section() -> None:
    base = Settings.model_validate({"agent": {"hub_url": "http://127.0.0.1:1", "key": "a", "batch_size": 7}})
    assert with_hub(base, None, None) is base
    changed = with_hub(base, "http://127.0.0.1:2", "b")
    assert (changed.agent.hub_url, changed.agent.key, changed.agent.batch_size) == ("http://127.0.0.1:2", "b", 7)
    assert base.agent.hub_url == "http://127.0.0.1:1"
