"""HTTP routes of scheduled meetings (issue "records", Scheduling): the organiser console's API and
the waiting page's schedule. Thin: read the body, call ``rooms.scheduling``, answer.

Every ``/api/meetings`` route takes the organiser key (``Authorization: Bearer <key>``, as
``POST /api/rooms``); ``GET /api/rooms/{room_id}/schedule`` takes an invite token instead. Every
room is a meeting here, scheduled or not: ``PATCH /api/meetings/{room_id}/retention`` sets how
long any room's record is kept (``rooms/retention.py`` deletes what is older).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from rooms.meeting import iso_utc
from rooms.scheduling import MeetingRequest, MeetingView, Scheduler, ics, invitation_text, schedule_view

from .api import error_response, invite_links, invited_room, organiser_refusal, read_json, room_view
from .hub import HUB
from .validate import BadRequest


def _scheduler(request: web.Request) -> Scheduler:
    return Scheduler(request.app[HUB].rooms)


def _iso(value) -> str | None:
    return iso_utc(value) if value is not None else None


def meeting_json(request: web.Request, view: MeetingView) -> dict:
    config = request.app[HUB].config
    room = view.room
    delegations = []
    for item in view.delegations:
        delegation, invite = item.delegation, item.invite
        link = invite_links(config, room.id, {"d": item.token})["d"] if item.token else None
        delegations.append({
            "id": delegation.id, "name": delegation.name, "city": delegation.city,
            "time_zone": delegation.time_zone, "role": delegation.role, "seats": delegation.seats,
            "uses": invite.uses if invite is not None else None,
            "opens_at": _iso(invite.not_before) if invite is not None else None,
            "expires_at": _iso(invite.expires_at) if invite is not None else None,
            "link": link,
            "invitation": invitation_text(room, delegation, link) if link and room.starts_at else None,
            "ics_url": f"{config.base_url}/api/meetings/{room.id}/delegations/{delegation.id}.ics",
        })
    return {
        "room": {**room_view(room), "agenda": room.agenda, "time_zone": room.time_zone,
                 "opened_at": _iso(room.opened_at), "record_retention_days": room.record_retention_days},
        "links": invite_links(config, room.id, view.tokens),
        "delegations": delegations,
    }


async def schedule_meeting(request: web.Request) -> web.Response:
    refusal = organiser_refusal(request, request.app[HUB].config)
    if refusal is not None:
        return refusal
    body = await read_json(request)
    meeting = MeetingRequest.parse(title=body.get("title"), agenda=body.get("agenda"), start=body.get("start"),
                                   duration_minutes=body.get("duration_minutes"),
                                   delegations=body.get("delegations"), city=body.get("city"),
                                   record_retention_days=body.get("record_retention_days"))
    view = await _scheduler(request).schedule(meeting)
    return web.json_response(meeting_json(request, view), status=201)


async def list_meetings(request: web.Request) -> web.Response:
    refusal = organiser_refusal(request, request.app[HUB].config)
    if refusal is not None:
        return refusal
    groups = await _scheduler(request).list_meetings()
    return web.json_response({
        name: [{**room_view(room), "time_zone": room.time_zone, "opened_at": _iso(room.opened_at),
                "record_retention_days": room.record_retention_days, "delegations": count} for room, count in rows]
        for name, rows in groups.items()
    })


async def get_meeting(request: web.Request) -> web.Response:
    refusal = organiser_refusal(request, request.app[HUB].config)
    if refusal is not None:
        return refusal
    view = await _scheduler(request).meeting(request.match_info["room_id"])
    return web.json_response(meeting_json(request, view))


async def open_meeting(request: web.Request) -> web.Response:
    """The organiser opens the meeting early (as a host's join does)."""
    refusal = organiser_refusal(request, request.app[HUB].config)
    if refusal is not None:
        return refusal
    room = await _scheduler(request).open_early(request.match_info["room_id"])
    return web.json_response({"room": room_view(room), "opened_at": _iso(room.opened_at)})


async def set_retention(request: web.Request) -> web.Response:
    """The organiser changes how many days the room's record and recordings are kept (null: for
    ever). The field must be given: a body that forgot it is not taken for "keep for ever"."""
    hub = request.app[HUB]
    refusal = organiser_refusal(request, hub.config)
    if refusal is not None:
        return refusal
    body = await read_json(request)
    if "record_retention_days" not in body:
        raise BadRequest("'record_retention_days' is required: a whole number of days from 1 to 3650, "
                         "or null to keep the meeting's record for ever")
    room = await hub.rooms.set_retention(request.match_info["room_id"], body["record_retention_days"])
    return web.json_response({"room": {**room_view(room), "record_retention_days": room.record_retention_days}})


async def delegation_ics(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    refusal = organiser_refusal(request, hub.config)
    if refusal is not None:
        return refusal
    room, item = await _scheduler(request).delegation(request.match_info["room_id"],
                                                      request.match_info["delegation_id"])
    if item.token is None:
        return error_response(410, "invite_revoked", "this delegation's invite has been revoked")
    if room.starts_at is None:
        return error_response(409, "not_scheduled", "this room has no planned start")
    link = invite_links(hub.config, room.id, {"d": item.token})["d"]
    body = ics(room, item.delegation, link, domain=urlsplit(hub.config.base_url).hostname or "sitroom",
               now=hub.rooms.clock())
    return web.Response(body=body, content_type="text/calendar", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="sitroom-{room.id}-{item.delegation.id}.ics"'})


async def room_schedule(request: web.Request) -> web.Response:
    """For an invite holder's waiting page: the start, the end, when its invite opens, opened or not.
    Answers before the invite opens (that is what it is for)."""
    hub = request.app[HUB]
    claims, room = await invited_room(request)
    return web.json_response({"room": room_view(room), "role": str(claims.role),
                              **schedule_view(room, claims.not_before, hub.rooms.clock())})


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/meetings", schedule_meeting)
    app.router.add_get("/api/meetings", list_meetings)
    app.router.add_get("/api/meetings/{room_id}", get_meeting)
    app.router.add_post("/api/meetings/{room_id}/open", open_meeting)
    app.router.add_patch("/api/meetings/{room_id}/retention", set_retention)
    app.router.add_get("/api/meetings/{room_id}/delegations/{delegation_id}.ics", delegation_ics)
    app.router.add_get("/api/rooms/{room_id}/schedule", room_schedule)
