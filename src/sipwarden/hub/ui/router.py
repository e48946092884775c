"""Routes of the dashboard: overview, attackers, numbers, campaigns, recordings, bans, search, login.

Pages read the aggregates (`sipwarden.intel`), never scan the events table per view. Event text is
attacker-controlled, so templates autoescape, scripts only set `textContent`, chart data travels as
JSON in a non-executable `<script type="application/json">`, and a Content-Security-Policy forbids
inline and foreign scripts. Every asset is served from the package: no CDN, works air-gapped.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from sipwarden.events import Decision, utcnow
from sipwarden.hub.ui import auth
from sipwarden.hub.ui.settings import UiSettings
from sipwarden.intel import aggregates
from sipwarden.intel.campaigns import load_campaigns
from sipwarden.intel.dossier import build_dossier, build_number_report
from sipwarden.intel.numbers import normalize_dialled
from sipwarden.intel.ownership import NullOwnership, OwnershipLookup
from sipwarden.store import Store
from sipwarden.store import intel_queries as q
from sipwarden.store.intel_queries import Counted

if TYPE_CHECKING:
    from sipwarden.config import Settings

log = logging.getLogger(__name__)

SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "media-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
#: Static files the dashboard serves, by URL name (a fixed list: no path from the request reaches the disk).
STATIC_FILES: Final = {
    "ui.css": ("ui.css", "text/css"),
    "ui.js": ("ui.js", "text/javascript"),
    "chart.umd.min.js": ("vendor/chartjs/chart.umd.min.js", "text/javascript"),
}
#: Days of the "attacks over time" chart.
CHART_DAYS: Final = 7
#: Rows in each top list of the overview.
TOP_ROWS: Final = 10
#: Most events the live feed returns per poll.
FEED_LIMIT: Final = 50
#: Bans listed on the bans page (the newest); a fleet may hold 100,000 (`sipwarden bans list` shows all).
BANS_SHOWN: Final = 500
#: Longest ban a form may set (days); longer needs `sipwarden bans add`.
MAX_BAN_DAYS: Final = 3650
_ULID: Final = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
_LOOPBACK_V4: Final = ipaddress.ip_network("127.0.0.0/8")


def _recordings_dir(settings: Settings | None) -> Path:
    if settings is None:
        return Path("var") / "recordings"
    configured = settings.honeypot.recordings_dir
    return Path(configured) if configured else Path(settings.general.data_dir) / "recordings"


def _is_loopback(host: str | None) -> bool:
    try:
        addr = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    return addr in _LOOPBACK_V4 if addr.version == 4 else addr == ipaddress.IPv6Address("::1")


class _Ui:
    """State shared by the routes of one router."""

    def __init__(self, store: Store, settings: Settings | None, ownership: OwnershipLookup, mount: str) -> None:
        self.store = store
        self.ui: UiSettings = getattr(settings, "ui", None) or UiSettings()
        self.recordings = _recordings_dir(settings).resolve()
        self.ownership = ownership
        self.mount = mount.rstrip("/")
        self.env = Environment(
            loader=PackageLoader("sipwarden.hub.ui", "templates"), autoescape=select_autoescape(default=True)
        )
        self.env.globals["base"] = self.mount
        self._secret: bytes | None = None

    @property
    def secret(self) -> bytes:
        if self._secret is None:
            self._secret = auth.session_secret(self.store)
        return self._secret

    def user(self, request: Request) -> str | None:
        return auth.read_session(self.secret, request.cookies.get(auth.SESSION_COOKIE), utcnow())

    def may_read(self, request: Request) -> bool:
        if self.user(request):
            return True
        return self.ui.open_on_loopback and _is_loopback(request.client.host if request.client else None)

    def refresh(self) -> None:
        if self.ui.refresh_max_events:
            aggregates.refresh(self.store, ownership=self.ownership, max_events=self.ui.refresh_max_events)

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        csrf = request.cookies.get(auth.CSRF_COOKIE) or auth.new_csrf_token()
        html = self.env.get_template(name).render(user=self.user(request), csrf=csrf, **context)
        response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
        if request.cookies.get(auth.CSRF_COOKIE) != csrf:
            response.set_cookie(auth.CSRF_COOKIE, csrf, httponly=True, samesite="strict", path=self.mount + "/")
        return response

    def login_redirect(self) -> RedirectResponse:
        return RedirectResponse(f"{self.mount}/login", status_code=303, headers=SECURITY_HEADERS)

    def check_action(self, request: Request, csrf: str) -> str:
        user = self.user(request)
        if user is None:
            raise HTTPException(status_code=401, detail="log in first")
        if not auth.csrf_ok(request.cookies.get(auth.CSRF_COOKIE), csrf):
            raise HTTPException(status_code=403, detail="stale or missing form token; reload the page")
        return user


def _rows(rows: list[Counted]) -> list[dict[str, Any]]:
    return [{"value": r.key, "count": r.count, "first": r.first, "last": r.last} for r in rows]


def ui_router(
    store: Store,
    settings: Settings | None = None,
    *,
    ownership: OwnershipLookup | None = None,
    mount: str = "/ui",
) -> APIRouter:
    """The dashboard's routes; include it with `app.include_router(ui_router(store, settings), prefix="/ui")`."""
    ui = _Ui(store, settings, ownership or NullOwnership(), mount)
    router = APIRouter()

    # Plain `def` endpoints: FastAPI runs them in its thread pool, so store queries never block the loop.
    @router.get("/", response_class=HTMLResponse, response_model=None)
    def overview(request: Request) -> Response:
        if not ui.may_read(request):
            return ui.login_redirect()
        ui.refresh()
        # The chart ends now, or at the newest event when nothing happened lately (imported history).
        newest = q.last_hour(store, "all")
        end = min(utcnow(), newest + timedelta(hours=1)) if newest else utcnow()
        since = (end - timedelta(days=CHART_DAYS)).replace(minute=0, second=0, microsecond=0)
        hours = q.hourly(store, "all", since)
        tops = {
            dim: _rows(q.top(store, dim, TOP_ROWS))
            for dim in (
                "ip",
                "network",
                "dest_country",
                "src_country",
                "number",
                "ua",
                "tool",
                "password",
                "username",
                "kind",
            )
        }
        chart = {
            "hours": [h.strftime("%m-%d %H:00") for h, _ in hours],
            "counts": [n for _, n in hours],
            "countries": {
                "labels": [r["value"] for r in tops["dest_country"]],
                "counts": [r["count"] for r in tops["dest_country"]],
            },
            "kinds": {"labels": [r["value"] for r in tops["kind"]], "counts": [r["count"] for r in tops["kind"]]},
        }
        return ui.render(
            request,
            "overview.html",
            tops=tops,
            chart=chart,
            total=sum(r.count for r in q.top(store, "kind", 100)),
            sources=q.count_keys(store, "ip"),
            week=sum(n for _, n in hours),
            chart_end=end,
            cursor=store.last_event_id() or "",
        )

    @router.get("/api/feed")
    def feed(request: Request, after: Annotated[str | None, Query(max_length=26)] = None) -> JSONResponse:
        """Newest events for the live feed (`after`: a cursor from the previous answer)."""
        if not ui.may_read(request):
            raise HTTPException(status_code=401, detail="log in first")
        if after is not None and not _ULID.match(after):
            raise HTTPException(status_code=400, detail="after must be an event id")
        found = store.events(after_id=after, limit=FEED_LIMIT, newest=True)
        return JSONResponse(
            {"events": [ev.to_dict() | {"raw": None} for ev in found], "cursor": found[-1].id if found else after},
            headers=SECURITY_HEADERS,
        )

    @router.get("/attackers/{ip}", response_class=HTMLResponse, response_model=None)
    def attacker(request: Request, ip: str) -> Response:
        if not ui.may_read(request):
            return ui.login_redirect()
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError:
            return ui.render(
                request, "message.html", status=404, title="Not an address", message="That is not an IP address."
            )
        ui.refresh()
        dossier = build_dossier(store, ip, ownership=ui.ownership)
        if dossier.events == 0:
            return ui.render(
                request, "message.html", status=404, title=ip, message="Nothing is known about this address."
            )
        # The decisions about this one address only (an index lookup), not every active ban in full.
        banned = bool(store.active_refs_for([ip], utcnow()))
        return ui.render(request, "attacker.html", d=dossier, banned=banned)

    @router.get("/numbers/{number}", response_class=HTMLResponse, response_model=None)
    def number(request: Request, number: str) -> Response:
        if not ui.may_read(request):
            return ui.login_redirect()
        ui.refresh()
        report = build_number_report(store, number[:64])
        if report is None:
            return ui.render(
                request, "message.html", status=404, title="Unknown number", message="Nobody dialled this number."
            )
        return ui.render(request, "number.html", r=report)

    @router.get("/campaigns", response_class=HTMLResponse, response_model=None)
    def campaigns(request: Request) -> Response:
        if not ui.may_read(request):
            return ui.login_redirect()
        ui.refresh()
        return ui.render(request, "campaigns.html", campaigns=load_campaigns(store))

    @router.get("/recordings", response_class=HTMLResponse, response_model=None)
    def recordings(request: Request) -> Response:
        if not ui.may_read(request):
            return ui.login_redirect()
        found = store.events(kind="recording", limit=200, newest=True)
        return ui.render(request, "recordings.html", recordings=list(reversed(found)))

    @router.get("/recordings/{event_id}.wav", response_model=None)
    def recording_file(request: Request, event_id: str) -> Response:
        """The WAV of a recording event; the path comes from the stored event and must stay in the recordings dir."""
        if not ui.may_read(request):
            raise HTTPException(status_code=401, detail="log in first")
        if not _ULID.match(event_id):
            raise HTTPException(status_code=404)
        found = q.events_by_ids(store, [event_id])
        path = found[0].detail.get("path") if found and found[0].kind == "recording" else None
        if not isinstance(path, str):
            raise HTTPException(status_code=404)
        resolved = (ui.recordings / path).resolve()
        # Path traversal: the stored path is sensor data; serve only regular .wav files under the directory.
        if not resolved.is_relative_to(ui.recordings) or resolved.suffix.lower() != ".wav" or not resolved.is_file():
            log.warning("refused recording %s: %s is outside %s or not a WAV file", event_id, resolved, ui.recordings)
            raise HTTPException(status_code=404)
        return FileResponse(resolved, media_type="audio/wav", headers=SECURITY_HEADERS)

    @router.get("/bans", response_class=HTMLResponse, response_model=None)
    def bans(request: Request, message: Annotated[str | None, Query(max_length=200)] = None) -> Response:
        if not ui.may_read(request):
            return ui.login_redirect()
        newest, active = q.newest_active_bans(store, utcnow(), limit=BANS_SHOWN)
        return ui.render(request, "bans.html", bans=newest, active=active, message=message)

    @router.post("/bans", response_model=None)
    def ban(
        request: Request,
        ip: Annotated[str, Form(max_length=64)],
        reason: Annotated[str, Form(max_length=500)] = "",
        days: Annotated[float, Form(gt=0, le=MAX_BAN_DAYS)] = 7,
        csrf: Annotated[str, Form(max_length=100)] = "",
    ) -> Response:
        """Ban an address (a manual decision in the store; the daemon applies it on reconciliation)."""
        user = ui.check_action(request, csrf)
        now = utcnow()
        try:
            decision = Decision(
                ts=now,
                scope="range" if "/" in ip else "ip",
                value=ip.strip(),
                action="ban",
                scenario="manual",
                reason=(reason.strip() or "banned from the dashboard") + f" (by {user})",
                until=now + timedelta(days=days),
                origin="manual",
            )
        except ValueError:
            return ui.render(
                request, "bans.html", status=400, bans=[], active=0, message=f"not an address or network: {ip}"
            )
        store.add_decisions([decision])
        log.info("dashboard: %s banned %s for %s days", user, decision.value, days)
        return RedirectResponse(
            f"{ui.mount}/bans?message=banned+{decision.value}", status_code=303, headers=SECURITY_HEADERS
        )

    @router.post("/bans/remove", response_model=None)
    def unban(
        request: Request,
        value: Annotated[str, Form(max_length=64)],
        reason: Annotated[str, Form(max_length=500)] = "",
        csrf: Annotated[str, Form(max_length=100)] = "",
    ) -> Response:
        """Lift every active decision about `value`."""
        user = ui.check_action(request, csrf)
        n = store.remove_decision(
            value, reason=(reason.strip() or "lifted from the dashboard") + f" (by {user})", now=utcnow()
        )
        log.info("dashboard: %s lifted %s decisions about %s", user, n, value)
        return RedirectResponse(f"{ui.mount}/bans?message=lifted+{n}", status_code=303, headers=SECURITY_HEADERS)

    @router.get("/search", response_class=HTMLResponse, response_model=None)
    def search(request: Request, q_: Annotated[str, Query(alias="q", max_length=200)] = "") -> Response:
        if not ui.may_read(request):
            return ui.login_redirect()
        text = q_.strip()
        if not text:
            return ui.render(request, "search.html", q="", results=[])
        try:
            return RedirectResponse(f"{ui.mount}/attackers/{ipaddress.ip_address(text)}", status_code=303)
        except ValueError:
            pass
        dialled = normalize_dialled(text)
        if dialled.e164 and q.facets(store, f"num:{dialled.e164}", per_facet=1):
            return RedirectResponse(f"{ui.mount}/numbers/{dialled.e164}", status_code=303)
        ui.refresh()
        return ui.render(request, "search.html", q=text, results=q.search_keys(store, text))

    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> HTMLResponse:
        return ui.render(request, "login.html", error=None)

    @router.post("/login", response_model=None)
    def login(
        request: Request,
        username: Annotated[str, Form(max_length=64)],
        password: Annotated[str, Form(max_length=auth.MAX_PASSWORD_CHARS)],
        csrf: Annotated[str, Form(max_length=100)] = "",
    ) -> Response:
        if not auth.csrf_ok(request.cookies.get(auth.CSRF_COOKIE), csrf):
            return ui.render(request, "login.html", status=403, error="The form expired; try again.")
        if not auth.check_login(
            store, username, password, admin_user=ui.ui.admin_user, admin_hash=ui.ui.admin_password_hash
        ):
            log.warning(
                "dashboard: failed login for %r from %s", username, request.client.host if request.client else "?"
            )
            return ui.render(request, "login.html", status=401, error="Wrong user name or password.")
        response = RedirectResponse(f"{ui.mount}/", status_code=303, headers=SECURITY_HEADERS)
        cookie = auth.make_session(ui.secret, username, utcnow(), ui.ui.session_hours)
        secure = request.url.scheme == "https"
        response.set_cookie(
            auth.SESSION_COOKIE, cookie, httponly=True, samesite="strict", secure=secure, path=ui.mount + "/"
        )
        return response

    @router.post("/logout", response_model=None)
    def logout(request: Request, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
        ui.check_action(request, csrf)
        response = RedirectResponse(f"{ui.mount}/", status_code=303, headers=SECURITY_HEADERS)
        response.delete_cookie(auth.SESSION_COOKIE, path=ui.mount + "/")
        return response

    static = resources.files("sipwarden.hub.ui") / "static"
    assets = {name: ((static / rel).read_bytes(), media) for name, (rel, media) in STATIC_FILES.items()}

    @router.get("/static/{name}")
    def static_file(name: str) -> Response:
        if name not in assets:
            raise HTTPException(status_code=404)
        body, media = assets[name]
        return Response(body, media_type=media, headers={**SECURITY_HEADERS, "Cache-Control": "max-age=3600"})

    return router
