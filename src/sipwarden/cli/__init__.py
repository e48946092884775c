"""The `sipwarden` command. Each command group lives in its own module with a `register(app)`."""

from __future__ import annotations

import logging

import typer

from sipwarden.cli import (
    agent_cmd,
    audit_cmd,
    bans_cmd,
    cdr_cmd,
    config_cmd,
    events_cmd,
    export_cmd,
    honeypot_cmd,
    hub_cmd,
    parse_cmd,
    replay_cmd,
    report_cmd,
    run_cmd,
    ui_cmd,
    watch_cmd,
)

app = typer.Typer(
    name="sipwarden",
    help="Protect SIP/VoIP servers: honeypot, log-based intrusion prevention, shared blocklist.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# The one list of command modules (STYLE.md, practice 5: plugins are listed in one place).
for _module in (
    run_cmd,
    config_cmd,
    cdr_cmd,
    events_cmd,
    honeypot_cmd,
    parse_cmd,
    audit_cmd,
    replay_cmd,
    bans_cmd,
    watch_cmd,
    hub_cmd,
    report_cmd,
    export_cmd,
    ui_cmd,
    agent_cmd,
):
    _module.register(app)


def main() -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app()
