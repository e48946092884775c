"""The server-sent events parser, line by line."""

from __future__ import annotations

import pytest

from sipwarden.agent.sse import MAX_DATA_CHARS, SseMessage, SseParser, SseProtocolError


def feed(parser: SseParser, text: str) -> list[SseMessage]:
    out = []
    for line in text.split("\n"):
        msg = parser.feed_line(line)
        if msg is not None:
            out.append(msg)
    return out


def test_messages_with_ids_and_comments() -> None:
    parser = SseParser()
    text = ': hello\n\nid: 7\nevent: new\ndata: {"a": 1}\n\n: keep-alive\n\nid: 8\nevent: deleted\ndata:x\n\n'
    msgs = feed(parser, text)
    assert msgs == [SseMessage("new", '{"a": 1}', "7"), SseMessage("deleted", "x", "8")]
    assert parser.last_id == "8"


def test_multiline_data_default_event_and_crlf() -> None:
    msgs = feed(SseParser(last_id="3"), "data: one\r\ndata: two\r\n\r\n")
    assert msgs == [SseMessage("message", "one\ntwo", "3")]


def test_event_without_data_is_not_dispatched() -> None:
    parser = SseParser()
    assert feed(parser, "event: new\n\nretry: 10\nunknown: x\n\n") == []


def test_oversized_data_is_refused_and_parser_recovers() -> None:
    parser = SseParser()
    chunk = "x" * 1000
    with pytest.raises(SseProtocolError):
        for _ in range(MAX_DATA_CHARS // 1000 + 2):
            parser.feed_line("data: " + chunk)
    assert feed(parser, "data: ok\n\n") == [SseMessage("message", "ok", None)]
