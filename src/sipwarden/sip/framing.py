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

__all__ = ["StreamFramer"]

# Content-Length (or its compact form "l") at the start of a header line (RFC 3261 7.3.3, 20.14).
_CONTENT_LENGTH_RE: Final = re.compile(rb"\n(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)

_KEEPALIVE: Final = b"\r\n\r\n"
_LINE_ENDS_RE: Final = re.compile(rb"[\r\n]*")


class StreamFramer:
    """Cuts a byte stream into whole SIP messages; feed with ``receive_data``, drain with ``next_message``."""

    __slots__ = ("_buffer", "_error", "keepalives")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._error: RemoteProtocolError | None = None
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
        self._skip_keepalives()
        if not buf:
            return None
        end = HEADER_END_RE.search(buf)
        if end is None:
            if len(buf) > MAX_MESSAGE_SIZE:
                self._fail(RemoteProtocolError("header section never ends", error_status_hint=513))
            return None
        # Search from the byte before the head so a Content-Length on the first header line matches.
        head = b"\n" + bytes(buf[: end.start()])
        match = _CONTENT_LENGTH_RE.search(head)
        if match is None:
            self._fail(RemoteProtocolError("message on a stream without Content-Length (RFC 3261 18.3)"))
        try:
            length = parse_content_length(match.group(1).decode("latin-1"))
        except RemoteProtocolError as exc:
            self._fail(exc)
        total = end.end() + length
        if total > MAX_MESSAGE_SIZE:
            self._fail(
                RemoteProtocolError(f"message of {total} bytes exceeds {MAX_MESSAGE_SIZE}", error_status_hint=513)
            )
        if len(buf) < total:
            return None
        message = bytes(buf[:total])
        del buf[:total]
        return message

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
        del buf[:skip]

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise RemoteProtocolError(
                f"stream out of sync after earlier error: {self._error}",
                error_status_hint=self._error.error_status_hint,
            )

    def _fail(self, exc: RemoteProtocolError) -> NoReturn:
        self._error = exc
        raise exc
