"""The labelled corpora that ship with fail2ban: 100% recall with the right host, no false bans."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sipwarden.sensors.logs import LineParser
from sipwarden.sensors.logs.prefix import TimeContext

CORPUS = Path("/usr/lib/python3/dist-packages/fail2ban/tests/files/logs")
# fail2ban's tests run with the clock at 2005-08-14 (MyTime), which fixes year-less dates.
REFERENCE = datetime(2005, 8, 14, 12, 0, tzinfo=UTC)
NOT_BANWORTHY = {"auth_success", "register", "malformed"}


def _labelled(name: str) -> list[tuple[int, dict[str, object], str]]:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"{path} absent: install Debian's fail2ban (make test does)")
    out = []
    expect: dict[str, object] | None = None
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("# failJSON:"):
            expect = json.loads(line.split(":", 1)[1])
        elif line.startswith("#") or not line.strip():
            continue
        elif expect is not None:
            out.append((n, expect, line))
            expect = None
    return out


@pytest.mark.parametrize("name", ["asterisk", "freeswitch"])
def test_every_match_true_line_is_recognised_with_its_host(name: str) -> None:
    cases = _labelled(name)
    positives = [c for c in cases if c[1]["match"]]
    assert len(positives) >= 8
    misses = []
    for n, expect, line in positives:
        result = LineParser(name, time=TimeContext(reference=REFERENCE)).parse_line(line, n)
        event = result.event if result else None
        if event is None or event.src_ip != expect["host"] or event.kind in NOT_BANWORTHY:
            misses.append((n, line, event and (event.kind, event.src_ip)))
            continue
        assert event.raw == line
        when = expect.get("time")
        if when and "event_tv" not in event.detail:
            # Local times without a zone are read as UTC (the default); the security log's EventTV
            # carries its own zone and is preferred, so its time legitimately differs.
            assert event.ts.replace(tzinfo=None).isoformat(timespec="seconds") == when, line
    assert not misses, misses


@pytest.mark.parametrize("name", ["asterisk", "freeswitch"])
def test_match_false_lines_give_no_banworthy_event(name: str) -> None:
    negatives = [c for c in _labelled(name) if not c[1]["match"]]
    banworthy = []
    for n, _, line in negatives:
        result = LineParser(name, time=TimeContext(reference=REFERENCE)).parse_line(line, n)
        if result and result.event and result.event.kind not in NOT_BANWORTHY:
            banworthy.append((n, line, result.event.kind))
    assert not banworthy, banworthy


def test_auto_detection_picks_the_corpus_family() -> None:
    from sipwarden.sensors.logs import detect_format

    for name in ("asterisk", "freeswitch"):
        lines = [c[2] for c in _labelled(name)]
        assert detect_format(lines) == name
