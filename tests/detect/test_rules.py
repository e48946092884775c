"""Every detection rule with synthetic events; time comes from the events, so results are exact."""

from __future__ import annotations

from typing import Any

from sipwarden.detect import DetectSettings, Engine
from sipwarden.events import Decision

from .helpers import at, ev


def engine(**overrides: Any) -> Engine:
    return Engine(DetectSettings(**overrides))


def feed(e: Engine, events: Any) -> list[Decision]:
    out: list[Decision] = []
    for event in events:
        out += e.feed(event)
    return out


def test_bruteforce_short_window() -> None:
    e = engine()
    first4 = feed(e, [ev(i) for i in range(4)])
    assert first4 == []
    [d] = e.feed(ev(4))
    assert (d.scope, d.value, d.action, d.scenario) == ("ip", "203.0.113.7", "ban", "bruteforce")
    assert "5 failed authentications within 1m" in d.reason
    assert len(d.event_ids) == 5
    assert d.until == at(4 + 3600)


def test_bruteforce_spread_out_is_not_the_short_window() -> None:
    # 3 per minute for 5 minutes: never 5 within one minute (nor within its quarter-window slack).
    e = engine()
    assert feed(e, [ev(i * 20) for i in range(16)]) == []


def test_slow_guessing_one_every_two_minutes_is_caught_by_the_long_windows() -> None:
    e = engine()
    decisions = feed(e, [ev(i * 120) for i in range(40)])
    [d] = decisions
    assert d.scenario == "bruteforce"
    assert "within 1h (limit 20)" in d.reason
    # Caught at the 20th guess at the latest (the window may count up to a quarter window more).
    assert d.ts <= at(19 * 120)


def test_very_slow_guessing_is_caught_by_the_day_window() -> None:
    e = engine()
    [d] = feed(e, [ev(i * 600) for i in range(60)])
    assert "within 1d (limit 50)" in d.reason


def test_enumeration_distinct_usernames() -> None:
    e = engine()
    out = feed(e, [ev(i * 30, kind="unknown_user", username=str(100 + i)) for i in range(10)])
    scenarios = [d.scenario for d in out]
    assert scenarios == ["enumeration"]
    assert "10 distinct usernames" in out[0].reason


def test_attack_tool_bans_at_once() -> None:
    e = engine()
    [d] = e.feed(ev(0, kind="probe", tool="sipvicious/svmap", method="OPTIONS"))
    assert d.scenario == "attack-tool" and "sipvicious/svmap" in d.reason


def test_honeypot_contact_bans() -> None:
    e = engine()
    [d] = e.feed(ev(0, kind="probe", source="honeypot", method="OPTIONS"))
    assert d.scenario == "honeypot-contact"


def test_international_rejected_calls() -> None:
    e = engine()
    calls = [
        ev(i * 60, kind="call_rejected", target=t) for i, t in enumerate(["0023276000001", "90112327601", "+44207000"])
    ]
    [d] = feed(e, calls)
    assert d.scenario == "dialplan-probing" and "3 rejected calls to international numbers" in d.reason


def test_national_calls_are_not_international() -> None:
    e = engine()
    assert feed(e, [ev(i, kind="call_rejected", target="0301234567") for i in range(10)]) == []


def test_home_country_decides_when_known() -> None:
    e = engine(home_country="GB")
    home = [ev(i, kind="call_rejected", target="00442070001", target_country="GB") for i in range(5)]
    assert feed(e, home) == []
    away = [ev(10 + i, kind="call_rejected", target="2327600", target_country="SL") for i in range(3)]
    assert [d.scenario for d in feed(e, away)] == ["dialplan-probing"]


def test_prefix_variants_of_one_number() -> None:
    e = engine()
    out = feed(
        e,
        [ev(i, kind="call_attempt", target=t) for i, t in enumerate(["23276123456", "923276123456", "0023276123456"])],
    )
    [d] = out
    assert "one number dialled with 3 prefixes" in d.reason


def test_prefix_variants_expire_after_the_window() -> None:
    e = engine()
    assert (
        feed(e, [ev(i * 4000, kind="call_attempt", target=p + "23276123456") for i, p in enumerate(["", "9", "00"])])
        == []
    )


def test_flood() -> None:
    e = engine()
    out = feed(e, [ev(0, kind="flood", count=200, method="OPTIONS"), ev(5, kind="flood", count=100, method="OPTIONS")])
    [d] = out
    assert d.scenario == "flood" and "300 requests within 10s" in d.reason


def test_distributed_bruteforce_on_one_account() -> None:
    e = engine(distributed="5/1h")
    out = feed(e, [ev(i * 60, ip=f"198.51.100.{i}", username="alice") for i in range(5)])
    [d] = out
    assert (d.scope, d.value, d.action, d.scenario) == ("account", "alice", "watch", "distributed-bruteforce")
    assert len(d.event_ids) == 5


def test_distributed_range_ban_when_configured() -> None:
    e = engine(distributed="4/1h", distributed_range_ban=True)
    ips = ["198.51.100.1", "198.51.100.2", "192.0.2.9", "2001:db8:1:2::5"]
    out = feed(e, [ev(i, ip=ip, username="alice") for i, ip in enumerate(ips)])
    assert sorted((d.scope, d.value) for d in out) == [
        ("account", "alice"),
        ("range", "192.0.2.0/24"),
        ("range", "198.51.100.0/24"),
        ("range", "2001:db8:1:2::/64"),
    ]


def test_distributed_sources_outside_the_window_do_not_count() -> None:
    e = engine(distributed="3/10m")
    assert feed(e, [ev(i * 400, ip=f"198.51.100.{i}", username="alice") for i in range(6)]) == []


def test_every_tool_signature_matches_its_samples_and_only_its_own() -> None:
    from sipwarden.detect.rules.tools import TOOL_SIGNATURES, tool_of
    from sipwarden.events import Event

    for name, _, samples in TOOL_SIGNATURES:
        assert samples, f"{name} has no sample"
        for ua in samples:
            assert tool_of(Event(ts=at(0), kind="probe", source="kamailio", user_agent=ua)) == name
    for ua in ["Yealink SIP-T46S 66.86.0.15", "Asterisk PBX 18.20.0", "Linphone/5.2", "", "x" * 100_000]:
        assert tool_of(Event(ts=at(0), kind="probe", source="kamailio", user_agent=ua)) is None


def test_tool_named_by_user_agent_bans() -> None:
    e = engine()
    [d] = e.feed(ev(0, user_agent="friendly-scanner"))
    assert d.scenario == "attack-tool" and "sipvicious" in d.reason
