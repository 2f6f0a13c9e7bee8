"""HTTP routes: the JSON API, health and metrics, and the pages and /static/ (``static_files``). Thin:
validate, call rooms/, answer."""

from __future__ import annotations

import hmac
import json
import logging
import math
from datetime import timedelta
from urllib.parse import urlsplit

from aiohttp import web

from rooms.errors import DomainError, TokenError
from rooms.meeting import room_object
from rooms.panels import city_list

from . import validate
from .config import Config
from .hub import HUB
from .listener import in_networks
from .ratelimit import AddressLimits
from .static_files import StaticFiles
from .validate import BadRequest

log = logging.getLogger("sitroom.api")

MAX_JSON_BODY = 64 * 1024


def _hub(request: web.Request):
    return request.app[HUB]


def error_response(status: int, code: str, message: str, details: dict | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, **(details or {})}}, status=status)


_STATUS = {"bad_request": 400, "invalid_token": 401, "forbidden": 403, "room_not_found": 404,
           "invalid_code": 404, "not_yet_open": 403}


@web.middleware
async def errors_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except BadRequest as exc:
        return error_response(400, exc.code, exc.message)
    except DomainError as exc:
        return error_response(_STATUS.get(exc.code, 400), exc.code, exc.message, getattr(exc, "details", None))
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "too_large", f"request body is larger than {MAX_JSON_BODY} bytes")
    except web.HTTPUnsupportedMediaType:
        return error_response(415, "unsupported_type", "the body must be sent as application/json")
    except web.HTTPException:
        raise
    except Exception:  # noqa: BLE001
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, "internal", "internal error")


# Requests per client address (server/ratelimit.py client_key): (per second, burst), times the
# config's rate_limit_scale. Room codes are short enough to guess at, so looking one up is as strict
# as creating a room; the rest of the API is generous (a city office behind one NAT address loads
# many document pages). A meeting record (server/record_api.py) reads a room's whole history and
# may pack its recordings: as strict as creating a room. Pages, /static/, /healthz and Socket.IO
# (limited per connection) are not here.
HTTP_LIMITS = {
    "create_room": (1 / 6, 10),
    "resolve_code": (1.0, 10),
    "record": (1 / 6, 10),
    "api": (50.0, 600),
}
RATE_LIMITS = web.AppKey("rate_limits", dict)
TRUSTED_PROXIES = web.AppKey("trusted_proxies", list)  # Config.trusted_proxy_networks, parsed once


def limit_of(request: web.Request) -> str | None:
    """Which of HTTP_LIMITS a request counts against (None: not limited)."""
    path = request.path
    if not path.startswith("/api/"):
        return None
    if path.rstrip("/") in ("/api/rooms", "/api/meetings") and request.method == "POST":
        return "create_room"
    if path.startswith("/api/codes/"):
        return "resolve_code"
    if path.startswith("/api/rooms/") and path.endswith(("/record", "/record.json", "/archive")):
        return "record"
    return "api"


def client_address(request: web.Request, trusted: list) -> str | None:
    """The address a request's limits count against: its peer's, or behind trusted reverse proxies
    (``--trusted-proxy``), the last address in ``X-Forwarded-For`` that is not one of theirs (what a
    client writes there itself comes before its proxy's entry, so it cannot choose its bucket)."""
    address = request.remote
    if not in_networks(address, trusted):
        return address
    hops = [hop.strip() for header in request.headers.getall("X-Forwarded-For", []) for hop in header.split(",")]
    for hop in reversed(hops):
        if hop and not in_networks(hop, trusted):
            return hop
    return address


def rate_limits(scale: float = 1.0) -> dict[str, AddressLimits]:
    return {name: AddressLimits(rate * scale, burst * scale) for name, (rate, burst) in HTTP_LIMITS.items()}


@web.middleware
async def rate_limit_middleware(request: web.Request, handler):
    name = limit_of(request)
    if name is not None:
        wait = request.app[RATE_LIMITS][name].take(client_address(request, request.app.get(TRUSTED_PROXIES, [])))
        if wait > 0:
            response = error_response(429, "rate_limited", "too many requests from your address: try again in "
                                                           f"{math.ceil(wait)} s")
            response.headers["Retry-After"] = str(math.ceil(wait))
            return response
    return await handler(request)


@web.middleware
async def room_owner_redirect(request: web.Request, handler):
    """Several nodes (server/cluster.py): a meeting page opened on a node other than the one holding
    the room is sent there (307, the invite's query kept), so that the room stays on one node. Not
    when the page was asked for at that very address: the proxy sent it here because the holder is
    down (its lease not lapsed yet), and a redirect would come back here; the page's join then
    waits for the lease."""
    if request.method in ("GET", "HEAD") and request.path.startswith("/r/"):
        room_id, hub = request.match_info.get("room_id"), request.app.get(HUB)
        owner = await hub.cluster.owner_elsewhere(room_id) if room_id and hub is not None else None
        if owner and urlsplit(owner).netloc.lower() != request.host.lower():
            raise web.HTTPTemporaryRedirect(owner + request.path_qs)
    return await handler(request)


@web.middleware
async def security_headers(request: web.Request, handler):
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")  # tokens live in page URLs
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


# What a Sitroom page may load and talk to: its own origin (scripts, styles, the socket, media), images
# from data:/blob: URLs (the icon, rendered pages); no framing, no plugins, no other site.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


async def response_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response, static files and Socket.IO's included: the Content-Security-Policy, and a
    ``Server`` header that names no versions (aiohttp's would give Python's and its own)."""
    response.headers["Server"] = "Sitroom"
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)


async def read_json(request: web.Request) -> dict:
    # Only a script of our own origin can send application/json across sites with a preflight; a
    # form or a "simple" cross-site POST (text/plain) is refused before it is read.
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType()
    if request.content_length is not None and request.content_length > MAX_JSON_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_JSON_BODY, actual_size=request.content_length)
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("body must be JSON") from None
    return validate.payload(body)


def bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    return request.query.get("t", "")


def invite_links(config: Config, room_id: str, tokens: dict[str, str]) -> dict[str, str]:
    return {role: f"{config.base_url}/r/{room_id}?t={token}" for role, token in tokens.items()}


# ---- JSON API --------------------------------------------------------------------------------

def room_view(room) -> dict:
    return room_object(room.id, room.title, room.city, room.starts_at, room.ends_at)


def organiser_refusal(request: web.Request, config: Config) -> web.Response | None:
    """Creating a room takes the organiser key as ``Authorization: Bearer <key>`` (never in the URL,
    which ends up in logs): None when it was given, else the refusal."""
    header = request.headers.get("Authorization", "")
    given = header[7:].strip() if header.startswith("Bearer ") else ""
    if not given:
        return error_response(401, "organiser_key_required",
                              "creating a room needs the organiser key: ask whoever runs this Sitroom server "
                              "(it is printed at start-up and kept in the data folder's organiser-key file)")
    if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), config.organiser_key().encode()):
        return error_response(403, "organiser_key_invalid",
                              "this is not the organiser key of this server: check it with whoever runs it")
    return None


async def create_room(request: web.Request) -> web.Response:
    hub = _hub(request)
    refusal = organiser_refusal(request, hub.config)
    if refusal is not None:
        return refusal
    body = await read_json(request)
    title = validate.string(body, "title", max_len=120, min_len=1)
    city = validate.string(body, "city", max_len=32, required=False) or None
    starts_at = validate.time(body, "starts_at")
    ends_at = None
    if body.get("duration_minutes") is not None:
        if starts_at is None:
            raise BadRequest("'duration_minutes' needs 'starts_at'")
        ends_at = starts_at + timedelta(minutes=validate.integer(body, "duration_minutes", minimum=5, maximum=24 * 60))
    room, tokens = await hub.rooms.create_room(title, city=city, starts_at=starts_at, ends_at=ends_at,
                                               record_retention_days=body.get("record_retention_days"))
    return web.json_response(
        {"room": {**room_view(room), "record_retention_days": room.record_retention_days},
         "links": invite_links(hub.config, room.id, tokens),
         "code": await hub.rooms.invite_code(room.id)},
        status=201,
    )


async def invited_room(request: web.Request):
    """The invite a request bears (``Authorization: Bearer`` or ``?t=``) for the route's room, and
    the room: ``(claims, room)``; a missing token or another room's is ``invalid_token``. A
    scheduled meeting's invite counts before it opens (its page loads; only the join waits)."""
    hub = _hub(request)
    token = bearer(request)
    if not token:
        raise TokenError("invalid_token", "an invite token is required")
    claims = await hub.rooms.verify_token(token, before_opening=True)
    if claims.room_id != request.match_info["room_id"]:
        raise TokenError("invalid_token", "this invite is for another room")
    return claims, await hub.rooms.get_room(claims.room_id)


async def get_room(request: web.Request) -> web.Response:
    claims, room = await invited_room(request)
    live = _hub(request).live.get(room.id)
    # (the pre-join tells whoever is about to join that the meeting is being recorded)
    recording = bool(live is not None and live.recording_state()["active"])
    return web.json_response({"room": room_view(room), "role": str(claims.role), "recording": recording})


async def cities(request: web.Request) -> web.Response:
    """The built-in cities of simulated panels (the start page's and the panel editor's choice)."""
    return web.json_response({"cities": city_list()})


async def resolve_code(request: web.Request) -> web.Response:
    """A typed room code -> the room and its participant link (the start page's join box)."""
    hub = _hub(request)
    room, token = await hub.rooms.resolve_code(request.match_info["code"])
    return web.json_response({"room": room_view(room),
                              "link": invite_links(hub.config, room.id, {"participant": token})["participant"]})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def metrics(request: web.Request) -> web.Response:
    hub = _hub(request)
    if not hmac.compare_digest(bearer(request), hub.config.metrics_token()):
        return error_response(401, "invalid_token", "metrics need the admin token (--admin-token, or the "
                                                    "one the server keeps in its data folder's admin-token)")
    sfu = await hub.media.stats()
    return web.json_response({
        "sfu": {key: value for key, value in sfu.items() if key != "workers"},
        "workers": sfu.get("workers", []),
        "meetings": hub.live.stats(),
        "connections": len(hub.signaling.sessions),
        "uploads": {"active": hub.uploads.active, "by_room": dict(hub.uploads.by_room)},
        "cluster": {"node": hub.cluster.node_id, "url": hub.cluster.url, "enabled": hub.cluster.enabled,
                    "rooms_held": len(hub.cluster.held), "rooms_taken": hub.cluster.taken_over},
        "tcp": hub.listener.stats() if hub.listener is not None else None,
    })


def setup_routes(app: web.Application, config: Config) -> None:
    app.middlewares.extend([security_headers, rate_limit_middleware, errors_middleware, room_owner_redirect])
    app[RATE_LIMITS] = rate_limits(config.rate_limit_scale)
    app[TRUSTED_PROXIES] = config.trusted_proxy_networks
    app.on_response_prepare.append(response_headers)
    config.client_dist.mkdir(parents=True, exist_ok=True)
    StaticFiles(config.client_dist).add_routes(app, {"/": "index.html", "/r/{room_id}": "room.html",
                                                          "/console": "console.html",
                                                          "/archive": "archive.html"})
    app.router.add_post("/api/rooms", create_room)
    app.router.add_get("/api/rooms/{room_id}", get_room)
    app.router.add_get("/api/codes/{code}", resolve_code)
    app.router.add_get("/api/cities", cities)
    app.router.add_get("/api/metrics", metrics)
    app.router.add_get("/healthz", healthz)
