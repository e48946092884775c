"""Stream framing for SIP over TCP/TLS: bytes in, whole messages out (RFC 3261 18.3).

On a stream the only message boundary is Content-Length, which is therefore mandatory. CRLF
keep-alives between messages (RFC 5626 3.5.1: the client "ping" is a double CRLF and the server
answers a single CRLF "pong") are skipped and counted in ``keepalives`` so the transport can pong.
After any error the stream is out of sync and the framer refuses further use: close the connection.
"""

from __future__ import annotations

import re
from typing import Final, NoReturn

from sipwarden.sip.abnf import HEADER_END_RE
from sipwarden.sip.errors import RemoteProtocolError
from sipwarden.sip.limits import MAX_MESSAGE_SIZE, MAX_STREAM_BUFFER
from sipwarden.sip.message import parse_content_length

__all__ = ["StreamFramer", "is_keepalive"]

# Content-Length (or its compact form "l") at the start of a header line (RFC 3261 7.3.3, 20.14).
_CONTENT_LENGTH_RE: Final = re.compile(rb"\n(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)

_KEEPALIVE: Final = b"\r\n\r\n"
_LINE_ENDS_RE: Final = re.compile(rb"[\r\n]*")


def is_keepalive(datagram: bytes) -> bool:
    """True for a datagram of line ends only: a CRLF keep-alive (RFC 5626 3.5.1 pings, which many UAs
    also send over UDP to hold NAT bindings open) rather than a malformed message."""
    return bool(datagram) and not datagram.strip(b"\r\n")


class StreamFramer:
    """Cuts a byte stream into whole SIP messages; feed with ``receive_data``, drain with ``next_message``."""

    __slots__ = ("_buffer", "_error", "_message_size", "_search_from", "keepalives")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._error: RemoteProtocolError | None = None
        # Where the search for the end of the headers resumes: a peer sending one byte at a time must
        # not make every call rescan the whole buffer (quadratic work for a slow drip of bytes).
        self._search_from = 0
        # Size of the message at the front of the buffer once its headers are complete.
        self._message_size: int | None = None
        #: Double-CRLF pings seen (RFC 5626 3.5.1); the transport answers each with b"\r\n".
        self.keepalives = 0

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a message."""
        return len(self._buffer)

    def receive_data(self, data: bytes) -> None:
        """Add bytes from the stream; raises RemoteProtocolError(413) if the buffer would pass its bound."""
        self._raise_if_failed()
        if len(self._buffer) + len(data) > MAX_STREAM_BUFFER:
            self._fail(RemoteProtocolError(f"stream buffer exceeds {MAX_STREAM_BUFFER} bytes", error_status_hint=413))
        self._buffer += data

    def next_message(self) -> bytes | None:
        """The bytes of the next whole message, or None when more data is needed."""
        self._raise_if_failed()
        buf = self._buffer
        size = self._message_size
        if size is None:
            self._skip_keepalives()
            size = self._find_message_size()
            if size is None:
                return None
        if len(buf) < size:
            return None
        message = bytes(buf[:size])
        del buf[:size]
        self._message_size = None
        self._search_from = 0
        return message

    def _find_message_size(self) -> int | None:
        """Size of the message at the front once its header section is complete, else None."""
        buf = self._buffer
        end = HEADER_END_RE.search(buf, self._search_from)
        if end is None:
            if len(buf) > MAX_MESSAGE_SIZE:
                self._fail(RemoteProtocolError("header section never ends", error_status_hint=513))
            self._search_from = max(0, len(buf) - 2)  # a match is 2-3 bytes and may straddle reads
            return None
        # A leading LF lets a Content-Length on the first header line match like the others.
        head = b"\n" + bytes(buf[: end.start()])
        values = {value.strip(b" \t") for value in _CONTENT_LENGTH_RE.findall(head)}
        if not values:
            self._fail(RemoteProtocolError("message on a stream without Content-Length (RFC 3261 18.3)"))
        try:
            lengths = {parse_content_length(value.decode("latin-1")) for value in values}
        except RemoteProtocolError as exc:
            self._fail(exc)
        if len(lengths) > 1:
            # Two lengths: where the next message starts is a guess; a desynchronised stream is worse
            # than a closed one (the request-smuggling split).
            self._fail(RemoteProtocolError("conflicting Content-Length headers"))
        size = end.end() + lengths.pop()
        if size > MAX_MESSAGE_SIZE:
            self._fail(
                RemoteProtocolError(f"message of {size} bytes exceeds {MAX_MESSAGE_SIZE}", error_status_hint=513)
            )
        self._message_size = size
        return size

    def _skip_keepalives(self) -> None:
        buf = self._buffer
        if not buf or buf[0] not in b"\r\n":
            return
        run = _LINE_ENDS_RE.match(buf)
        assert run is not None  # the pattern matches the empty string
        skip = run.end()
        if skip == len(buf):
            # Only line ends so far: keep a tail shorter than a ping, it may be half of one.
            skip -= skip % len(_KEEPALIVE)
        # Count double-CRLF pings; a lone CRLF (a pong, or a ping still in flight) is not one.
        self.keepalives += bytes(buf[:skip]).count(_KEEPALIVE)
        if skip:
            del buf[:skip]
            self._search_from = 0

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise RemoteProtocolError(
                f"stream out of sync after earlier error: {self._error}",
                error_status_hint=self._error.error_status_hint,
            )

    def _fail(self, exc: RemoteProtocolError) -> NoReturn:
        self._error = exc
        raise exc
