"""Start-up cost: `sipwarden parse` imports only what parsing needs.

The store, the hub and the agent bring SQLAlchemy, Alembic, FastAPI, Starlette and uvicorn; a
command that reads a log file must not load them (on a short log their import was most of the
run). Each check runs the real command in a fresh interpreter and lists what it imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from sipwarden.cli import COMMANDS, app, registered_by

#: Top-level packages that only the store, hub, agent and web commands need.
HEAVY = ("sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn")

#: Runs the command line with `argv` like the console script, then writes the imported module
#: names to a file when the interpreter exits (typer ends every command with SystemExit).
_PROBE = """
import atexit, json, sys
out, argv = sys.argv[1], sys.argv[2:]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["sipwarden", *argv]
from sipwarden.cli import main
main()
"""

LOG_LINES = (
    "[2024-03-01 10:00:00] VERBOSE[1] pbx.c:     -- Executing [s@default:1] Answer",
    "[2024-03-01 10:00:01] NOTICE[2] chan_sip.c: Registration from '<sip:100@x>' failed for '192.0.2.1:5060' - Wrong password",
    "[2024-03-01 10:00:02] NOTICE[2] manager.c: 192.0.2.5 failed to authenticate as 'admin'",
)


def _imported(tmp_path: Path, *argv: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(out), *argv], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.exists(), done.stderr
    return done, set(json.loads(out.read_text()))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


@pytest.mark.parametrize(
    "argv",
    [
        ("parse", "--help"),
        ("parse", "LOG"),
        ("parse", "--json", "--missed", "LOG"),
        ("parse", "--config", "CFG", "LOG"),
    ],
    ids=["help", "summary", "json", "config"],
)
def test_parse_does_not_import_the_store_or_web_stacks(tmp_path: Path, argv: tuple[str, ...]) -> None:
    log = tmp_path / "full"
    log.write_text("\n".join(LOG_LINES) + "\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[general]\nsensor = "pbx1"\n[logs]\ntimezone = "Europe/Berlin"\n')
    real = [str(log) if a == "LOG" else str(cfg) if a == "CFG" else a for a in argv]
    done, modules = _imported(tmp_path, *real)
    assert done.returncode == 0, done.stderr
    if "--help" not in argv:
        assert "matched: 2" in done.stdout + done.stderr  # the command really parsed the log
        assert "sipwarden.sensors.logs.parser" in modules
    assert not _heavy(modules), f"`sipwarden {' '.join(argv)}` imported {_heavy(modules)}"
    # Only the parse command's own module is loaded, not its neighbours'.
    assert {m for m in modules if m.startswith("sipwarden.cli.")} == {"sipwarden.cli.common", "sipwarden.cli.parse_cmd"}


def test_parse_without_a_config_file_loads_no_settings_models(tmp_path: Path) -> None:
    # Without --config there is nothing to validate: pydantic and the settings models were most of
    # the start-up of `sipwarden parse` on a short log (the command line framework must not bring
    # pydantic either).
    log = tmp_path / "full"
    log.write_text("\n".join(LOG_LINES) + "\n")
    done, modules = _imported(tmp_path, "parse", str(log))
    assert done.returncode == 0, done.stderr
    assert "matched: 2" in done.stdout
    assert not {m for m in modules if m.split(".")[0] == "pydantic" or m == "sipwarden.config"}
    # ... while --config still validates the file through the settings models.
    cfg = tmp_path / "c.toml"
    cfg.write_text('[general]\nsensor = "pbx1"\n')
    done, modules = _imported(tmp_path, "parse", "--config", str(cfg), str(log))
    assert done.returncode == 0, done.stderr
    assert {"pydantic", "sipwarden.config"} <= modules


def test_the_probe_sees_heavy_imports(tmp_path: Path) -> None:
    # The check above must be able to fail: the events command opens the store (SQLAlchemy).
    done, modules = _imported(tmp_path, "events", "--help")
    assert done.returncode == 0, done.stderr
    assert "sqlalchemy" in modules


def test_configuration_loads_without_the_store_or_web_stacks(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, sipwarden.config as c; c.load_settings(None); print(' '.join(sorted(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert not _heavy(set(done.stdout.split()))


def test_command_table_matches_what_each_module_registers() -> None:
    # cli/__init__.py names each module's commands so that it can import the module only when
    # one of them runs; the table must say what `register(app)` really adds.
    for name, module_name in COMMANDS.items():
        assert set(registered_by(module_name)) == {name}, module_name
    # Every module with a `register` is listed (helpers such as hub_abuse_cmd.py have none).
    cli_dir = Path(__file__).parents[1] / "src" / "sipwarden" / "cli"
    registering = sorted(p.stem for p in cli_dir.glob("*.py") if "\ndef register(" in p.read_text(encoding="utf-8"))
    assert sorted(set(COMMANDS.values())) == registering, "a command module is missing from cli.COMMANDS"


def test_every_command_is_reachable_through_the_lazy_group() -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    ctx = group.make_context("sipwarden", ["--help"], resilient_parsing=True)
    assert group.list_commands(ctx) == list(COMMANDS)
    for name in COMMANDS:
        command = group.get_command(ctx, name)
        assert command is not None and command.name == name
    assert group.get_command(ctx, "no-such-command") is None
