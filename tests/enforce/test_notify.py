"""Notifications through Apprise to a local HTTP receiver."""

from __future__ import annotations

import pytest

from sipwarden.enforce.notify import Notifier, NotifyError, render
from sipwarden.enforce.notify_settings import NotifySettings
from sipwarden.events import Decision, Event

from .receiver import Receiver
from .test_guard import T0, failure


def decision(events: list[Event]) -> Decision:
    return Decision(
        ts=T0, scope="ip", value="203.0.113.9", action="ban", scenario="bruteforce",
        reason="5 failed authentications within 1m", until=T0.replace(hour=13), event_ids=tuple(e.id for e in events),
    )  # fmt: skip


def test_render_quotes_the_evidence_lines() -> None:
    events = [
        failure(i, raw=f"line {i} Registration from '<sip:100@x>' failed for '203.0.113.9:5060'") for i in range(8)
    ]
    title, body = render(decision(events), events, sensor="pbx1", lines=3)
    assert title == "sipwarden on pbx1: ip 203.0.113.9 banned (bruteforce)"
    assert "Address: 203.0.113.9" in body
    assert "Why: 5 failed authentications within 1m" in body and "Until: 2026-01-05 13:00:00 UTC" in body
    assert "Evidence: 8 events" in body
    assert body.count("failed for") == 3 and "line 0" in body and "line 3" not in body


async def test_notification_reaches_a_webhook() -> None:
    events = [failure(i, raw=f"auth failed {i}") for i in range(2)]
    with Receiver() as rx:
        notifier = Notifier(NotifySettings(urls=[rx.url]), sensor="pbx1")
        assert await notifier.send(decision(events), events)
    [post] = rx.posts
    assert post["title"] == "sipwarden on pbx1: ip 203.0.113.9 banned (bruteforce)"
    assert "auth failed 1" in post["message"] and post["type"] == "warning"


async def test_unreachable_channel_is_reported_not_raised() -> None:
    with Receiver() as rx:
        url = rx.url
    notifier = Notifier(NotifySettings(urls=[url]))
    assert await notifier.send(decision([]), []) is False


async def test_actions_not_listed_are_not_sent() -> None:
    with Receiver() as rx:
        notifier = Notifier(NotifySettings(urls=[rx.url], actions=["notice"]))
        assert await notifier.send(decision([]), []) is False
    assert rx.posts == []


def test_a_bad_url_is_a_clear_error() -> None:
    with pytest.raises(NotifyError, match="nosuchscheme"):
        Notifier(NotifySettings(urls=["nosuchscheme://x"]))
