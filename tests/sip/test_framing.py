"""Stream framing for TCP/TLS (sip/framing.py)."""

from __future__ import annotations

import re

import pytest

from sipwarden.sip import framing
from sipwarden.sip.abnf import HEADER_END_RE
from sipwarden.sip.errors import RemoteProtocolError
from sipwarden.sip.framing import StreamFramer, is_keepalive
from sipwarden.sip.limits import MAX_MESSAGE_SIZE, MAX_STREAM_BUFFER
from sipwarden.sip.message import Request, parse_message


def request(n: int, body: bytes = b"", length_header: str = "Content-Length") -> bytes:
    head = (
        f"MESSAGE sip:100@192.0.2.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP 198.51.100.7:5060;branch=z9hG4bK-{n}\r\n"
        f"From: <sip:a@198.51.100.7>;tag={n}\r\n"
        f"To: <sip:100@192.0.2.1>\r\n"
        f"Call-ID: stream-{n}@198.51.100.7\r\n"
        f"CSeq: {n} MESSAGE\r\n"
        f"{length_header}: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def drain(framer: StreamFramer) -> list[bytes]:
    out: list[bytes] = []
    for _ in range(1000):  # bounded: a framer that never returns None would be a bug
        message = framer.next_message()
        if message is None:
            return out
        out.append(message)
    raise AssertionError("framer kept returning messages")


MESSAGES = [request(1), request(2, b"hello\r\n\r\nworld"), request(3, b"\r\n", "l"), request(4, bytes(range(256)))]
STREAM = b"".join(MESSAGES)


def test_whole_stream_in_one_read() -> None:
    framer = StreamFramer()
    framer.receive_data(STREAM)
    assert drain(framer) == MESSAGES
    assert framer.buffered == 0


def test_split_at_every_byte_boundary() -> None:
    for cut in range(len(STREAM) + 1):
        framer = StreamFramer()
        framer.receive_data(STREAM[:cut])
        got = drain(framer)
        framer.receive_data(STREAM[cut:])
        got += drain(framer)
        assert got == MESSAGES, cut


def test_one_byte_at_a_time() -> None:
    framer = StreamFramer()
    got: list[bytes] = []
    for i in range(len(STREAM)):
        framer.receive_data(STREAM[i : i + 1])
        got += drain(framer)
    assert got == MESSAGES
    assert [parse_message(m).call_id for m in got] == [f"stream-{n}@198.51.100.7" for n in (1, 2, 3, 4)]


def test_keepalives_are_skipped_and_counted() -> None:
    framer = StreamFramer()
    framer.receive_data(b"\r\n\r\n" + MESSAGES[0] + b"\r\n\r\n\r\n\r\n" + MESSAGES[1])
    assert drain(framer) == MESSAGES[:2]
    assert framer.keepalives == 3


def test_keepalive_ping_split_across_reads_is_counted_once() -> None:
    framer = StreamFramer()
    framer.receive_data(b"\r\n")
    assert framer.next_message() is None
    framer.receive_data(b"\r\n")
    assert framer.next_message() is None
    assert framer.keepalives == 1
    framer.receive_data(b"\r\n")  # a lone CRLF (pong) is no ping
    assert framer.next_message() is None
    framer.receive_data(MESSAGES[0])
    assert drain(framer) == [MESSAGES[0]]
    assert framer.keepalives == 1


@pytest.mark.parametrize("pieces", [[b"\r\n\r", b"\n"], [b"\r", b"\n\r", b"\n"], [b"\r\n", b"\r", b"\n"]])
def test_keepalive_in_odd_pieces_then_a_message(pieces: list[bytes]) -> None:
    framer = StreamFramer()
    for piece in pieces:
        framer.receive_data(piece)
        assert framer.next_message() is None
    framer.receive_data(MESSAGES[1][:30])
    assert framer.next_message() is None
    framer.receive_data(MESSAGES[1][30:])
    assert drain(framer) == [MESSAGES[1]]
    assert framer.keepalives == 1


def test_conflicting_content_lengths_on_a_stream() -> None:
    framer = StreamFramer()
    framer.receive_data(request(1).replace(b"Content-Length: 0\r\n", b"Content-Length: 0\r\nl: 5\r\n") + b"hello")
    with pytest.raises(RemoteProtocolError):
        framer.next_message()


def test_repeated_equal_content_lengths_are_fine() -> None:
    framer = StreamFramer()
    message = request(1).replace(b"Content-Length: 0\r\n", b"Content-Length: 0\r\nl: 00\r\n")
    framer.receive_data(message)
    assert drain(framer) == [message]


def test_lf_only_stream() -> None:
    message = request(5, b"body").replace(b"\r\n", b"\n")
    framer = StreamFramer()
    framer.receive_data(message + message)
    got = drain(framer)
    assert got == [message, message]
    parsed = parse_message(got[0])
    assert isinstance(parsed, Request) and parsed.body == b"body"


def test_missing_content_length_is_an_error_and_the_framer_stays_failed() -> None:
    framer = StreamFramer()
    framer.receive_data(request(1).replace(b"Content-Length: 0\r\n", b""))
    with pytest.raises(RemoteProtocolError) as info:
        framer.next_message()
    assert info.value.error_status_hint == 400
    with pytest.raises(RemoteProtocolError):
        framer.next_message()
    with pytest.raises(RemoteProtocolError):
        framer.receive_data(MESSAGES[0])


def test_content_length_in_a_value_is_not_a_header() -> None:
    data = request(1).replace(b"Content-Length: 0\r\n", b"Subject: x-Content-Length: 5\r\n")
    framer = StreamFramer()
    framer.receive_data(data)
    with pytest.raises(RemoteProtocolError):
        framer.next_message()


@pytest.mark.parametrize(
    ("value", "hint"),
    [(b"-5", 400), (b"abc", 400), (b"99999999999999999999", 413), (str(MAX_MESSAGE_SIZE + 1).encode(), 413)],
)
def test_bad_content_length_on_a_stream(value: bytes, hint: int) -> None:
    framer = StreamFramer()
    framer.receive_data(request(1).replace(b"Content-Length: 0", b"Content-Length: " + value))
    with pytest.raises(RemoteProtocolError) as info:
        framer.next_message()
    assert info.value.error_status_hint == hint


def test_message_larger_than_the_limit() -> None:
    framer = StreamFramer()
    framer.receive_data(request(1).replace(b"Content-Length: 0", f"Content-Length: {MAX_MESSAGE_SIZE - 10}".encode()))
    with pytest.raises(RemoteProtocolError) as info:
        framer.next_message()
    assert info.value.error_status_hint == 513


def test_headers_that_never_end() -> None:
    framer = StreamFramer()
    line = b"X-Filler: " + b"a" * 1000 + b"\r\n"
    framer.receive_data(b"OPTIONS sip:a@b SIP/2.0\r\n")
    with pytest.raises(RemoteProtocolError) as info:
        for _ in range(MAX_STREAM_BUFFER // len(line) + 2):
            framer.receive_data(line)
            assert framer.next_message() is None
    assert info.value.error_status_hint in (413, 513)


def test_buffer_bound() -> None:
    framer = StreamFramer()
    framer.receive_data(b"x" * MAX_STREAM_BUFFER)
    with pytest.raises(RemoteProtocolError) as info:
        framer.receive_data(b"x")
    assert info.value.error_status_hint == 413


def test_endless_crlf_does_not_grow_the_buffer() -> None:
    framer = StreamFramer()
    for _ in range(1000):
        framer.receive_data(b"\r\n" * 512)
        assert framer.next_message() is None
        assert framer.buffered < 4
    assert framer.keepalives == 1000 * 512 // 2


class _CountingPattern:
    """Wraps the header-end pattern and counts the bytes each search has to look at."""

    def __init__(self, pattern: re.Pattern[bytes]) -> None:
        self.pattern = pattern
        self.scanned = 0

    def search(self, data: bytearray, pos: int = 0) -> re.Match[bytes] | None:
        self.scanned += len(data) - pos
        return self.pattern.search(data, pos)


def test_a_slow_drip_of_header_bytes_is_scanned_once(monkeypatch: pytest.MonkeyPatch) -> None:
    counting = _CountingPattern(HEADER_END_RE)
    monkeypatch.setattr(framing, "HEADER_END_RE", counting)
    message = request(1).replace(b"CSeq", b"X-Filler: " + b"a" * 20_000 + b"\r\nCSeq")
    framer = StreamFramer()
    for i in range(len(message)):
        framer.receive_data(message[i : i + 1])
        got = framer.next_message()
    assert got == message
    # Linear: each byte is looked at a few times at most, not once per later byte (~200 million).
    assert counting.scanned < 4 * len(message)


@pytest.mark.parametrize(
    ("datagram", "expected"),
    [(b"\r\n\r\n", True), (b"\r\n", True), (b"\n", True), (b"", False), (b"\r\n\x00", False), (b" \r\n", False)],
)
def test_is_keepalive(datagram: bytes, expected: bool) -> None:
    assert is_keepalive(datagram) is expected
