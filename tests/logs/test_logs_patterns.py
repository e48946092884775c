"""Every pattern matches its labelled samples with the expected fields, and no sample matches twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from sipwarden.events import Event
from sipwarden.sensors.logs import PATTERNS, LineParser
from sipwarden.sensors.logs.parser import ENVELOPES
from sipwarden.sensors.logs.patterns import Pattern, Sample, check_patterns
from sipwarden.sensors.logs.prefix import TimeContext

CASES = [pytest.param(p, s, id=f"{p.id}#{i}") for p in PATTERNS for i, s in enumerate(p.samples)]


def _field(event: Event | None, name: str) -> Any:
    if name == "kind":
        return event.kind if event else None
    assert event is not None
    if name == "reason":
        return event.detail.get("reason")
    if name == "ts":
        return event.ts.isoformat()
    return getattr(event, name)


@pytest.mark.parametrize(("pattern", "sample"), CASES)
def test_sample_matches_its_pattern_with_expected_fields(pattern: Pattern, sample: Sample) -> None:
    result = LineParser(None, time=TimeContext(year_hint=2020)).parse_line(sample.line, 7)
    assert result is not None, f"{pattern.id} does not recognise its sample"
    assert result.pattern_id == pattern.id
    assert result.raw == sample.line
    assert result.line_no == 7
    for name, expected in sample.expect.items():
        assert _field(result.event, name) == expected, name
    if result.event is not None:
        assert result.event.raw == sample.line
        assert result.event.detail["pattern"] == pattern.id
        assert result.event.source in {"asterisk", "freeswitch", "kamailio", "opensips"}
        assert result.event.ts.tzinfo is not None


@pytest.mark.parametrize(("pattern", "sample"), CASES)
def test_no_sample_matches_two_patterns(pattern: Pattern, sample: Sample) -> None:
    parser = LineParser(None, time=TimeContext(year_hint=2020))
    envelopes = {"asterisk", "freeswitch", "kamailio"}
    hits = []
    for other in PATTERNS:
        if other.trigger not in sample.line:
            continue
        for family in envelopes:
            if family != other.family:
                continue
            env = ENVELOPES[family].match(sample.line)
            if other.find(sample.line[env.end() :] if env else sample.line) is not None:
                hits.append(other.id)
    assert hits == [pattern.id]
    assert parser.stats.lines == 0


def test_every_pattern_has_samples_and_a_unique_id() -> None:
    check_patterns(PATTERNS)
    bare = Pattern(id="x", family="asterisk", kind="probe", trigger="x", regex=PATTERNS[0].regex, samples=())
    with pytest.raises(ValueError, match="without samples"):
        check_patterns((*PATTERNS, bare))
    with pytest.raises(ValueError, match="duplicate"):
        check_patterns((PATTERNS[0], PATTERNS[0]))


def test_sample_must_contain_the_trigger() -> None:
    p = PATTERNS[0]
    wrong = Pattern(id="y", family=p.family, kind=p.kind, trigger="absent", regex=p.regex, samples=p.samples)
    with pytest.raises(ValueError, match="trigger"):
        check_patterns((wrong,))


def test_every_family_and_kind_is_covered() -> None:
    families = {p.family for p in PATTERNS}
    assert families == {"asterisk", "freeswitch", "kamailio"}
    kinds = {s.expect.get("kind") for p in PATTERNS for s in p.samples}
    assert {"auth_failure", "unknown_user", "acl_denied", "auth_success", "call_rejected", "blocked", "probe"} <= kinds


def test_informational_security_event_is_recognised_without_event() -> None:
    line = next(s.line for p in PATTERNS for s in p.samples if "ChallengeSent" in s.line)
    parser = LineParser("asterisk")
    result = parser.parse_line(line)
    assert result is not None and result.event is None and result.pattern_id == "ast.security"
    assert parser.stats.matched["ast.security"] == 1


def test_year_hint_and_zone() -> None:
    from datetime import UTC, timedelta, timezone

    line = "[Jan 18 17:39:50] NOTICE[1]: chan_sip.c:1 f: Registration from '<sip:1@x>' failed for '192.0.2.1' - Wrong password"
    cet = timezone(timedelta(hours=1))
    result = LineParser("asterisk", time=TimeContext(tz=cet, year_hint=2019)).parse_line(line)
    assert result is not None and result.event is not None
    assert result.event.ts == datetime(2019, 1, 18, 16, 39, 50, tzinfo=UTC)
