"""The meeting record over HTTP: ``GET /api/rooms/{room_id}/record`` (a ZIP) and
``.../record.json`` (the same record as JSON), for the organiser and the room's hosts; and the
archive of its recordings (``rooms.archive``): ``GET /api/rooms/{room_id}/archive`` (what the
archive page plays, with a *ticket*) and ``GET /api/rooms/{room_id}/recordings/{recording}/{file}``
(a media file or a stage image, with ``?ticket=``; ranges served, so players seek).

The ticket exists because a ``<video>`` element cannot send an ``Authorization`` header and the
organiser key must never be in a URL: it is an HMAC of the room and an expiry (:data:`TICKET_SECONDS`)
under the server's secret, good for that room's recordings only.

Who may: the organiser key as ``Authorization: Bearer <key>`` (never in the URL), or an invite
token of that room whose role may download it (``rooms.authorize``: hosts), as a bearer token or
``?t=``. Nothing is ``401 invalid_token``, an invite of another room or of another role ``403
forbidden``. The ZIP is built in a thread into an unnamed temporary file in the data folder's
``exports`` (never in memory), then streamed; at most :data:`EXPORTS_AT_ONCE` are built at once
(one more: ``503 busy``), and the routes have their own, stricter, rate limit (``server.api``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import tempfile
import time
from functools import partial
from urllib.parse import quote

from aiohttp import web

from rooms.authorize import Action, Actor, authorize
from rooms.archive import list_recordings, load_archive, recording_file
from rooms.errors import TokenError
from rooms.record import MeetingRecord, load_record, record_filename, write_zip

from .api import error_response
from .hub import HUB

log = logging.getLogger("sitroom.record")

EXPORTS_AT_ONCE = 2
TICKET_SECONDS = 6 * 3600
CHUNK_BYTES = 256 * 1024
_NO_STORE = {"Cache-Control": "no-store"}  # names, organisations and chat of everyone present


class ExportSlots:
    """How many ZIPs are being built now."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0

    def take(self) -> bool:
        if self.active >= self.limit:
            return False
        self.active += 1
        return True

    def release(self) -> None:
        self.active = max(0, self.active - 1)


EXPORT_SLOTS = web.AppKey("record_export_slots", ExportSlots)


def content_disposition(record: MeetingRecord) -> str:
    """An ``attachment`` Content-Disposition naming the ZIP, with the UTF-8 name too (RFC 6266)."""
    ascii_name, unicode_name = record_filename(record)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(unicode_name, safe='')}"


async def _refusal(request: web.Request, room_id: str) -> tuple[web.Response | None, str]:
    """None and who asks (``organiser`` or ``invite <id>``), or the refusal."""
    hub = request.app[HUB]
    header = request.headers.get("Authorization", "")
    given = header[7:].strip() if header.startswith("Bearer ") else ""
    key = hub.config.organiser_key().encode()
    if given and hmac.compare_digest(given.encode("utf-8", "surrogateescape"), key):
        return None, "organiser"
    token = given or request.query.get("t", "")
    if not token:
        return error_response(401, "invalid_token",
                              "the meeting record needs the organiser key (Authorization: Bearer <key>) or a "
                              "host invite of this room"), ""
    if not given and hmac.compare_digest(token.encode("utf-8", "surrogateescape"), key):
        return error_response(400, "bad_request", "send the organiser key in the Authorization header "
                                                  "(Bearer), never in the URL"), ""
    try:
        claims = await hub.rooms.verify_token(token)
    except TokenError as exc:
        return error_response(401, "invalid_token",
                              f"neither the organiser key nor a usable invite ({exc.message})"), ""
    if claims.room_id != room_id:
        return error_response(403, "forbidden", "this invite is for another room"), ""
    decision = authorize(Actor.of(claims.role), Action.DOWNLOAD_RECORD, verb="download the meeting record")
    if not decision:
        return error_response(403, "forbidden", decision.message + ": only the organiser and the "
                                                                   "room's hosts may"), ""
    return None, f"invite {claims.invite_id}"


async def _record(request: web.Request) -> tuple[web.Response | None, MeetingRecord | None, str]:
    room_id = request.match_info["room_id"]
    refusal, who = await _refusal(request, room_id)
    if refusal is not None:
        return refusal, None, who
    hub = request.app[HUB]
    record = await load_record(hub.db, room_id, recordings_root=hub.config.data_dir / "recordings")
    return None, record, who


async def record_json(request: web.Request) -> web.Response:
    refusal, record, who = await _record(request)
    if refusal is not None:
        return refusal
    log.info("meeting record of room %s read as JSON (%s)", record.room["id"], who)
    return web.json_response(record.data, headers=_NO_STORE, dumps=partial(json.dumps, ensure_ascii=False))


async def record_zip(request: web.Request) -> web.StreamResponse:
    refusal, record, who = await _record(request)
    if refusal is not None:
        return refusal
    slots = request.app[EXPORT_SLOTS]
    if not slots.take():
        response = error_response(503, "busy", "other meeting records are being prepared: try again in a moment")
        response.headers["Retry-After"] = "10"
        return response
    try:
        folder = request.app[HUB].config.data_dir / "exports"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        # An unnamed file: gone when closed, even if the server dies meanwhile.
        with tempfile.TemporaryFile(dir=folder) as out:
            await asyncio.to_thread(write_zip, record, out)
            size = out.seek(0, 2)
            out.seek(0)
            response = web.StreamResponse(headers={
                "Content-Type": "application/zip",
                "Content-Disposition": content_disposition(record),
                **_NO_STORE,
            })
            response.content_length = size
            await response.prepare(request)
            log.info("sending the meeting record of room %s (%s, %d bytes)", record.room["id"], who, size)
            try:
                while chunk := await asyncio.to_thread(out.read, CHUNK_BYTES):
                    await response.write(chunk)
                await response.write_eof()
            except ConnectionError:
                log.info("download of the meeting record of room %s cut off", record.room["id"])
            return response
    finally:
        slots.release()


# ---- the archive ---------------------------------------------------------------------------------

def _ticket_mac(secret: bytes, room_id: str, expires: int) -> str:
    mac = hmac.new(secret, f"archive:{room_id}:{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def archive_ticket(secret: bytes, room_id: str, now: float | None = None) -> str:
    """A ticket to ``room_id``'s recording files, good for :data:`TICKET_SECONDS`."""
    expires = int((time.time() if now is None else now) + TICKET_SECONDS)
    return f"{expires}.{_ticket_mac(secret, room_id, expires)}"


def ticket_valid(secret: bytes, room_id: str, ticket: str, now: float | None = None) -> bool:
    expires, _, mac = ticket.partition(".")
    if not expires.isdigit() or len(expires) > 12 or not mac:
        return False
    if int(expires) < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(mac.encode("ascii", "replace"), _ticket_mac(secret, room_id, int(expires)).encode())


async def archive_json(request: web.Request) -> web.Response:
    room_id = request.match_info["room_id"]
    refusal, who = await _refusal(request, room_id)
    if refusal is not None:
        return refusal
    hub = request.app[HUB]
    archive = await load_archive(hub.db, room_id, hub.config.data_dir / "recordings")
    people = archive.pop("people")
    archive["recordings"] = await asyncio.to_thread(
        list_recordings, hub.config.data_dir / "recordings" / room_id, room_id, people)
    archive["ticket"] = archive_ticket(hub.config.secret_bytes(), room_id)
    log.info("archive of room %s read (%s, %d recordings)", room_id, who, len(archive["recordings"]))
    response = web.json_response(archive, headers=_NO_STORE, dumps=partial(json.dumps, ensure_ascii=False))
    # An hour of a panel on the stage is ~5 MB of its data, in series that repeat: compressed ~10x.
    response.enable_compression()
    return response


async def recording_file_response(request: web.Request) -> web.StreamResponse:
    room_id = request.match_info["room_id"]
    hub = request.app[HUB]
    ticket = request.query.get("ticket", "")
    if not ticket:
        return error_response(401, "invalid_token", "recording files need the archive's ticket (?ticket=)")
    if not ticket_valid(hub.config.secret_bytes(), room_id, ticket):
        return error_response(403, "forbidden", "this ticket is not valid for this room's recordings (or expired: "
                                                "reload the archive)")
    path = await asyncio.to_thread(recording_file, hub.config.data_dir / "recordings" / room_id,
                                   request.match_info["recording_id"], request.match_info["name"])
    if path is None:
        return error_response(404, "not_found", "no such recording file")
    return web.FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})


def setup_routes(app: web.Application) -> None:
    app[EXPORT_SLOTS] = ExportSlots(EXPORTS_AT_ONCE)
    app.router.add_get("/api/rooms/{room_id}/record", record_zip)
    app.router.add_get("/api/rooms/{room_id}/record.json", record_json)
    app.router.add_get("/api/rooms/{room_id}/archive", archive_json)
    app.router.add_get("/api/rooms/{room_id}/recordings/{recording_id}/{name:.+}", recording_file_response)
