"""Bait accounts, the per-source rate limiter and flood aggregation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sipwarden.events import Event
from sipwarden.sensors.honeypot.aggregate import Aggregator
from sipwarden.sensors.honeypot.bait import BaitPolicy, parse_bait_ranges
from sipwarden.sensors.honeypot.ratelimit import RateLimiter


def test_bait_ranges_and_passwords() -> None:
    policy = BaitPolicy(
        parse_bait_ranges(["100-199", "1000-1099", "0100-0105"]), ["1234", "100"], accept_own_number=True
    )
    assert policy.exists("100") and policy.exists("199") and policy.exists("1050") and policy.exists("0103")
    assert not policy.exists("200") and not policy.exists("99") and not policy.exists("admin")
    assert not policy.exists("0106") and not policy.exists("") and not policy.exists(None)
    assert not policy.exists("١٠٠")  # Arabic-Indic digits are digits to str.isdigit, not to a PBX
    assert policy.passwords("150") == ("150", "1234", "100")
    assert policy.passwords("100") == ("100", "1234")
    assert policy.passwords("500") == ()


def test_a_cracked_account_keeps_only_its_password() -> None:
    policy = BaitPolicy(parse_bait_ranges(["100-199"]), ["1234"], accept_own_number=True)
    policy.mark_cracked("101", "1234")
    policy.mark_cracked("101", "101")  # later cracks do not change the password
    assert policy.passwords("101") == ("1234",)
    assert policy.cracked() == {"101": "1234"}


def test_own_number_can_be_turned_off() -> None:
    policy = BaitPolicy(parse_bait_ranges(["100"]), ["secret"], accept_own_number=False)
    assert policy.passwords("100") == ("secret",)


@pytest.mark.parametrize("spec", ["abc", "10-", "200-100", "1-9999999999"])
def test_bad_bait_ranges_are_named(spec: str) -> None:
    with pytest.raises(ValueError, match="bait account"):
        parse_bait_ranges([spec])


def test_token_bucket_allows_burst_then_rate() -> None:
    limiter = RateLimiter(rate=10.0, burst=5)
    assert [limiter.allow("a", 0.0) for _ in range(6)] == [True] * 5 + [False]
    assert limiter.allow("b", 0.0)  # other sources have their own bucket
    assert not limiter.allow("a", 0.05)  # half a token
    assert limiter.allow("a", 0.1)  # one token after 1/rate seconds
    assert not limiter.allow("a", 0.1)
    allowed = sum(limiter.allow("a", 10.0 + i * 0.01) for i in range(1000))  # 10 s at 100 requests/s
    assert 100 <= allowed <= 100 + 5


def test_rate_limiter_memory_is_bounded() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, max_sources=1000)
    for i in range(100_000):
        limiter.allow(f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}", float(i))
    assert len(limiter) == 1000


def _event(kind: str = "probe", ip: str = "203.0.113.1", second: int = 0, **kw: object) -> Event:
    return Event(
        ts=datetime(2026, 1, 1, 0, 0, second, tzinfo=UTC),
        kind=kind,
        source="honeypot",
        src_ip=ip,
        method="OPTIONS",
        **kw,
    )  # type: ignore[arg-type]


def test_identical_probes_fold_into_one_count() -> None:
    agg = Aggregator(window=10.0)
    emitted = []
    for i in range(1000):
        emitted += agg.add(_event(second=i % 60), now=i * 0.005)
    assert len(emitted) == 1  # the first at once
    emitted += agg.flush(now=4.0)
    assert len(emitted) == 1  # window still open
    emitted += agg.flush(now=10.0)
    assert len(emitted) == 2
    assert sum(e.count for e in emitted) == 1000
    assert emitted[1].count == 999 and emitted[1].detail["aggregated"] is True


def test_different_probes_are_not_merged_and_counts_stay_exact() -> None:
    agg = Aggregator(window=5.0)
    out = []
    for i in range(300):
        out += agg.add(_event(ip=f"203.0.113.{i % 3}", username=str(100 + i % 2)), now=float(i) * 0.1)
    out += agg.flush_all()
    assert sum(e.count for e in out) == 300
    assert {(e.src_ip, e.username) for e in out} == {
        (f"203.0.113.{a}", str(100 + b)) for a in range(3) for b in range(2)
    }


def test_calls_and_cracks_are_never_aggregated() -> None:
    agg = Aggregator(window=10.0)
    out = []
    for _ in range(3):
        out += agg.add(_event(kind="auth_success"), now=0.0)
    assert len(out) == 3


def test_aggregator_memory_is_bounded_and_exact() -> None:
    agg = Aggregator(window=60.0, max_keys=100)
    out = []
    for i in range(10_000):
        out += agg.add(_event(ip=f"198.51.{i // 256 % 256}.{i % 256}"), now=0.0)
        out += agg.add(_event(ip=f"198.51.{i // 256 % 256}.{i % 256}"), now=0.0)
        assert len(agg) <= 100
    out += agg.flush_all()
    assert sum(e.count for e in out) == 20_000
