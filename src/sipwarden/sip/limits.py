"""Every bound the SIP core enforces, each with the reason for its number.

A honeypot faces hostile peers: every buffer, count and number read from the wire has a ceiling,
and crossing it is a ``RemoteProtocolError`` with the status a server would answer.
"""

from __future__ import annotations

from typing import Final

#: Largest message we parse. RFC 3261 18.1.1 sends anything near the path MTU over a congestion
#: controlled transport; a UDP datagram cannot carry more than 65,535 bytes (IPv4 total length),
#: so nothing bigger is a SIP message a UA would send. Beyond it: 513 Message Too Large.
MAX_MESSAGE_SIZE: Final = 65535

#: Longest start line. Apache's LimitRequestLine is 8190 and no legitimate Request-URI comes close;
#: RFC 4475's longreq test stays far under it.
MAX_START_LINE: Final = 8192

#: Longest header field after unfolding continuation lines. RFC 4475 longreq carries long values
#: (~1 KiB); 16 KiB is the whole header budget node.js allows, four times Apache's per-field 8190.
MAX_HEADER_LINE: Final = 16384

#: Most header fields in one message. Apache's LimitRequestFields is 100; SIP messages carry more
#: Via/Route/Record-Route fields on long proxy chains, so allow 256. Typical scanner traffic has ~10.
MAX_HEADERS: Final = 256

#: Largest body. A body never exceeds the message it sits in; SDP and multipart bodies are a few KiB.
#: A larger Content-Length is refused with 413 Request Entity Too Large.
MAX_BODY_SIZE: Final = MAX_MESSAGE_SIZE

#: Most digits we read for Content-Length before calling it absurd: 10 digits already exceed any
#: possible body, and refusing early keeps int() off attacker-sized strings.
MAX_CONTENT_LENGTH_DIGITS: Final = 10

#: Stream receive buffer (TCP/TLS). It holds at most one incomplete message plus one read chunk, so
#: two messages' worth: the caller drains it with ``next_message()`` between reads.
MAX_STREAM_BUFFER: Final = 2 * MAX_MESSAGE_SIZE + 2

#: CSeq sequence numbers MUST be below 2**31 (RFC 3261 8.1.1.5).
MAX_CSEQ: Final = 2**31 - 1

#: Max-Forwards is an integer 0..255 (RFC 3261 20.22; RFC 4475 scalar02 sends 300).
MAX_MAX_FORWARDS: Final = 255

#: Status codes are three digits, 100..699 (RFC 3261 7.2, 21).
MIN_STATUS: Final = 100
MAX_STATUS: Final = 699

#: Most ;parameters in one URI, Via or name-addr. Real messages carry under ten; the bound keeps a
#: 16 KiB line of semicolons from becoming thousands of tuples.
MAX_PARAMS: Final = 64

#: Highest port number (RFC 3261 25.1 ``port = 1*DIGIT``; TCP/UDP ports are 16-bit).
MAX_PORT: Final = 65535
