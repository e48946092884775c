"""Digest nonces that prove their own age and realm, so no table of issued nonces is kept.

A nonce carries the second it was issued, a random salt and an HMAC over realm, time and salt under
a secret. Any process holding the same secret verifies it (several workers behind one port), a
forged or foreign-realm nonce fails the MAC, and an old one is answered with a fresh challenge and
`stale=true` (RFC 7616 3.3, RFC 3261 22.4). Time and the salt are parameters; only the default
secret comes from `secrets`.

The nonce is written the way the imitated system writes its own: chan_pjsip sends
`<unix time>/<32 hex>`, FreeSWITCH a UUID, desk phones plain hex.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from typing import Final, Literal

NonceStyle = Literal["asterisk", "uuid", "hex"]
NonceVerdict = Literal["fresh", "stale", "unknown"]

#: Bytes of secret made per process when none is configured (an HMAC-SHA256 key of full strength).
SECRET_BYTES: Final = 32
#: Salt bytes per nonce: two challenges in the same second still differ (no constant fingerprint).
SALT_BYTES: Final = 4
#: A nonce issued up to this many seconds "in the future" is still accepted: worker processes
#: sharing a secret may read clocks a little apart.
CLOCK_SKEW_SECONDS: Final = 2
#: Longest nonce text looked at; every style is at most 43 characters.
MAX_NONCE_CHARS: Final = 64

_ASTERISK = re.compile(r"([0-9]{1,10})/([0-9a-f]{32})")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX = re.compile(r"[0-9a-f]{32}")


def random_salt(size: int) -> bytes:
    """Default salt source: `size` random bytes."""
    return secrets.token_bytes(size)


class NonceMint:
    """Issues and checks nonces of one style for any realm; stateless apart from the secret."""

    def __init__(
        self,
        *,
        lifetime: float,
        style: NonceStyle = "hex",
        secret: bytes | None = None,
        salt: Callable[[int], bytes] = random_salt,
    ) -> None:
        if lifetime <= 0:
            raise ValueError("nonce lifetime must be positive")
        self.lifetime = lifetime
        self.style: NonceStyle = style
        self.secret = secret or secrets.token_bytes(SECRET_BYTES)
        self.salt = salt

    def issue(self, realm: str, now: float) -> str:
        """A fresh nonce for `realm` at time `now`."""
        issued = int(now) & 0xFFFFFFFF
        salt = bytearray(self.salt(SALT_BYTES)[:SALT_BYTES].ljust(SALT_BYTES, b"\0"))
        if self.style == "uuid":
            salt[2] = (salt[2] & 0x0F) | 0x40  # it is the UUID's version byte: fixed before the MAC covers it
        return self._format(issued, bytes(salt), realm)

    def check(self, nonce: str, realm: str, now: float) -> NonceVerdict:
        """`fresh`, `stale` (ours, for this realm, but older than the lifetime) or `unknown`."""
        parsed = self._parse(nonce)
        if parsed is None:
            return "unknown"
        issued, salt = parsed
        if not hmac.compare_digest(self._format(issued, salt, realm), nonce.lower()):
            return "unknown"
        age = now - issued
        if age < -CLOCK_SKEW_SECONDS:
            return "unknown"
        return "fresh" if age <= self.lifetime else "stale"

    def _mac(self, realm: str, issued: int, salt: bytes) -> bytes:
        message = realm.encode("utf-8", "surrogateescape") + b"\0" + issued.to_bytes(4, "big") + salt
        return hmac.new(self.secret, message, hashlib.sha256).digest()

    def _format(self, issued: int, salt: bytes, realm: str) -> str:
        mac = self._mac(realm, issued, salt)
        if self.style == "asterisk":
            return f"{issued}/{(salt + mac[:12]).hex()}"
        raw = bytearray(issued.to_bytes(4, "big") + salt + mac[:8])
        if self.style == "uuid":
            # RFC 9562 4.1/4.2: version 4 and the variant bits, as FreeSWITCH's random UUIDs carry.
            raw[6] = (raw[6] & 0x0F) | 0x40
            raw[8] = (raw[8] & 0x3F) | 0x80
            text = raw.hex()
            return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
        return raw.hex()

    def _parse(self, nonce: str) -> tuple[int, bytes] | None:
        """(issue time, salt) from a nonce of this style, or None if it cannot be one of ours."""
        if len(nonce) > MAX_NONCE_CHARS:
            return None
        text = nonce.lower()
        if self.style == "asterisk":
            match = _ASTERISK.fullmatch(text)
            if match is None:
                return None
            issued = int(match.group(1))
            if issued > 0xFFFFFFFF:
                return None
            return issued, bytes.fromhex(match.group(2)[: 2 * SALT_BYTES])
        if self.style == "uuid":
            if _UUID.fullmatch(text) is None:
                return None
            text = text.replace("-", "")
        elif _HEX.fullmatch(text) is None:
            return None
        raw = bytes.fromhex(text)
        return int.from_bytes(raw[:4], "big"), raw[4 : 4 + SALT_BYTES]
