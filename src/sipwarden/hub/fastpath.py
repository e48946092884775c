"""A pure-ASGI fast path for the hottest requests: one-address `check` lookups, answered from the
process's in-memory index (`lookup.HubIndex`) without routing, validation or the database.

PBXs and SBCs may ask about every new source, thousands of times a second. Answered here:

- `GET /v1/check/{ip}` (native; key in `Authorization: Bearer` or `X-Api-Key`)
- `GET /api/{KEY}/check/{IP}` (APIBAN v1) and `POST /api/check` (APIBAN v2: Bearer key, JSON body
  `{"set": "sip", "ipaddress": IP}` as apiban/golib sends it; `{"apikey", "ip"}` is read too)
- `GET /ip-addresses/{ip}` (SentryPeer)

Keys are checked against the index's set of live key hashes (reloaded every second, so a revocation
takes effect within about a second). Anything else — another path, no key from a network that may
not read anonymously, a body that is not a small JSON object, a bad address, an index that is not
loaded or has not refreshed lately — goes on to the app, which answers from the database.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Sequence
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sipwarden.hub import compat
from sipwarden.hub.auth import MAX_KEY_CHARS
from sipwarden.hub.lookup import HubIndex, address_key, dumps, key_address, record_seq

NATIVE: Final = "/v1/check/"
SENTRYPEER: Final = "/ip-addresses/"
APIBAN_PREFIX: Final = "/api/"
APIBAN_POST: Final = "/api/check"
#: Largest APIBAN v2 check body read here; golib sends ~40 bytes. Longer bodies go to the app.
MAX_CHECK_BODY: Final = 4096
JSON: Final = [(b"content-type", b"application/json")]
APIBAN_UNAUTHORIZED: Final = dumps(compat.APIBAN_UNAUTHORIZED)
APIBAN_NOT_BLOCKED: Final = dumps({"ipaddress": ["not blocked"], "ID": "none"})
NATIVE_UNAUTHORIZED: Final = dumps({"detail": "unknown or revoked API key"})
SENTRYPEER_NOT_FOUND: Final = dumps({"message": "No bad actor found"})

Answer = tuple[int, bytes, Sequence[tuple[bytes, bytes]]]


def key_hash(key: str) -> str:
    """SHA-256 hex of a presented key (as repo.hash_key)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class CheckFastPath:
    """ASGI middleware; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        index: HubIndex,
        anonymous: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network] = (),
    ) -> None:
        self.app = app
        self.index = index
        self.anonymous = tuple(anonymous)
        self.answered = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.index.ready():
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        answer: Answer | None = None
        if method == "GET":
            if path.startswith(NATIVE):
                answer = self._native(scope, path[len(NATIVE) :])
            elif path.startswith(SENTRYPEER):
                answer = self._sentrypeer(scope, path[len(SENTRYPEER) :])
            elif path.startswith(APIBAN_PREFIX):
                answer = self._apiban_get(path[len(APIBAN_PREFIX) :])
        elif method == "POST" and path == APIBAN_POST:
            body, complete = await _read_small(receive, MAX_CHECK_BODY)
            if complete:
                answer = self._apiban_post(scope, body)
            if answer is None:
                receive = _replay(body, complete, receive)
        if answer is None:
            await self.app(scope, receive, send)
            return
        self.answered += 1
        status, payload, extra = answer
        headers = [*JSON, (b"content-length", str(len(payload)).encode()), *extra]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    # -- the endpoints ------------------------------------------------------------------------------

    def _asked(self, scope: Scope, text: str) -> int | Answer | None:
        """The address a reader asks about (its key); a 401 Answer for a dead key; None: the app answers
        (no key from elsewhere: 401; a path that is no address: 400)."""
        allowed = self._caller_allowed(scope, _header_key(scope))
        if allowed is None:
            return None
        if not allowed:
            return 401, NATIVE_UNAUTHORIZED, [(b"www-authenticate", b"Bearer")]
        return _path_address(text)

    def _native(self, scope: Scope, text: str) -> Answer | None:
        key = self._asked(scope, text)
        if not isinstance(key, int):
            return key
        return 200, self.index.check_body(key), ()

    def _sentrypeer(self, scope: Scope, text: str) -> Answer | None:
        key = self._asked(scope, text)
        if not isinstance(key, int):
            return key
        record, listed = self.index.lookup(key)
        if record is None or not listed:
            return 404, SENTRYPEER_NOT_FOUND, ()
        ip = key_address(key)
        # SentryPeer answered `bad_actor_found` before 2023 and `ip_address_found` since; send both.
        return 200, dumps({"ip_address_found": ip, "bad_actor_found": ip}), ()

    def _apiban_get(self, rest: str) -> Answer | None:
        # KEY/check/IP
        api_key, sep, tail = rest.partition("/check/")
        if not sep or not api_key or "/" in api_key or "/" in tail or len(api_key) > MAX_KEY_CHARS:
            return None
        if not self.index.key_is_live(key_hash(api_key)):
            return 403, APIBAN_UNAUTHORIZED, ()
        key = _path_address(tail)
        return None if key is None else self._apiban_answer(key)

    def _apiban_post(self, scope: Scope, body: bytes) -> Answer | None:
        try:
            data: Any = json.loads(body) if body else None
        except (ValueError, RecursionError):  # hostile nesting; UnicodeDecodeError is a ValueError
            return None
        if not isinstance(data, dict):
            return None
        text = data.get("ipaddress", data.get("ip"))
        api_key = _header_key(scope)
        if api_key is None and isinstance(data.get("apikey"), str):
            api_key = data["apikey"].strip()[:MAX_KEY_CHARS] or None
        if not isinstance(text, str) or len(text) > 64 or api_key is None:
            return None
        if not self.index.key_is_live(key_hash(api_key)):
            return 403, APIBAN_UNAUTHORIZED, ()
        key = address_key(text)
        return None if key is None else self._apiban_answer(key)

    def _apiban_answer(self, key: int) -> Answer:
        record, listed = self.index.lookup(key)
        if record is None or not listed:
            return 404, APIBAN_NOT_BLOCKED, ()
        return 200, dumps({"ipaddress": [key_address(key)], "ID": compat.apiban_id(record_seq(record))}), ()

    # -- who asks -----------------------------------------------------------------------------------

    def _caller_allowed(self, scope: Scope, api_key: str | None) -> bool | None:
        """True: a live key (any role reads) or an anonymous reader's network; False: a key that is
        unknown or revoked; None: no key from elsewhere (the app answers 401)."""
        if api_key is not None:
            return self.index.key_is_live(key_hash(api_key))
        client = scope.get("client")
        host = client[0] if client else ""
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return None
        if any(addr.version == net.version and addr in net for net in self.anonymous):
            return True
        return None


def _header_key(scope: Scope) -> str | None:
    """The key in `Authorization: Bearer` (preferred) or `X-Api-Key`, as auth.presented_key reads it."""
    bearer = api = None
    for name, value in scope["headers"]:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            bearer = value[7:].decode("latin-1").strip()[:MAX_KEY_CHARS]
        elif name == b"x-api-key":
            api = value.decode("latin-1").strip()[:MAX_KEY_CHARS]
    return bearer or api or None


def _path_address(text: str) -> int | None:
    if not text or "/" in text or len(text) > 64:
        return None
    return address_key(text)


async def _read_small(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The request body if it ends within `limit` bytes: (body, True); else (what was read, False)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > limit:
            return b"".join(chunks), False


def _replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    """A `receive` that first gives back what the fast path already read."""
    pending = True

    async def again() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return again
