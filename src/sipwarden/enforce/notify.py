"""Notifications through Apprise (mail, Slack, Teams, webhooks...): one readable summary per decision.

A summary says who (address, scope), what (scenario, reason), when (time, until) and which lines
prove it (the first few evidence events, as the PBX wrote them).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import apprise

from sipwarden.enforce.notify_settings import NotifySettings
from sipwarden.events import Decision, Event

log = logging.getLogger(__name__)

#: A quoted evidence line is cut here: a notification is read on a phone, not a log viewer.
MAX_LINE_CHARS = 300
_LABELS = {"ip": "Address", "range": "Range", "account": "Account", "number": "Number"}


class NotifyError(ValueError):
    """A notification URL that Apprise does not understand (names the URL's scheme only)."""


def render(decision: Decision, events: Sequence[Event], *, sensor: str = "", lines: int = 5) -> tuple[str, str]:
    """The title and body of the notification for `decision`, quoting up to `lines` evidence events."""
    what = {"ban": "banned", "watch": "under attack", "notice": "notice"}.get(decision.action, decision.action)
    where = f" on {sensor}" if sensor else ""
    title = f"sipwarden{where}: {decision.scope} {decision.value} {what} ({decision.scenario})"
    until = decision.until.strftime("%Y-%m-%d %H:%M:%S UTC") if decision.until else "until removed"
    body = [
        f"{_LABELS.get(decision.scope, decision.scope)}: {decision.value}",
        f"Action: {decision.action} ({decision.scenario})",
        f"Why: {decision.reason}",
        f"When: {decision.ts.strftime('%Y-%m-%d %H:%M:%S UTC')}",
        f"Until: {until}",
        f"Evidence: {len(decision.event_ids)} events",
    ]
    quoted = [e for e in events if e.id in set(decision.event_ids)][:lines]
    if quoted:
        body.append("")
        for e in quoted:
            line = e.raw or " ".join(
                str(x) for x in (e.kind, e.src_ip, e.method, e.username, e.target, e.user_agent) if x
            )
            body.append(f"  {e.ts.strftime('%H:%M:%S')} {e.source}: {line.strip()[:MAX_LINE_CHARS]}")
    return title, "\n".join(body)


class Notifier:
    """Sends decision summaries to every configured Apprise URL."""

    def __init__(self, settings: NotifySettings, *, sensor: str = "") -> None:
        self.settings = settings
        self.sensor = sensor
        self._apprise = apprise.Apprise()
        for url in settings.urls:
            if not self._apprise.add(url):
                scheme = url.split("://", 1)[0] if "://" in url else "(no scheme)"
                raise NotifyError(f"notify.urls: Apprise cannot use a URL with scheme {scheme!r}")

    @property
    def enabled(self) -> bool:
        """True when at least one URL is configured."""
        return len(self._apprise) > 0

    def wants(self, decision: Decision) -> bool:
        """True when the decision's action is one the settings notify."""
        return self.enabled and decision.action in self.settings.actions

    async def send(self, decision: Decision, events: Sequence[Event] = ()) -> bool:
        """Send the summary of `decision`; False (logged) when a channel failed. Never raises."""
        if not self.wants(decision):
            return False
        title, body = render(decision, events, sensor=self.sensor, lines=self.settings.evidence_lines)
        notify_type = apprise.NotifyType.WARNING if decision.action == "ban" else apprise.NotifyType.INFO
        try:
            ok = bool(await self._apprise.async_notify(body=body, title=title, notify_type=notify_type))
        except Exception:  # a broken channel must never stop enforcement
            log.exception("notification about %s failed", decision.value)
            return False
        if not ok:
            log.warning("notification about %s %s was not delivered everywhere", decision.scope, decision.value)
        return ok
