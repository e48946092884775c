"""ParseResult: the kind at once, the Event on first read (and only once), read-only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sipwarden.events import Event
from sipwarden.sensors.logs import LineParser, ParseResult
from sipwarden.sensors.logs.prefix import LeadingTimes, TimeContext, parse_leading_time

FAIL = "[2024-03-01 10:00:01] NOTICE[2] chan_sip.c: Registration from '<sip:100@x>' failed for '192.0.2.1:5060' - Wrong password"
# The caller's name and the dialled extension both repeat the address slot: ambiguous.
AMBIGUOUS = (
    "[2016-01-28 10:34:33] NOTICE[3477][C-000003c3] chan_sip.c: Call from '' (1.2.3.4:5060) to extension '1' "
    "(6.6.6.6:5060) to extension '2' rejected because extension not found in context 'default'."
)


def test_kind_is_known_before_the_event_is_built() -> None:
    parser = LineParser("asterisk")
    result = parser.parse_line(FAIL, 2)
    assert result is not None
    assert result.kind == "auth_failure" and result.pattern_id == "ast.chansip.register_failed"
    assert result._draft is not None  # nothing built yet
    assert parser.stats.events == 1  # counted all the same
    event = result.event
    assert isinstance(event, Event) and event.kind == result.kind
    assert (event.src_ip, event.src_port, event.username) == ("192.0.2.1", 5060, "100")
    assert event.ts == datetime(2024, 3, 1, 10, 0, 1, tzinfo=UTC)
    assert result.event is event  # built once: the same id every time
    assert result._draft is None


def test_a_malformed_line_has_the_malformed_kind_up_front() -> None:
    parser = LineParser("asterisk")
    result = parser.parse_line(AMBIGUOUS)
    assert result is not None and result.kind == "malformed"
    assert parser.stats.malformed == 1
    event = result.event
    assert event is not None and event.kind == "malformed" and event.src_ip is None
    assert "ambiguous" in event.detail["error"]


def test_ids_follow_the_order_events_are_built() -> None:
    parser = LineParser("asterisk")
    first, second = parser.parse_line(FAIL), parser.parse_line(FAIL)
    assert first is not None and second is not None
    later, earlier = second.event, first.event
    assert later is not None and earlier is not None
    assert later.id < earlier.id  # a consumer that stores in the order it reads gets sorted ids


def test_results_are_read_only_and_compare_like_records() -> None:
    result = LineParser("asterisk").parse_line(FAIL, 4)
    assert result is not None
    with pytest.raises(AttributeError, match="read-only"):
        result.kind = "probe"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="read-only"):
        del result.raw
    same = ParseResult(result.line_no, result.raw, result.event, result.pattern_id)
    assert same == result and same.kind == result.kind
    assert ParseResult(4, FAIL, None, None) != result
    assert "ast.chansip.register_failed" in repr(result)
    with pytest.raises(TypeError):
        hash(result)


def test_informational_and_missed_lines_have_no_kind() -> None:
    parser = LineParser("asterisk", report_missed=True)
    missed = parser.parse_line("[2024-03-01 10:00:00] NOTICE[1] x.c: something failed here")
    assert missed is not None and missed.kind is None and missed.event is None and missed.pattern_id is None


@pytest.mark.parametrize(
    "line",
    [
        "[2024-03-01 10:00:00] NOTICE",
        "[Mar  1 10:00:00] NOTICE",
        "Nov  4 18:30:40 host asterisk[1]: NOTICE",
        "2016-09-25T18:57:58.150982+02:00 host freeswitch[1]: x",
        "08-03 07:56:53.026292 [WARN] x",
        "no date here",
    ],
)
def test_leading_times_agrees_with_parse_leading_time(line: str) -> None:
    ctx = TimeContext(reference=datetime(2024, 6, 1, tzinfo=UTC))
    times = LeadingTimes(ctx)
    assert times.parse(line) == parse_leading_time(line, ctx)
    assert times.parse(line) == parse_leading_time(line, ctx)  # from its memory the second time


def test_leading_times_does_not_keep_clock_dependent_years() -> None:
    times = LeadingTimes(TimeContext())  # no year hint, no reference: the year comes from the clock
    assert times.parse("[Mar  1 10:00:00] NOTICE") is not None
    assert times.parse("[2024-03-01 10:00:00] NOTICE") is not None
    assert list(times._known) == ["[2024-03-01 10:00:00"]
