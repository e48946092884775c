"""Reading the few request fields the honeypot acts on, cheaply.

The OPTIONS path runs 10,000 times a second, so tag, branch and user are read with small regexes
instead of full header parses; handlers that act on an account still parse From/To properly
(`user_of`).
"""

from __future__ import annotations

import re
from typing import Final

from sipwarden.sip.errors import ProtocolError
from sipwarden.sip.headers import parse_name_addr
from sipwarden.sip.message import Request

#: Expiry granted to a cracked account's binding (Asterisk's default `default_expiration`).
DEFAULT_EXPIRES: Final = 3600

TAG: Final = re.compile(r";\s*tag\s*=\s*([^;,\s]+)", re.IGNORECASE)
BRANCH: Final = re.compile(r";\s*branch\s*=\s*([^;,\s]+)", re.IGNORECASE)
_URI_USER: Final = re.compile(r"(?:sips?|tel):([^@;>:\s]+)(?::[^@;>\s]*)?@", re.IGNORECASE)


def param_after_uri(value: str | None, pattern: re.Pattern[str]) -> str | None:
    """A header parameter (tag, branch) outside the <URI>, where URI parameters cannot pose as it."""
    if not value:
        return None
    match = pattern.search(value, value.rfind(">") + 1)
    return match.group(1) if match else None


def uri_user(value: str | None) -> str | None:
    """The user part of the first SIP URI in `value` (Request-URI, From or To), or None."""
    if not value:
        return None
    match = _URI_USER.search(value)
    return match.group(1) if match else None


def request_uri_user(request: Request) -> str | None:
    """The user part of the Request-URI, or None."""
    return uri_user(request.uri)


def register_expires(request: Request) -> int:
    """The binding lifetime: the Expires header if sane, else DEFAULT_EXPIRES (RFC 3261 10.2.1.1)."""
    value = (request.headers.get("Expires") or "").strip()
    if value.isdigit() and 60 <= int(value) <= 86_400:
        return int(value)
    return DEFAULT_EXPIRES


def codec_name(payload_type: int) -> str:
    """PCMU / PCMA for the G.711 payload types (RFC 3551 table 4)."""
    return {0: "PCMU", 8: "PCMA"}.get(payload_type, str(payload_type))


def user_of(value: str | None) -> str | None:
    """The user part of a From/To/Request-URI value, or None."""
    if not value:
        return None
    try:
        return parse_name_addr(value).uri.user or None
    except ProtocolError:
        return None
