"""`GET /abuse`: the scoreboard as a plain web page (reader access, like the feeds).

Names and mailboxes come from registries and are shown escaped; the page loads nothing else (a
strict Content-Security-Policy with no scripts at all).
"""

from __future__ import annotations

import html
import time
from datetime import datetime
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from sipwarden.events import utcnow
from sipwarden.hub.abuse.desk import AbuseDesk
from sipwarden.hub.abuse.scoreboard import VERDICTS, NetworkScore
from sipwarden.hub.body import ERROR_RESPONSES
from sipwarden.hub.service import HubService

#: Networks shown on the page; the API pages through the rest.
PAGE_NETWORKS: Final = 500
_CSP: Final = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"}
_HEAD: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Abuse desk: attacking networks</title>
<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}td,th{padding:.2em .6em;
border-bottom:1px solid #ddd;text-align:left}.ignores{color:#b00}.acts{color:#070}</style></head>
<body><h1>Attacking networks</h1>
"""


def _when(ts: datetime | None) -> str:
    return f"{ts:%Y-%m-%d %H:%M}" if ts else "-"


def _row(n: NetworkScore) -> str:
    o = n.owner
    cells = [
        f'<td class="{n.verdict}">{n.verdict}</td>',
        f"<td>{html.escape(n.network)}</td>",
        f"<td>{html.escape(o.name) if o else ''}</td>",
        f"<td>{f'AS{o.asn}' if o and o.asn else ''}</td>",
        f"<td>{html.escape(o.country or '') if o else ''}</td>",
        f"<td>{n.addresses}</td>",
        f"<td>{n.events}</td>",
        f"<td>{_when(n.first_seen)}</td>",
        f"<td>{_when(n.last_seen)}</td>",
        f"<td>{n.reports_sent}</td>",
        f"<td>{_when(n.last_report_at)}</td>",
    ]
    return "<tr>" + "".join(cells) + "</tr>\n"


def page_router(svc: HubService, desk: AbuseDesk) -> APIRouter:
    """The scoreboard page."""
    router = APIRouter(responses=ERROR_RESPONSES)

    @router.get("/abuse", response_class=HTMLResponse)
    def scoreboard_page(request: Request) -> HTMLResponse:
        """Attacking networks and whether their abuse desks act on reports."""
        svc.auth.caller(request, "reader")
        lines = desk.cached_scoreboard(utcnow(), time.monotonic())
        totals = ", ".join(f"{sum(1 for n in lines if n.verdict == v)} {v}" for v in VERDICTS)
        body = [
            _HEAD,
            f"<p>{len(lines)} networks: {totals}. A network <em>acts</em> when attacks stop after a report, and "
            "<em>ignores</em> reports when they go on.</p>\n<table><tr><th>verdict</th><th>network</th><th>name</th>"
            "<th>AS</th><th>country</th><th>addresses</th><th>events</th><th>first seen</th><th>last seen</th>"
            "<th>reports</th><th>last report</th></tr>\n",
            *(_row(n) for n in lines[:PAGE_NETWORKS]),
            "</table></body></html>\n",
        ]
        return HTMLResponse("".join(body), headers=_CSP)

    return router
