"""Interfaces that existing clients already speak, so operators can point them at the hub.

- SentryPeer's HTTP API: `/ip-addresses`, `/ip-addresses/{ip}`, `/numbers`, `/numbers/{number}`,
  with SentryPeer's JSON keys (src/http_ip_addresses_route.c and friends in SentryPeer).
- APIBAN: `/api/{KEY}/banned[/{ID}]` in batches of 250 with an `ID` cursor, 400 `"no new bans"`,
  `"ID": "none"` when nothing is left; `/api/{KEY}/check/{IP}`; and the v2 POST forms `/api/get`,
  `/api/check` exactly as apiban/golib (the library of apiban-client-nftables and friends) sends them:
  `Authorization: Bearer KEY`, bodies `{"set": "sip", "id": "100"}` and `{"set": "sip", "ipaddress": IP}`,
  no content type. Unknown keys get APIBAN's 403 `{"ipaddress": "none", "ID": "unauthorized"}`.
- CrowdSec's Local API decisions stream as the firewall bouncer polls it:
  `GET /v1/decisions/stream?startup=true` with `X-Api-Key`, answering `{"new": [...], "deleted": [...]}`;
  the cursor of each key is kept in the database so any hub process can answer the next poll.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Final, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from sipwarden.events import utcnow
from sipwarden.hub.auth import Caller
from sipwarden.hub.body import ERROR_RESPONSES, read_body
from sipwarden.hub.repo import Listing
from sipwarden.hub.service import HUB_SCENARIO, HubService

#: APIBAN hands out addresses 250 at a time.
APIBAN_BATCH: Final = 250
#: APIBAN's `ID`s are Unix times, and its clients start from one: golib sends "100", the v1 Go client
#: a time a year ago. The hub's IDs are its change numbers plus this base, so any ID below it (every
#: start value clients use until 2033) means "from the beginning" and never skips a listing.
APIBAN_ID_BASE: Final = 2_000_000_000
#: APIBAN's answers when a key is refused, and when a batch walk is over (apiban.org/doc.html).
APIBAN_UNAUTHORIZED: Final = {"ipaddress": "none", "ID": "unauthorized"}
APIBAN_NO_NEW_BANS: Final = {"ipaddress": ["no new bans"], "ID": "none"}
#: Largest APIBAN POST body read (golib sends about 40 bytes).
MAX_APIBAN_BODY: Final = 4096
#: Most decisions one CrowdSec stream poll returns.
CROWDSEC_PAGE: Final = 100_000


def apiban_id(seq: int) -> str:
    """The APIBAN `ID` of change number `seq`."""
    return str(APIBAN_ID_BASE + seq)


def apiban_cursor(value: str | int | None) -> int:
    """The change number an APIBAN `ID` stands for (0: from the beginning); ValueError if not a number."""
    if value in (None, "", "none"):
        return 0
    number = int(str(value).strip())
    return max(0, number - APIBAN_ID_BASE)


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def go_duration(seconds: float) -> str:
    """A duration as Go's time.ParseDuration reads it (`167h59m58s`), as CrowdSec sends it."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes}m{secs}s"


def crowdsec_decision(listing: Listing, seq: int, now: datetime) -> dict[str, Any]:
    """One decision in CrowdSec's LAPI shape (models.Decision)."""
    return {
        "id": seq,
        "origin": "sipwarden",
        "type": "ban",
        "scope": "Ip",
        "value": listing.ip,
        "duration": go_duration((listing.expires_at - now).total_seconds()),
        "scenario": HUB_SCENARIO,
        "until": _iso(listing.expires_at),
        "simulated": False,
    }


M = TypeVar("M", bound=BaseModel)


class ApibanGet(BaseModel):
    """APIBAN v2's POST /api/get body: golib sends `{"set": "sip", "id": "100"}` with a Bearer key."""

    model_config = ConfigDict(extra="ignore")
    apikey: str | None = Field(default=None, max_length=200, description="Older form: the key in the body.")
    set: str | None = Field(default=None, max_length=16, description="sip, http or all; the hub has one set.")
    id: str | int | None = Field(default=None, description="The last ID received (any ID below 2e9: all).")


class ApibanCheck(BaseModel):
    """APIBAN v2's POST /api/check body: golib sends `{"set": "sip", "ipaddress": IP}` with a Bearer key."""

    model_config = ConfigDict(extra="ignore")
    apikey: str | None = Field(default=None, max_length=200, description="Older form: the key in the body.")
    set: str | None = Field(default=None, max_length=16, description="sip, http or all; the hub has one set.")
    ipaddress: str | None = Field(default=None, max_length=64)
    ip: str | None = Field(default=None, max_length=64, description="Older form of `ipaddress`.")


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


async def _apiban_body(request: Request, model: type[M]) -> M:
    """The JSON body whatever the content type: APIBAN's clients (golib) send none at all."""
    raw = await read_body(request, MAX_APIBAN_BODY)
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, RecursionError):  # RecursionError: hostile nesting
        raise RequestValidationError(
            [{"loc": ("body",), "msg": "the body is not JSON", "type": "json_invalid"}]
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False, include_input=False)]
        ) from None


def router(svc: HubService) -> APIRouter:
    """The compatibility endpoints."""
    r = APIRouter(responses=ERROR_RESPONSES)

    # -- SentryPeer ---------------------------------------------------------------------------------

    @r.get("/ip-addresses", tags=["sentrypeer"])
    def sp_ip_addresses(request: Request) -> JSONResponse:
        """Every listed address, SentryPeer-style."""
        svc.auth.caller(request, "reader")
        svc.sweep(utcnow())
        items = [
            {"ip_address": lst.ip, "seen_last": _iso(lst.last_evidence), "seen_count": str(lst.events)}
            for lst in svc.repo.listed()
        ]
        if not items:
            return JSONResponse({"message": "No bad actors found"}, status_code=404)
        return JSONResponse({"ip_addresses_total": len(items), "ip_addresses": items})

    @r.get("/ip-addresses/{ip}", tags=["sentrypeer"])
    def sp_ip_address(request: Request, ip: str) -> JSONResponse:
        """200 with the address when listed, 404 otherwise."""
        svc.auth.caller(request, "reader")
        listing = _listing(svc, ip)
        if listing is None or not listing.listed:
            return JSONResponse({"message": "No bad actor found"}, status_code=404)
        # SentryPeer answered `bad_actor_found` before 2023 and `ip_address_found` since; send both.
        return JSONResponse({"ip_address_found": listing.ip, "bad_actor_found": listing.ip})

    @r.get("/numbers", tags=["sentrypeer"])
    def sp_numbers(request: Request) -> JSONResponse:
        """Numbers dialled at honeypots, SentryPeer-style."""
        svc.auth.caller(request, "reader")
        items = [
            {"called_number": n.number, "seen_last": _iso(n.last_seen), "seen_count": str(n.count)}
            for n in svc.repo.numbers()
        ]
        if not items:
            return JSONResponse({"message": "No phone numbers found"}, status_code=404)
        return JSONResponse({"called_numbers_total": len(items), "called_numbers": items})

    @r.get("/numbers/{number}", tags=["sentrypeer"])
    def sp_number(request: Request, number: str) -> JSONResponse:
        """200 with the number when it was dialled at a honeypot, 404 otherwise."""
        svc.auth.caller(request, "reader")
        wanted = number if number.startswith("+") else "+" + number
        found = svc.repo.number(wanted[:32])
        if found is None:
            return JSONResponse({"message": "No phone number found"}, status_code=404)
        return JSONResponse({"phone_number_found": found.number})

    # -- APIBAN -------------------------------------------------------------------------------------

    def apiban_caller(request: Request, key: str | None) -> Caller | None:
        try:
            return svc.auth.caller(request, "reader", key=key or None)
        except HTTPException as exc:
            if exc.status_code in (401, 403):
                return None
            raise

    def banned(request: Request, key: str | None, after: str | int | None, *, walk: bool = False) -> JSONResponse:
        caller = apiban_caller(request, key)
        if caller is None:
            return JSONResponse(APIBAN_UNAUTHORIZED, status_code=403)
        try:
            cursor = apiban_cursor(after)
        except ValueError:
            raise HTTPException(400, "ID must be a number returned by a previous call") from None
        state_key = f"hub.apiban.{caller.key.id}" if walk and caller.key is not None else None
        if state_key is not None:
            # golib repeats the same body until "ID" is "none": the walk's position is kept per key
            # (in the store, so any process answers the next call); a different ID starts a new walk.
            state = svc.store.get_kv(state_key) or ""
            started, _, at = state.partition(" ")
            if started == str(after) and at.isdigit():
                cursor = int(at)
        svc.sweep(utcnow())
        page = svc.repo.listed(after_seq=cursor, limit=APIBAN_BATCH)
        if state_key is not None:
            svc.store.set_kv(state_key, f"{after} {page[-1].seq}" if page else "")
        if not page:
            return JSONResponse(APIBAN_NO_NEW_BANS, status_code=400)
        return JSONResponse({"ipaddress": [lst.ip for lst in page], "ID": apiban_id(page[-1].seq)})

    def check(request: Request, key: str | None, ip: str) -> JSONResponse:
        if apiban_caller(request, key) is None:
            return JSONResponse(APIBAN_UNAUTHORIZED, status_code=403)
        listing = _listing(svc, ip)
        if listing is None or not listing.listed:
            return JSONResponse({"ipaddress": ["not blocked"], "ID": "none"}, status_code=404)
        return JSONResponse({"ipaddress": [listing.ip], "ID": apiban_id(listing.seq)})

    @r.get("/api/{key}/banned", tags=["apiban"])
    def apiban_banned(request: Request, key: str) -> JSONResponse:
        """The first batch of listed addresses."""
        return banned(request, key, None)

    @r.get("/api/{key}/banned/{after}", tags=["apiban"])
    def apiban_banned_after(request: Request, key: str, after: str) -> JSONResponse:
        """The batch after cursor `after`."""
        return banned(request, key, after)

    @r.get("/api/{key}/check/{ip}", tags=["apiban"])
    def apiban_check(request: Request, key: str, ip: str) -> JSONResponse:
        """200 with the address when listed, 404 `not blocked` otherwise."""
        return check(request, key, ip)

    @r.post("/api/get", tags=["apiban"], openapi_extra=_json_body(ApibanGet))
    async def apiban_get(request: Request) -> JSONResponse:
        """APIBAN v2: the next batch of listed addresses (key in the Authorization header or the body)."""
        body = await _apiban_body(request, ApibanGet)
        return await run_in_threadpool(banned, request, body.apikey, body.id, walk=True)

    @r.post("/api/check", tags=["apiban"], openapi_extra=_json_body(ApibanCheck))
    async def apiban_post_check(request: Request) -> JSONResponse:
        """APIBAN v2: 200 with the address when listed, 404 `not blocked` otherwise."""
        body = await _apiban_body(request, ApibanCheck)
        ip = body.ipaddress or body.ip
        if not ip:
            raise RequestValidationError([{"loc": ("body", "ipaddress"), "msg": "Field required", "type": "missing"}])
        return await run_in_threadpool(check, request, body.apikey, ip)

    # -- CrowdSec bouncer ---------------------------------------------------------------------------

    @r.get("/v1/decisions/stream", tags=["crowdsec"])
    def crowdsec_stream(
        request: Request,
        startup: Annotated[bool, Query()] = False,
        scopes: Annotated[str | None, Query(max_length=200)] = None,
    ) -> JSONResponse:
        """All active decisions (`startup=true`), else what changed since this key's last poll."""
        caller = svc.auth.caller(request, "reader")
        if caller.key is None:
            raise HTTPException(401, "the decisions stream needs a key (X-Api-Key)")
        now = utcnow()
        svc.sweep(now)
        wanted = {s.strip().lower() for s in (scopes or "ip").split(",")}
        state_key = f"hub.crowdsec.{caller.key.id}"
        head = svc.repo.head()
        new: list[dict[str, Any]] = []
        deleted: list[dict[str, Any]] = []
        if "ip" in wanted:
            stored = svc.store.get_kv(state_key)
            if startup or stored is None:
                new = [crowdsec_decision(lst, lst.seq, now) for lst in svc.repo.listed()]
            else:
                final: dict[str, tuple[str, Listing, int]] = {}
                for change, listing in svc.repo.changes(int(stored), CROWDSEC_PAGE):
                    final[change.ip] = (change.op, listing, change.seq)
                    head = change.seq
                for op, listing, seq in final.values():
                    item = crowdsec_decision(listing, seq, now)
                    if op == "add" and listing.listed:
                        new.append(item)
                    elif op == "del":
                        deleted.append(item)
        svc.store.set_kv(state_key, str(head))
        # The bouncer reads missing lists as null; send JSON null for an empty side, as the LAPI does.
        return JSONResponse({"new": new or None, "deleted": deleted or None})

    @r.get("/v1/decisions", tags=["crowdsec"])
    def crowdsec_decisions(request: Request, ip: Annotated[str | None, Query(max_length=64)] = None) -> JSONResponse:
        """Live mode: the decisions about one address (JSON null when none)."""
        svc.auth.caller(request, "reader")
        if ip is None:
            raise HTTPException(400, "ip= is required")
        listing = _listing(svc, ip)
        if listing is None or not listing.listed:
            return JSONResponse(None)
        return JSONResponse([crowdsec_decision(listing, listing.seq, utcnow())])

    return r


def _listing(svc: HubService, ip: str) -> Listing | None:
    try:
        return svc.repo.listing(ip)
    except ValueError:
        raise HTTPException(400, "not an IP address") from None
