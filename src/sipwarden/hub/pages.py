"""The report form: a person reports an attacker with evidence; an admin reviews it before listing."""

from __future__ import annotations

import html
from typing import Final
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from sipwarden.events import utcnow
from sipwarden.hub.body import ERROR_RESPONSES, read_body
from sipwarden.hub.service import HubService

#: A report form is small; anything larger is not a person typing.
MAX_FORM_BYTES: Final = 64_000
_CSP: Final = {"Content-Security-Policy": "default-src 'none'; form-action 'self'; frame-ancestors 'none'"}

_FORM: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Report a SIP attacker</title></head>
<body><h1>Report a SIP attacker</h1>
<p>{message}</p>
<form method="post" action="/report">
<p><label>Address <input name="ip" required maxlength="64"></label></p>
<p><label>Evidence (log lines, times, what happened)<br>
<textarea name="evidence" rows="12" cols="80" required maxlength="20000"></textarea></label></p>
<p><label>Your contact (optional) <input name="contact" maxlength="200"></label></p>
<p><button type="submit">Send report</button></p>
</form>
<p>Reports are reviewed before an address is listed.</p>
</body></html>
"""


def router(svc: HubService) -> APIRouter:
    """`GET /report` (the form) and `POST /report` (store a pending report)."""
    r = APIRouter(responses=ERROR_RESPONSES)

    @r.get("/report", response_class=HTMLResponse)
    def form() -> HTMLResponse:
        """The empty form."""
        return HTMLResponse(_FORM.format(message=""), headers=_CSP)

    @r.post("/report", response_class=HTMLResponse)
    async def submit(request: Request) -> HTMLResponse:
        """Keep the report for review; 400 names what is missing or wrong."""
        body = await read_body(request, MAX_FORM_BYTES)
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
        ip = (fields.get("ip") or [""])[0].strip()
        evidence = (fields.get("evidence") or [""])[0].strip()
        contact = (fields.get("contact") or [""])[0].strip()
        if not evidence:
            raise HTTPException(400, "evidence is required")
        try:
            report = await run_in_threadpool(svc.repo.add_report, ip, evidence, contact, utcnow())
        except ValueError:
            raise HTTPException(400, "ip must be an IP address") from None
        message = f"Thank you: report {html.escape(report.id)} about {html.escape(report.ip)} is waiting for review."
        return HTMLResponse(_FORM.format(message=message), status_code=201, headers=_CSP)

    return r
