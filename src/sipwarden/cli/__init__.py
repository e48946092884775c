"""The `sipwarden` command. Each command group lives in its own module with a `register(app)`.

A command's module is imported only when that command runs (or when the full help lists every
command): `sipwarden parse` must not pay for SQLAlchemy, FastAPI and Alembic, which the store and
hub commands need (tests/test_import_cost.py keeps it so).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator, MutableMapping
from typing import Any, Final

import typer
import typer.core
import typer.main

# The one list of command modules (STYLE.md, practice 5: plugins are listed in one place): the
# top-level command each module's `register(app)` adds -> the module. The order is the order of
# the help screen (commands, then command groups). tests/test_import_cost.py checks this table
# against what every module really registers.
COMMANDS: Final[dict[str, str]] = {
    "run": "run_cmd",
    "honeypot": "honeypot_cmd",
    "parse": "parse_cmd",
    "audit": "audit_cmd",
    "replay": "replay_cmd",
    "watch": "watch_cmd",
    "export": "export_cmd",
    "agent": "agent_cmd",
    "config": "config_cmd",
    "cdr": "cdr_cmd",
    "events": "events_cmd",
    "bans": "bans_cmd",
    "hub": "hub_cmd",
    "report": "report_cmd",
    "ui": "ui_cmd",
}


def registered_by(module_name: str) -> dict[str, Any]:
    """The click commands that `sipwarden.cli.<module_name>.register` adds, by name."""
    module = importlib.import_module(f"sipwarden.cli.{module_name}")
    holder = typer.Typer(pretty_exceptions_enable=False)
    module.register(holder)
    return dict(typer.main.get_group(holder).commands)


class _LazyCommands(MutableMapping[str, Any]):
    """The command table of the top-level group: names known up front, modules imported on lookup."""

    def __init__(self) -> None:
        self._loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            module_name = COMMANDS.get(name)
            if module_name is None:
                raise KeyError(name)
            self._loaded.update(registered_by(module_name))
        return self._loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        yield from COMMANDS
        yield from (name for name in self._loaded if name not in COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS.keys() | self._loaded.keys())


class _LazyGroup(typer.core.TyperGroup):
    """The top-level group; its commands come from `COMMANDS` on first use."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _LazyCommands()


app = typer.Typer(
    name="sipwarden",
    help="Protect SIP/VoIP servers: honeypot, log-based intrusion prevention, shared blocklist.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=_LazyGroup,
)


@app.callback()
def _root() -> None:
    # Typer builds a group only for an app with a callback or several registered commands; the
    # commands here are registered lazily, so this empty callback makes `app` a group.
    pass


def main() -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app()
