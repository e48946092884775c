"""`/v1/abuse/...`: the scoreboard and cached owners (reader keys), reports and sending (admin keys).

Reads answer from the store and the ownership cache only; RDAP lookups happen in the refresh job
(`sipwarden hub abuse refresh`), never in a request. Endpoints are plain `def`, so FastAPI runs them
in its thread pool and database or SMTP work never blocks the event loop.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse

from sipwarden.events import utcnow
from sipwarden.hub.abuse.desk import AbuseDesk
from sipwarden.hub.abuse.page import page_router
from sipwarden.hub.abuse.reports import STATUSES, AbuseReport
from sipwarden.hub.abuse.scoreboard import VERDICTS, NetworkScore
from sipwarden.hub.body import ERROR_RESPONSES
from sipwarden.hub.policy import parse_address
from sipwarden.hub.service import HubService

#: Report ids are ULIDs.
_ID = Path(pattern="^[0-9A-Za-z]{26}$", description="The report's id.")


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat().replace("+00:00", "Z") if ts else None


def network_dict(n: NetworkScore) -> dict[str, Any]:
    """One scoreboard line as JSON."""
    o = n.owner
    return {
        "network": n.network,
        "name": o.name if o else None,
        "asn": o.asn if o else None,
        "country": o.country if o else None,
        "abuse_email": o.abuse_email if o else None,
        "addresses": n.addresses,
        "events": n.events,
        "first_seen": _iso(n.first_seen),
        "last_seen": _iso(n.last_seen),
        "reports_sent": n.reports_sent,
        "first_report_at": _iso(n.first_report_at),
        "last_report_at": _iso(n.last_report_at),
        "active_after_report": n.active_after_report,
        "verdict": n.verdict,
    }


def report_dict(r: AbuseReport, *, message: bool = False) -> dict[str, Any]:
    """One report as JSON (the whole message only when asked)."""
    out: dict[str, Any] = {
        "id": r.id,
        "ip": r.ip,
        "network": r.network,
        "recipient": r.recipient,
        "status": r.status,
        "events": r.events,
        "created_at": _iso(r.created_at),
        "approved_at": _iso(r.approved_at),
        "approved_by": r.approved_by,
        "attempts": r.attempts,
        "next_attempt_at": _iso(r.next_attempt_at),
        "sent_at": _iso(r.sent_at),
        "last_error": r.last_error,
    }
    if message:
        out["message"] = r.message
    return out


def abuse_router(svc: HubService, desk: AbuseDesk) -> APIRouter:
    """The abuse desk's routes: the API under /v1/abuse and the scoreboard page /abuse."""
    top = APIRouter()
    top.include_router(_api_router(svc, desk))
    top.include_router(page_router(svc, desk))
    return top


def _api_router(svc: HubService, desk: AbuseDesk) -> APIRouter:
    router = APIRouter(prefix="/v1/abuse", responses=ERROR_RESPONSES, tags=["abuse desk"])

    @router.get("/networks")
    def networks(
        request: Request,
        verdict: Annotated[str | None, Query(pattern=f"^({'|'.join(VERDICTS)})$")] = None,
        limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    ) -> JSONResponse:
        """The per-network scoreboard: attacking addresses, reports sent, and whether the network acts."""
        svc.auth.caller(request, "reader")
        lines = desk.cached_scoreboard(utcnow(), time.monotonic())
        totals = {v: sum(1 for n in lines if n.verdict == v) for v in VERDICTS}
        if verdict is not None:
            lines = [n for n in lines if n.verdict == verdict]
        return JSONResponse({"totals": totals, "networks": [network_dict(n) for n in lines[:limit]]})

    @router.get("/owners/{ip}")
    def owner(request: Request, ip: str) -> JSONResponse:
        """The cached owner of one address (404 until a refresh has looked it up)."""
        svc.auth.caller(request, "reader")
        try:
            addr = str(parse_address(ip))
        except ValueError:
            raise HTTPException(400, "not an IP address") from None
        hit = desk.ownership.cached(addr)
        if hit is None:
            raise HTTPException(404, f"no owner of {addr} in the cache")
        o = hit.owner
        return JSONResponse(
            {
                "ip": addr,
                "network": o.network,
                "name": o.name,
                "org": hit.org,
                "handle": hit.handle,
                "asn": o.asn,
                "country": o.country,
                "abuse_email": o.abuse_email,
                "source": hit.source,
                "fetched_at": _iso(hit.fetched_at),
                "expires_at": _iso(hit.expires_at),
            }
        )

    @router.get("/reports")
    def reports(
        request: Request,
        status: Annotated[str | None, Query(pattern=f"^({'|'.join(STATUSES)})$")] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> JSONResponse:
        """Abuse reports, newest first (admin)."""
        svc.auth.caller(request, "admin")
        items = desk.repo.reports(status, limit=limit)
        return JSONResponse({"counts": desk.repo.counts(), "reports": [report_dict(r) for r in items]})

    @router.get("/reports/{report_id}")
    def report(request: Request, report_id: Annotated[str, _ID]) -> JSONResponse:
        """One report with the whole message as it will be sent (admin)."""
        svc.auth.caller(request, "admin")
        found = desk.repo.get(report_id)
        if found is None:
            raise HTTPException(404, "no report with this id")
        return JSONResponse(report_dict(found, message=True))

    @router.post("/reports/draft")
    def draft(request: Request) -> JSONResponse:
        """Draft reports for listed addresses whose abuse mailbox is known (nothing is sent)."""
        svc.auth.caller(request, "admin")
        try:
            result = desk.draft(utcnow())
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        return JSONResponse(
            {
                "drafted": result.drafted,
                "no_owner": len(result.no_owner),
                "no_mailbox": len(result.no_mailbox),
                "recent": result.recent,
                "deferred": result.deferred,
            }
        )

    @router.post("/reports/{report_id}/{action}")
    def act(
        request: Request,
        report_id: Annotated[str, _ID],
        action: Annotated[str, Path(pattern="^(approve|discard|retry)$")],
    ) -> JSONResponse:
        """Approve a draft for sending, discard a report not yet sent, or retry a failed one (admin)."""
        caller = svc.auth.caller(request, "admin")
        now = utcnow()
        if action == "approve":
            done = desk.approve([report_id], caller.name, now)
        elif action == "discard":
            done = desk.repo.discard([report_id], now)
        else:
            done = desk.repo.retry([report_id], now)
        if not done:
            raise HTTPException(404, f"no report with this id that can be {action}d")
        found = desk.repo.get(report_id)
        assert found is not None
        return JSONResponse(report_dict(found))

    @router.post("/send")
    def send(request: Request) -> JSONResponse:
        """Send approved reports that are due, when `[hub.abuse] smtp_enabled` is true (admin)."""
        svc.auth.caller(request, "admin")
        result = desk.send_due(utcnow())
        return JSONResponse(
            {"enabled": result.enabled, "sent": result.sent, "failed": result.failed, "waiting": result.waiting}
        )

    return router
