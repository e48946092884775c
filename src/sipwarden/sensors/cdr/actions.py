"""What happens when a fraud alert fires: notify, run a command, call a webhook, act through AMI.

Every action is bounded in time and isolated: a failing action is logged for the operator and the
others still run. Commands are argv lists, never a shell; placeholders are filled per argument, so
an account name cannot smuggle in a second command.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Final

import httpx

from sipwarden.fraud.alerts import FraudAlert
from sipwarden.fraud.settings import FraudSettings
from sipwarden.sensors.cdr.ami import ami_session, hangup_fields

log = logging.getLogger(__name__)

#: How long a configured command may run before it is killed.
COMMAND_TIMEOUT_S: Final = 30.0
#: How long a webhook or notification may take.
HTTP_TIMEOUT_S: Final = 10.0

Action = Callable[[FraudAlert], Awaitable[None]]


def alert_text(alert: FraudAlert) -> tuple[str, str]:
    """Title and body of a notification."""
    dests = ", ".join(f"{d['number']} ({d['country'] or '?'}) x{d['calls']}" for d in alert.destinations()[:10])
    title = f"sipwarden: possible toll fraud on account {alert.account} ({alert.reason})"
    body = (
        f"{alert.message}\n{len(alert.calls)} calls, estimated {alert.estimated_cost:.2f} {alert.currency}\n"
        f"destinations: {dests}\nsource addresses: {', '.join(alert.src_ips) or 'not recorded'}"
    )
    return title, body


def fill_argv(template: list[str], alert: FraudAlert) -> list[str]:
    """The command's argv with {account} {reason} {ips} replaced in each argument."""
    values = {"{account}": alert.account, "{reason}": alert.reason, "{ips}": ",".join(alert.src_ips)}
    out = []
    for arg in template:
        for key, value in values.items():
            arg = arg.replace(key, value)
        out.append(arg)
    return out


async def run_command(argv: list[str], timeout: float = COMMAND_TIMEOUT_S) -> int:
    """Run argv (no shell) with a time limit; its exit status (-9 when killed)."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return -9
    if proc.returncode:
        log.warning("alert command %s exited %s: %s", argv[0], proc.returncode, err[:500].decode(errors="replace"))
    return proc.returncode or 0


class AlertResponder:
    """The actions configured in `[fraud]`, run for each alert."""

    def __init__(self, settings: FraudSettings) -> None:
        self.settings = settings
        self.actions: list[tuple[str, Action]] = []
        if settings.notify_urls:
            self.actions.append(("notify", self.notify))
        if settings.command:
            self.actions.append(("command", self.command))
        if settings.webhook_url:
            self.actions.append(("webhook", self.webhook))
        if settings.ami.enabled:
            self.actions.append(("ami", self.ami))

    async def respond(self, alert: FraudAlert) -> None:
        """Run every configured action; failures are logged, never raised."""
        for name, action in self.actions:
            try:
                await action(alert)
            except Exception:  # one broken action must not stop the others or the monitor
                log.exception("fraud alert action %s failed for account %s", name, alert.account)

    async def notify(self, alert: FraudAlert) -> None:
        """Send the alert through apprise to every notify URL."""
        import apprise

        title, body = alert_text(alert)
        apobj = apprise.Apprise()
        for url in self.settings.notify_urls:
            apobj.add(url)
        if not await apobj.async_notify(body=body, title=title):
            log.warning("apprise could not deliver the alert for account %s", alert.account)

    async def command(self, alert: FraudAlert) -> None:
        """Run the configured argv command."""
        await run_command(fill_argv(self.settings.command, alert))

    async def webhook(self, alert: FraudAlert) -> None:
        """POST the alert JSON to the webhook URL."""
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as client:
            response = await client.post(
                self.settings.webhook_url,
                content=json.dumps(alert.to_dict()),
                headers={"content-type": "application/json"},
            )
            response.raise_for_status()

    async def ami(self, alert: FraudAlert) -> None:
        """Hang up the account's channels (or run a CLI command) through the Asterisk Manager Interface."""
        ami = self.settings.ami
        if ami.action == "hangup":
            action: tuple[str, dict[str, str]] = ("Hangup", hangup_fields(alert.account))
        else:
            hangup_fields(alert.account)  # the same check: the account goes into a CLI command
            action = ("Command", {"Command": ami.command.replace("{account}", alert.account)})
        results = await ami_session(ami.host, ami.port, ami.username, ami.secret, [action], timeout=ami.timeout_seconds)
        log.info("AMI %s for account %s: %s", action[0], alert.account, results[0].get("Message", ""))
