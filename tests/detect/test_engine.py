"""What the engine adds to the rules: trust, allowlist, repeat offenders, dedup, expiry, robustness."""

from __future__ import annotations

from datetime import datetime

from sipwarden.detect import DetectSettings, Engine, Finding, SourceView
from sipwarden.events import Decision, Event

from .helpers import at, ev


def feed(e: Engine, events: list[Event]) -> list[Decision]:
    out: list[Decision] = []
    for event in events:
        out += e.feed(event)
    return out


def test_office_nat_with_a_misconfigured_phone_gets_a_notice_not_a_ban() -> None:
    e = Engine(DetectSettings())
    e.feed(ev(0, kind="auth_success", username="201"))
    out = feed(e, [ev(1 + i, username="205") for i in range(30)])
    [d] = out
    assert (d.action, d.scenario) == ("notice", "misconfigured-device")
    assert "account 205" in d.reason
    # The notice is not repeated within notice_time.
    assert feed(e, [ev(100 + i, username="205") for i in range(30)]) == []


def test_trusted_source_still_banned_when_guessing_many_accounts() -> None:
    e = Engine(DetectSettings(trust_factor=2.0))
    e.feed(ev(0, kind="auth_success", username="201"))
    out = feed(e, [ev(1 + i, username=str(300 + i % 3)) for i in range(10)])
    assert [(d.action, d.scenario) for d in out] == [("ban", "bruteforce")]
    assert out[0].ts == at(10)  # 10 = 5 x trust factor 2


def test_trust_ends_after_the_window_and_honeypot_successes_grant_none() -> None:
    e = Engine(DetectSettings(trust_window="1h"))
    e.feed(ev(0, kind="auth_success"))
    assert e.is_trusted("203.0.113.7", at(3600))
    assert not e.is_trusted("203.0.113.7", at(3601))
    e.feed(ev(0, kind="auth_success", ip="192.0.2.1", source="honeypot"))
    assert not e.is_trusted("192.0.2.1", at(1))


def test_allowlist_and_own_addresses_are_never_banned() -> None:
    e = Engine(DetectSettings(allowlist=["198.51.100.0/24"]), own_addresses=["192.0.2.10", "2001:db8::1"])
    events = [
        ev(i, ip=ip, tool="sipvicious/svcrack") for i, ip in enumerate(["198.51.100.77", "192.0.2.10", "2001:db8::1"])
    ]
    assert feed(e, events) == []
    assert [d.value for d in e.feed(ev(9, ip="192.0.2.11", tool="x"))] == ["192.0.2.11"]


def test_range_overlapping_the_allowlist_is_not_banned() -> None:
    e = Engine(DetectSettings(distributed="2/1h", distributed_range_ban=True, allowlist=["198.51.100.200"]))
    out = feed(e, [ev(0, ip="198.51.100.1", username="a"), ev(1, ip="192.0.2.1", username="a")])
    assert sorted((d.scope, d.value) for d in out) == [("account", "a"), ("range", "192.0.2.0/24")]


def test_repeat_offenders_get_longer_bans_up_to_the_cap() -> None:
    e = Engine(DetectSettings(ban_time="1h", repeat_factor=3, max_ban_time="1d"))
    lengths = []
    t = 0.0
    for _ in range(5):
        [d] = e.feed(ev(t, tool="sipcli"))
        assert d.until is not None
        lengths.append((d.until - d.ts).total_seconds() / 3600)
        t = (d.until - at(0)).total_seconds() + 1
        e.tick(at(t))
    assert lengths == [1, 3, 9, 24, 24]


def test_no_second_ban_while_banned_and_counting_restarts() -> None:
    e = Engine(DetectSettings())
    out = feed(e, [ev(i) for i in range(12)])
    assert len(out) == 1  # events 6..12 arrive while banned (e.g. already queued): no duplicate
    [ended] = e.tick(at(3605))
    assert ended.value == "203.0.113.7"
    assert feed(e, [ev(3700 + i) for i in range(4)]) == []


def test_restore_marks_active_bans_and_counts_offenses() -> None:
    e = Engine(DetectSettings(ban_time="1h", repeat_factor=2))
    old = Decision(ts=at(-10), scope="ip", value="203.0.113.7", action="ban", scenario="x", reason="r", until=at(100))
    e.restore([old])
    assert e.feed(ev(0, tool="t")) == []
    e.tick(at(101))
    [d] = e.feed(ev(200, tool="t"))
    assert d.until == at(200 + 7200)


def test_events_without_a_usable_source_are_ignored() -> None:
    e = Engine(DetectSettings())
    assert e.feed(ev(0, ip="not-an-ip", tool="x")) == []
    assert e.feed(Event(ts=at(0), kind="probe", source="asterisk", tool="x")) == []


class Broken:
    windows: tuple[float, ...] = ()

    def observe(self, event: Event, source: SourceView) -> list[Finding]:
        raise RuntimeError("bug")

    def expire(self, now: datetime) -> None:
        raise RuntimeError("bug")


class AlwaysBan:
    windows: tuple[float, ...] = (60.0,)

    def observe(self, event: Event, source: SourceView) -> list[Finding]:
        return [Finding("test", f"count {source.count(0)}")]

    def expire(self, now: datetime) -> None:
        pass


def test_a_broken_rule_is_logged_and_the_others_still_run(caplog: object) -> None:
    e = Engine(DetectSettings(), rules=[Broken(), AlwaysBan()])
    [d] = e.feed(ev(0))
    assert d.reason == "count 1"
    e.tick(at(1))


def test_idle_state_is_forgotten() -> None:
    e = Engine(DetectSettings())
    feed(e, [ev(0, ip=f"10.1.0.{i}") for i in range(50)])
    assert len(e.sources) == 50
    e.tick(at(86400 * 2))
    assert len(e.sources) == 0


def test_replayed_events_give_the_same_decisions() -> None:
    events = [ev(i * 7, ip=f"192.0.2.{i % 3}", username=str(i % 11)) for i in range(100)]
    a = [(d.value, d.scenario, d.ts, d.until, d.event_ids) for d in feed(Engine(DetectSettings()), events)]
    b = [(d.value, d.scenario, d.ts, d.until, d.event_ids) for d in feed(Engine(DetectSettings()), events)]
    assert a == b and a
