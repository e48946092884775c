"""Dashboard logins: scrypt password hashes, signed session cookies and double-submit CSRF tokens.

The session secret lives in the store (kv), so every hub replica behind one database accepts the
same cookies and a restart does not log everyone out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Final

from sipwarden.store import Store

#: scrypt cost (RFC 7914): N=2**14, r=8, p=1 is the parameter set the RFC and OWASP cite for
#: interactive logins; about 16 MiB and 50 ms per check.
SCRYPT_N: Final = 2**14
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
SCRYPT_DKLEN: Final = 32
#: Longest password accepted: a bound on work per login attempt, far above any real passphrase.
MAX_PASSWORD_CHARS: Final = 1024
SESSION_SECRET_KV: Final = "ui.session_secret"  # noqa: S105  (a kv key name, not a secret)
USER_KEY_PREFIX: Final = "ui.user."
SESSION_COOKIE: Final = "sw_session"
CSRF_COOKIE: Final = "sw_csrf"


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """`scrypt$N$r$p$salt$hash` (base64) of `password`."""
    if not password or len(password) > MAX_PASSWORD_CHARS:
        raise ValueError(f"a password needs 1..{MAX_PASSWORD_CHARS} characters")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_DKLEN)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether `password` matches `encoded` (a malformed hash never matches)."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt" or len(password) > MAX_PASSWORD_CHARS:
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def session_secret(store: Store) -> bytes:
    """The store's session secret, created on first use."""
    value = store.get_kv(SESSION_SECRET_KV)
    if value is None:
        store.set_kv(SESSION_SECRET_KV, secrets.token_hex(32))
        value = store.get_kv(SESSION_SECRET_KV) or ""
    return bytes.fromhex(value)


def add_user(store: Store, name: str, password: str) -> None:
    """Create or replace a dashboard user (kept in the store)."""
    if not name or len(name) > 64 or not name.isprintable():
        raise ValueError("a user name needs 1..64 printable characters")
    store.set_kv(USER_KEY_PREFIX + name, hash_password(password))


def check_login(store: Store, name: str, password: str, *, admin_user: str, admin_hash: str) -> bool:
    """Whether `name`/`password` is the configured admin or a user created in the store."""
    if admin_hash and hmac.compare_digest(name.encode(), admin_user.encode()):
        return verify_password(password, admin_hash)
    stored = store.get_kv(USER_KEY_PREFIX + name) if 0 < len(name) <= 64 else None
    if stored is None:
        # Same work as a real check, so a wrong user name takes as long as a wrong password.
        verify_password(
            password, "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        )
        return False
    return verify_password(password, stored)


def _sign(secret: bytes, payload: str) -> str:
    return hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()


def make_session(secret: bytes, user: str, now: datetime, hours: float) -> str:
    """A cookie value naming `user` until `now + hours`."""
    until = int((now + timedelta(hours=hours)).timestamp())
    payload = base64.urlsafe_b64encode(f"{until}:{user}".encode()).decode()
    return f"{payload}.{_sign(secret, payload)}"


def read_session(secret: bytes, value: str | None, now: datetime) -> str | None:
    """The user of a valid, unexpired session cookie, or None."""
    if not value or len(value) > 512 or "." not in value:
        return None
    payload, _, sig = value.rpartition(".")
    if not hmac.compare_digest(sig, _sign(secret, payload)):
        return None
    try:
        until, _, user = base64.urlsafe_b64decode(payload.encode()).decode().partition(":")
        if int(until) < now.timestamp():
            return None
    except ValueError:
        return None
    return user or None


def new_csrf_token() -> str:
    """A random token for the double-submit CSRF cookie."""
    return secrets.token_urlsafe(24)


def csrf_ok(cookie: str | None, form_value: str | None) -> bool:
    """The form carries the same token as the cookie (a foreign site can read neither)."""
    return bool(cookie) and bool(form_value) and hmac.compare_digest(str(cookie), str(form_value))
