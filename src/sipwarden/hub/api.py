"""The hub's HTTP API: `create_hub_app(store, settings)`.

Feeds (`/v1/blocklist`, `/v1/numbers`), submission (`/v1/events`, `/v1/decisions`), the change
stream (`/v1/stream`), administration, the report form and the interfaces existing clients speak
(compat.py). Plain `def` endpoints run in FastAPI's thread pool, so database work never blocks the
event loop; endpoints that read a body or stream are `async` and hand database work to threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any, Final

from fastapi import APIRouter, FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.middleware.gzip import GZipMiddleware

from sipwarden.config import Settings
from sipwarden.events import utcnow
from sipwarden.hub import compat, pages
from sipwarden.hub.abuse.api import abuse_router
from sipwarden.hub.abuse.desk import AbuseDesk
from sipwarden.hub.auth import Caller
from sipwarden.hub.body import ERROR_RESPONSES, read_body
from sipwarden.hub.fastpath import CheckFastPath
from sipwarden.hub.formats import FORMATS, listing_dict
from sipwarden.hub.lookup import HubIndex, keep_current
from sipwarden.hub.policy import Evidence, evidence_from_events, parse_address
from sipwarden.hub.service import CursorTooOld, HubService, decisions_of
from sipwarden.hub.settings import HubSettings
from sipwarden.hub.stream import ChangeSignal, libpq_url, listen_forever, stop
from sipwarden.hub.submit import BatchError, DecisionIn, EventIn, read_items, validate_items
from sipwarden.intel.ownership import OwnershipLookup
from sipwarden.store import Store

log = logging.getLogger(__name__)

#: Most changes one incremental (`since=`) request returns; the client asks again with the new cursor.
MAX_DELTA: Final = 50_000
#: A stream lives at most this long (seconds); the client reconnects with Last-Event-ID.
STREAM_MAX_SECONDS: Final = 3600.0
#: Comment line sent on an idle stream so proxies keep the connection open (seconds).
STREAM_HEARTBEAT: Final = 15.0
#: Changes a stream reads from the database per query.
STREAM_PAGE: Final = 1000
#: gzip level: 6 is zlib's default balance; 9 costs twice the time for 2-3% on address lists.
GZIP_LEVEL: Final = 6


def _numbers_json(svc: HubService) -> dict[str, Any]:
    items = [
        {
            "number": n.number,
            "country": n.country,
            "count": n.count,
            "first_seen": n.first_seen.isoformat().replace("+00:00", "Z"),
            "last_seen": n.last_seen.isoformat().replace("+00:00", "Z"),
        }
        for n in svc.repo.numbers()
    ]
    return {"count": len(items), "numbers": items}


def _batch_schema(model: type[EventIn] | type[DecisionIn], max_items: int) -> dict[str, Any]:
    schema = {"type": "array", "items": model.model_json_schema(), "maxItems": max_items}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}, "application/x-ndjson": {"schema": {"type": "string"}}},
        }
    }


def _check_body(svc: HubService, addr: str) -> bytes:
    listing = svc.repo.listing(addr)
    if listing is None:
        return json.dumps({"ip": addr, "listed": False}).encode()
    body = listing_dict(listing)
    if not listing.listed:
        body["delisted_reason"] = listing.delisted_reason
    return json.dumps(body).encode()


def v1_router(svc: HubService, index: HubIndex) -> APIRouter:
    """The native API (`index` catches up after each change made here: a check reads its writes)."""
    router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)
    settings = svc.settings

    def rate(caller: Caller, cost: int) -> None:
        assert caller.key is not None
        wait = svc.bucket.take(caller.key.id, asyncio.get_event_loop().time(), cost=min(cost, svc.bucket.burst))
        if wait > 0:
            raise HTTPException(429, f"rate limit: retry in {wait:.1f}s", headers={"Retry-After": str(int(wait) + 1)})

    @router.get(
        "/blocklist",
        responses={
            200: {"content": {"text/plain": {}}},
            304: {"description": "Not modified"},
            410: {"description": "`since` is older than the change log: read the whole list"},
        },
    )
    def blocklist(
        request: Request,
        format: Annotated[str, Query(description=f"One of: {', '.join(FORMATS)}.")] = "plain",
        since: Annotated[int | None, Query(ge=0, description="Cursor: only changes after it (JSON).")] = None,
    ) -> Response:
        """The blocklist in one format, or (with `since`) the changes since a cursor."""
        svc.auth.caller(request, "reader")
        if format not in FORMATS:
            raise HTTPException(400, f"unknown format {format!r}; known: {', '.join(FORMATS)}")
        now = utcnow()
        if since is not None:
            if format != "json":
                raise HTTPException(400, "since= works with format=json")
            svc.sweep(now)
            try:
                delta = svc.delta(since, MAX_DELTA)
            except CursorTooOld as exc:
                raise HTTPException(410, str(exc)) from None
            return JSONResponse(delta, headers={"X-Sipwarden-Cursor": str(delta["cursor"])})
        body, media, cursor = svc.feed(format, now)
        etag = f'W/"{cursor}-{format}"'
        headers = {"ETag": etag, "X-Sipwarden-Cursor": str(cursor), "Cache-Control": "no-cache"}
        if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=media, headers=headers)

    @router.get("/check/{ip}")
    async def check(request: Request, ip: str) -> Response:
        """Whether one address is listed, with its evidence summary (at most CHECK_CACHE_SECONDS old)."""
        if not svc.auth.cached_reader(request):
            await run_in_threadpool(svc.auth.caller, request, "reader")
        try:
            addr = str(parse_address(ip))
        except ValueError:
            raise HTTPException(400, "not an IP address") from None
        body = svc.check_cache.get(addr, asyncio.get_running_loop().time())
        if body is None:
            body = await run_in_threadpool(_check_body, svc, addr)
            svc.check_cache.put(addr, body, asyncio.get_running_loop().time())
        return Response(body, media_type="application/json")

    @router.get("/numbers")
    def numbers(request: Request, format: Annotated[str, Query(pattern="^(json|plain|csv)$")] = "json") -> Response:
        """Numbers dialled at honeypots (E.164, country, counts), for call screening."""
        svc.auth.caller(request, "reader")
        data = _numbers_json(svc)
        if format == "json":
            return JSONResponse(data)
        if format == "plain":
            return PlainTextResponse("".join(n["number"] + "\n" for n in data["numbers"]))
        rows = ["number,country,count,first_seen,last_seen"]
        rows += [
            f"{n['number']},{n['country'] or ''},{n['count']},{n['first_seen']},{n['last_seen']}"
            for n in data["numbers"]
        ]
        return PlainTextResponse("\r\n".join(rows) + "\r\n", media_type="text/csv")

    @router.post("/events", openapi_extra=_batch_schema(EventIn, settings.max_batch_events), status_code=202)
    async def submit_events(request: Request) -> JSONResponse:
        """A batch of Events from a sensor key (JSON array, or NDJSON by content type)."""
        caller = await run_in_threadpool(svc.auth.caller, request, "sensor")
        body = await read_body(request, settings.max_body_bytes)
        try:
            items = read_items(body, request.headers.get("content-type", ""), settings.max_batch_events)
            valid = validate_items(items, EventIn)
        except BatchError as exc:
            return JSONResponse({"detail": exc.errors}, status_code=422)
        rate(caller, len(valid))
        assert caller.key is not None
        key = caller.key
        events = [item.to_event(key.name) for item in valid]

        def work() -> list[str]:
            now = utcnow()
            svc.store.add_events(events)
            evidence = evidence_from_events(events, weight=settings.untrusted_weight, trusted=key.trusted)
            if key.trusted:
                svc.repo.add_numbers(events, now)
            listed = svc.repo.add_evidence(key.id, evidence, now)
            if listed:
                index.catch_up()
            return listed

        listed = await run_in_threadpool(work)
        if listed:
            svc.changed()
        return JSONResponse({"accepted": len(events), "listed": listed}, status_code=202)

    @router.post("/decisions", openapi_extra=_batch_schema(DecisionIn, settings.max_batch_events), status_code=202)
    async def submit_decisions(request: Request) -> JSONResponse:
        """Local ban decisions from a sensor key; a trusted key's ban with evidence lists at once."""
        caller = await run_in_threadpool(svc.auth.caller, request, "sensor")
        body = await read_body(request, settings.max_body_bytes)
        try:
            items = read_items(body, request.headers.get("content-type", ""), settings.max_batch_events)
            valid = validate_items(items, DecisionIn)
        except BatchError as exc:
            return JSONResponse({"detail": exc.errors}, status_code=422)
        rate(caller, len(valid))
        assert caller.key is not None
        key = caller.key
        decisions = [item.to_decision() for item in valid if item.action == "ban"]

        def work() -> list[str]:
            now = utcnow()
            evidence = [
                Evidence(
                    ip=d.value,
                    weight=settings.untrusted_weight,
                    trusted=key.trusted and bool(d.event_ids),
                    count=max(1, len(d.event_ids)),
                    reason=f"ban by {key.name}: {d.scenario}",
                    ts=now,
                )
                for d in decisions
            ]
            listed = svc.repo.add_evidence(key.id, evidence, now)
            if listed:
                index.catch_up()
            return listed

        listed = await run_in_threadpool(work)
        if listed:
            svc.changed()
        return JSONResponse({"accepted": len(valid), "listed": listed}, status_code=202)

    @router.get(
        "/stream",
        responses={
            200: {"content": {"text/event-stream": {}}},
            410: {"description": "The cursor is older than the change log: read the whole list"},
        },
    )
    async def stream(
        request: Request,
        since: Annotated[int | None, Query(ge=0, description="Cursor to resume from (default: now).")] = None,
    ) -> StreamingResponse:
        """Server-sent events: `new` and `deleted` decisions as the list changes."""
        await run_in_threadpool(svc.auth.caller, request, "reader")
        last = request.headers.get("last-event-id", "")
        if last.isdigit():
            since = int(last)
        cursor = since if since is not None else await run_in_threadpool(svc.repo.head)
        try:
            await run_in_threadpool(svc.check_cursor, cursor)
        except CursorTooOld as exc:
            raise HTTPException(410, str(exc)) from None
        return StreamingResponse(
            _events(request, svc, cursor),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router


async def _events(request: Request, svc: HubService, cursor: int) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STREAM_MAX_SECONDS
    yield f": sipwarden hub stream from cursor {cursor}\n\n".encode()
    idle_since = loop.time()
    signal = svc.signal
    assert signal is not None
    while loop.time() < deadline:
        changes = await run_in_threadpool(svc.repo.changes, cursor, STREAM_PAGE)
        for change, decision in decisions_of(changes):
            event = "new" if change.op == "add" else "deleted"
            yield f"id: {change.seq}\nevent: {event}\ndata: {json.dumps(decision.to_dict())}\n\n".encode()
            cursor = change.seq
        if changes:
            idle_since = loop.time()
            if len(changes) >= STREAM_PAGE:
                continue
        if await request.is_disconnected():
            return
        if loop.time() - idle_since >= STREAM_HEARTBEAT:
            yield b": keep-alive\n\n"
            idle_since = loop.time()
        await signal.wait(svc.settings.stream_poll_seconds)


def admin_router(svc: HubService, index: HubIndex) -> APIRouter:
    """Delisting and the review of web reports (admin keys)."""
    router = APIRouter(prefix="/v1/admin", responses=ERROR_RESPONSES)

    @router.post("/delist/{ip}")
    def delist(request: Request, ip: str, reason: Annotated[str, Query(min_length=1, max_length=500)]) -> JSONResponse:
        """Take an address off the list; the reason is kept."""
        caller = svc.auth.caller(request, "admin")
        try:
            addr = str(parse_address(ip))
        except ValueError:
            raise HTTPException(400, "not an IP address") from None
        if not svc.repo.delist(addr, f"{reason} (by {caller.name})", utcnow()):
            raise HTTPException(404, f"{addr} is not listed")
        index.catch_up()
        svc.changed()
        return JSONResponse({"ip": addr, "delisted": True})

    @router.get("/reports")
    def reports(
        request: Request, status: Annotated[str, Query(pattern="^(pending|accepted|rejected)$")] = "pending"
    ) -> JSONResponse:
        """Reports from the web form with this status."""
        svc.auth.caller(request, "admin")
        items = [
            {
                "id": r.id,
                "ip": r.ip,
                "evidence": r.evidence,
                "contact": r.contact,
                "created_at": r.created_at.isoformat().replace("+00:00", "Z"),
                "status": r.status,
                "decided_reason": r.decided_reason,
            }
            for r in svc.repo.reports(status)
        ]
        return JSONResponse({"reports": items})

    @router.post("/reports/{report_id}/{verdict}")
    def decide(
        request: Request,
        report_id: str,
        verdict: Annotated[str, Path(pattern="^(accept|reject)$")],
        reason: Annotated[str, Query(max_length=500)] = "",
    ) -> JSONResponse:
        """Accept (lists the address) or reject a pending report."""
        caller = svc.auth.caller(request, "admin")
        report = svc.repo.decide_report(
            report_id, accept=verdict == "accept", reason=reason or caller.name, now=utcnow()
        )
        if report is None:
            raise HTTPException(404, "no pending report with this id")
        index.catch_up()
        svc.changed()
        return JSONResponse({"id": report.id, "ip": report.ip, "status": report.status})

    return router


def create_hub_app(store: Store, settings: HubSettings, *, full: Settings | None = None) -> FastAPI:
    """The hub as an ASGI app over `store` (stateless: run as many as you like on one database).

    `full` is the whole configuration, for the dashboard's `[ui]` section (login, recordings).
    """
    svc = HubService(store, settings)
    index = HubIndex(svc.repo)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        svc.loop = asyncio.get_running_loop()
        svc.signal = ChangeSignal()
        task: asyncio.Task[None] | None = None
        if store.dialect == "postgresql":
            url = libpq_url(store.engine.url.render_as_string(hide_password=False))
            task = asyncio.create_task(listen_forever(url, svc.signal))
        follower = asyncio.create_task(keep_current(index, svc, svc.signal))
        try:
            yield
        finally:
            await stop(follower)
            await stop(task)

    app = FastAPI(title="sipwarden hub", version="1", lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.hub = svc
    app.state.hub_index = index
    app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=GZIP_LEVEL)
    # Added last, so it runs first: check lookups answered from memory skip everything else.
    app.add_middleware(CheckFastPath, index=index, anonymous=svc.auth.anonymous)

    @app.get("/health-check")
    def health_check() -> JSONResponse:
        """200 when the store answers, 503 when it does not (no key needed)."""
        try:
            store.ping()
        except (SQLAlchemyError, OSError) as exc:
            log.warning("health check: store unavailable: %s", exc)
            return JSONResponse({"status": "error", "store": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    app.include_router(v1_router(svc, index))
    app.include_router(admin_router(svc, index))
    app.include_router(compat.router(svc))
    app.include_router(pages.router(svc))
    desk = AbuseDesk(store, settings.abuse)
    app.include_router(abuse_router(svc, desk))
    _include_ui(app, store, full, desk.ownership)
    return app


def _include_ui(app: FastAPI, store: Store, full: Settings | None, ownership: OwnershipLookup) -> None:
    """Mount the investigation dashboard under /ui/ (dossiers show owners from the abuse desk's cache)."""
    from sipwarden.hub.ui import ui_router

    app.include_router(ui_router(store, full, ownership=ownership), prefix="/ui")
