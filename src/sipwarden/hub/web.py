"""The live web page: the newest events, refreshed every second, and the JSON API behind it.

Everything on the page comes from sipwarden itself (no CDN): the HTML, one script and one style
sheet. Event text is attacker-controlled (User-Agent, usernames, dialled strings), so the script only
ever sets `textContent`, and a Content-Security-Policy forbids inline and foreign scripts.
"""

from __future__ import annotations

import html
import logging
import re
from importlib import resources
from typing import Annotated, Any, Final

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from sipwarden.events import utcnow
from sipwarden.store import Store
from sipwarden.store.filters import check_kind, parse_since

log = logging.getLogger(__name__)

#: Most events one API call returns; the page asks again at once when a page comes back full.
MAX_API_LIMIT: Final = 1000
DEFAULT_API_LIMIT: Final = 100
#: A cursor is a ULID: 26 characters of Crockford base32 (https://github.com/ulid/spec).
_ULID: Final = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")

SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

_PACKAGE = resources.files("sipwarden.hub")


class _SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def events_router(store: Store) -> APIRouter:
    """`/api/events` and `/health-check` over `store` (the hub may mount this router too)."""
    router = APIRouter()

    # Plain `def` endpoints: FastAPI runs them in its thread pool, so store queries never block the loop.
    @router.get("/api/events")
    def api_events(
        after: Annotated[str | None, Query(description="Only events recorded after this event id.")] = None,
        since: Annotated[str | None, Query(description="30s, 15m, 1h, 7d or an ISO time.")] = None,
        kind: Annotated[str | None, Query(description="Only this event kind.")] = None,
        ip: Annotated[str | None, Query(max_length=64, description="Only events from this address.")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_API_LIMIT)] = DEFAULT_API_LIMIT,
    ) -> dict[str, Any]:
        """Events oldest first: without `after` the newest `limit`, with it those recorded since."""
        try:
            since_ts = parse_since(since, utcnow()) if since else None
            if kind is not None:
                check_kind(kind)
        except ValueError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        if after is not None and not _ULID.match(after):
            raise HTTPException(status_code=400, detail="after must be an event id (a 26-character ULID)")
        found = store.events(since=since_ts, kind=kind, ip=ip, after_id=after, limit=limit, newest=after is None)
        cursor = found[-1].id if found else after
        return {"events": [ev.to_dict() for ev in found], "cursor": cursor, "limit": limit}

    @router.get("/health-check")
    def health_check() -> JSONResponse:
        """200 when the store answers, 503 when it does not."""
        try:
            store.ping()
        except (SQLAlchemyError, OSError) as exc:
            log.warning("health check: store unavailable: %s", exc)
            return JSONResponse({"status": "error", "store": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    return router


def render_index(title: str) -> str:
    """The page's HTML with `title` escaped into it."""
    template = (_PACKAGE / "templates" / "index.html").read_text(encoding="utf-8")
    return template.replace("{{title}}", html.escape(title))


def create_web_app(store: Store, *, title: str = "sipwarden") -> FastAPI:
    """The web page (`/`), its script and styles (`/static/`), the events API and `/health-check`."""
    app = FastAPI(title=title, docs_url=None, redoc_url=None)
    page = render_index(title)
    app.add_middleware(_SecurityHeaders)
    app.include_router(events_router(store))

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    with resources.as_file(_PACKAGE / "static") as static_dir:
        app.mount("/static", StaticFiles(directory=static_dir), name="static")
    return app
