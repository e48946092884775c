"""A pure-ASGI fast path for the hottest request: `GET /v1/check/{ip}` answered from the check cache.

PBXs and SBCs may ask about every new source; routing, validation and the Request object cost
more than the lookup itself. When the key is a live cached key and the answer is cached, this
middleware answers at once; anything else (cache miss, no key, other paths) goes to the app, which
fills the cache.
"""

from __future__ import annotations

import asyncio
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from sipwarden.hub.auth import MAX_KEY_CHARS
from sipwarden.hub.policy import parse_address
from sipwarden.hub.service import HubService

PREFIX: Final = "/v1/check/"


class CheckFastPath:
    """ASGI middleware; see the module docstring."""

    def __init__(self, app: ASGIApp, svc: HubService) -> None:
        self.app = app
        self.svc = svc

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].startswith(PREFIX):
            body = self._answer(scope)
            if body is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _answer(self, scope: Scope) -> bytes | None:
        key = None
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                key = value.decode("latin-1").strip()
            elif name == b"authorization" and value[:7].lower() == b"bearer ":
                key = value[7:].decode("latin-1").strip()
        if not key or len(key) > MAX_KEY_CHARS or not self.svc.auth.is_cached_live(key):
            return None
        try:
            addr = str(parse_address(scope["path"][len(PREFIX) :]))
        except ValueError:
            return None
        return self.svc.check_cache.get(addr, asyncio.get_running_loop().time())
