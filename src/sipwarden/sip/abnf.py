"""Grammar fragments of RFC 3261 section 25, as regular expressions next to the ABNF they implement.

Wire text is latin-1 decoded (one character per byte, see ``message.py``), so these patterns run on
``str`` and every character class is written in terms of bytes 0x00..0xFF.
The hot parse path avoids regular expressions per header; these are for validation of names and
start lines and for the rarer structured parsing.
"""

from __future__ import annotations

import re
from typing import Final

# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")   (RFC 3261 25.1)
TOKEN: Final = r"[A-Za-z0-9\-.!%*_+`'~]+"  # noqa: S105 (a grammar rule, not a password)

# Method = INVITEm / ACKm / ... / extension-method ; extension-method = token
METHOD: Final = TOKEN

# SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT   ("SIP" is case-insensitive, RFC 3261 7.1)
SIP_VERSION: Final = r"[Ss][Ii][Pp]/[0-9]+\.[0-9]+"

# Status-Code = 3DIGIT
STATUS_CODE: Final = r"[0-9]{3}"

# scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )   (RFC 3986 3.1, RFC 3261 25.1)
SCHEME: Final = r"[A-Za-z][A-Za-z0-9+\-.]*"

# Request-URI = SIP-URI / SIPS-URI / absoluteURI: a scheme, a colon, and no whitespace.
# RFC 4475 3.1.2.6 ltgtruri (<...>) and 3.1.2.7 lwsruri fail here.
REQUEST_URI: Final = SCHEME + r":[^\x00-\x20\x7f<>]*"

# port = 1*DIGIT
PORT: Final = r"[0-9]{1,5}"

TOKEN_RE: Final = re.compile(TOKEN)
METHOD_RE: Final = re.compile(METHOD)
SIP_VERSION_RE: Final = re.compile(SIP_VERSION)
STATUS_CODE_RE: Final = re.compile(STATUS_CODE)
SCHEME_RE: Final = re.compile(SCHEME)
REQUEST_URI_RE: Final = re.compile(REQUEST_URI)

# End of the header section: an empty line. RFC 3261 7.5 asks for CRLF, but LF-only senders exist,
# so a bare LF ends a line too; "\n\r?\n" finds CRLF CRLF, LF LF and mixed forms in one search
# (the caller drops the CR before the match). The pattern starts with a literal so the engine scans
# with memchr; a leading "\r?" would make it try every offset, 15x slower on a 400-byte message.
HEADER_END_RE: Final = re.compile(rb"\n\r?\n")

# Characters forbidden in a header value we send: CR and LF would inject headers (RFC 3261 7.3.1
# allows only folded LWS, which we never produce) and NUL breaks every C parser downstream.
FORBIDDEN_VALUE_CHARS: Final = frozenset("\r\n\x00")
