"""The sans-I/O parts of the hub: never-list ranges, evidence from events, the verdict, token
buckets and the check cache (time is a parameter everywhere)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sipwarden.events import Event
from sipwarden.hub.auth import TokenBucket
from sipwarden.hub.policy import NeverList, evidence_from_events, judge, parse_address
from sipwarden.hub.service import CheckCache

T = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ip", "protected"),
    [
        ("45.134.26.7", False),
        ("2a01:4f8::99", False),
        ("10.0.0.1", True),
        ("100.64.0.9", True),
        ("192.0.2.1", True),
        ("198.18.0.1", True),
        ("::ffff:192.168.1.1", True),
        ("fd12::1", True),
        ("ff02::1", True),
        ("81.2.69.142", True),
    ],
)
def test_never_list(ip: str, protected: bool) -> None:
    assert NeverList(["81.2.69.0/24"]).protects(parse_address(ip)) is protected


def test_allowlist_entries_must_be_networks() -> None:
    with pytest.raises(ValueError, match="not a network"):
        NeverList(["example.com"])


def test_evidence_from_events() -> None:
    events = [
        Event(ts=T, kind="probe", source="honeypot", src_ip="45.134.26.7", tool="sipvicious/svmap", count=5),
        Event(ts=T, kind="register", source="honeypot", src_ip="45.134.26.7"),
        Event(ts=T, kind="auth_success", source="asterisk", src_ip="185.53.88.10"),  # a customer logging in
        Event(ts=T, kind="auth_failure", source="asterisk", src_ip="::ffff:185.53.88.11"),
        Event(ts=T, kind="malformed", source="honeypot", src_ip=None),
    ]
    trusted = {e.ip: e for e in evidence_from_events(events, weight=1.0, trusted=True)}
    assert set(trusted) == {"45.134.26.7", "185.53.88.11"}
    assert trusted["45.134.26.7"].count == 6 and trusted["45.134.26.7"].trusted
    assert trusted["45.134.26.7"].reason == "honeypot probe (sipvicious/svmap)"
    # A PBX's failure is evidence, but never trusted evidence: customers mistype passwords.
    assert not trusted["185.53.88.11"].trusted
    untrusted = evidence_from_events(events, weight=1.0, trusted=False)
    assert not any(e.trusted for e in untrusted)


def test_judge() -> None:
    assert not judge([(1.0, False)] * 2, threshold=3).listed
    assert judge([(1.0, False)] * 3, threshold=3).listed
    assert judge([(0.5, True)], threshold=3).listed
    assert judge([], threshold=3) == judge([], threshold=3) and not judge([], threshold=3).listed


def test_token_bucket() -> None:
    bucket = TokenBucket(rate=2.0, burst=4)
    assert bucket.take("k", 0.0, cost=4) == 0.0
    assert bucket.take("k", 0.0) == pytest.approx(0.5)
    assert bucket.take("k", 0.5) == 0.0
    assert bucket.take("other", 0.5, cost=4) == 0.0


def test_check_cache() -> None:
    cache = CheckCache(ttl=1.0, size=2)
    cache.put("a", b"1", 10.0)
    assert cache.get("a", 10.9) == b"1"
    assert cache.get("a", 11.0) is None
    cache.put("b", b"2", 10.0)
    cache.put("c", b"3", 10.0)  # full: emptied, then filled again
    assert cache.get("a", 10.0) is None and cache.get("c", 10.0) == b"3"
