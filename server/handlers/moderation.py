"""What hosts and staff do to a meeting.

Most handlers here are the same three steps: validate the payload, let ``rooms.moderation`` decide
(it asks ``rooms.authorize`` and refuses without changing anything), then ``ctx.apply`` the result:
events to the room, the SFU paused or resumed, connections closed, the timeline written. Invites and
the record are handled here too, and ask ``rooms.authorize`` directly.

These handlers read the payload before checking that the connection has joined (a malformed request
is ``bad_request`` whoever sends it), so most are registered without ``joined`` and check it in
``_moderation``.
"""

from __future__ import annotations

from datetime import timedelta

from rooms.authorize import Action, Actor, Party, Role, RoleGrant, authorize, require
from rooms.meeting import Meeting, iso_utc
from rooms.moderation import Moderation

from .. import validate
from ..api import invite_links
from ..context import EventContext
from ..validate import BadRequest

KINDS = ("audio", "video")
MAX_INVITE_DAYS = 365


def _kind(data: dict) -> str:
    kind = data.get("kind", "audio")
    if kind not in KINDS:
        raise BadRequest("'kind' must be 'audio' or 'video'")
    return kind


def _moderation(ctx: EventContext) -> tuple[Meeting, Moderation]:
    ctx.require_joined()
    meeting = ctx.meeting()
    return meeting, Moderation(meeting)


async def _moderate(ctx: EventContext, action) -> dict:
    meeting, moderation = _moderation(ctx)
    result = action(moderation, ctx.participant)
    await ctx.apply(result)
    return {"changed": result.changed}


async def _moderate_one(ctx: EventContext, data: dict, action: str, decide) -> dict:
    """Mute or allow-unmute one participant, and tell that participant why, but only when
    something changed (muting the held-muted again, or allowing someone who is not held
    muted, says nothing new)."""
    target = validate.string(data, "participant_id", max_len=64, min_len=1)
    kind = _kind(data)
    reply = await _moderate(ctx, lambda m, actor: decide(m, actor, target, kind))
    target_p = ctx.meeting().get(target)
    if reply["changed"] and target_p is not None and target_p.connection:
        await ctx.emit("moderated", {"action": action, "kind": kind, "by": ctx.participant.name},
                       to=target_p.connection)
    return reply


async def on_mute(ctx: EventContext, data: dict) -> dict:
    return await _moderate_one(ctx, data, "mute", Moderation.mute)


async def on_mute_all(ctx: EventContext, data: dict) -> dict:
    kind = _kind(data)
    meeting, moderation = _moderation(ctx)
    result = moderation.mute_all(ctx.participant, kind)
    await ctx.apply(result)
    for participant in result.updated:
        if participant.connection:
            await ctx.emit("moderated", {"action": "mute", "kind": kind, "by": ctx.participant.name},
                           to=participant.connection)
    return {"changed": result.changed, "muted": [p.id for p in result.updated]}


async def on_allow_unmute(ctx: EventContext, data: dict) -> dict:
    return await _moderate_one(ctx, data, "allow_unmute", Moderation.allow_unmute)


async def on_request_unmute(ctx: EventContext, data: dict) -> dict:  # joined
    kind = _kind(data)
    meeting = ctx.meeting()
    meeting.request_unmute(ctx.participant.id, kind)
    asking = Party.of(ctx.participant)
    for participant in meeting.list():  # whoever may allow it
        if participant.connection and authorize(Actor.of(participant), Action.MUTE_OTHERS, asking):
            await ctx.emit("unmute_requested", {"participant_id": ctx.participant.id,
                                                "name": ctx.participant.name, "kind": kind},
                           to=participant.connection)
    return {}


async def on_set_allow_self_unmute(ctx: EventContext, data: dict) -> dict:
    allowed = validate.boolean(data, "allowed")
    return await _moderate(ctx, lambda m, actor: m.set_allow_self_unmute(actor, allowed))


async def on_remove(ctx: EventContext, data: dict) -> dict:
    target = validate.string(data, "participant_id", max_len=64, min_len=1)
    return await _moderate(ctx, lambda m, actor: m.remove(actor, target))


async def on_set_role(ctx: EventContext, data: dict) -> dict:
    target = validate.string(data, "participant_id", max_len=64, min_len=1)
    role = validate.string(data, "role", max_len=16, min_len=1)
    if role not in (Role.HOST, Role.STAFF, Role.PARTICIPANT):
        raise BadRequest("'role' must be host, staff or participant")
    return await _moderate(ctx, lambda m, actor: m.promote(actor, target, role))


async def on_lock(ctx: EventContext, data: dict) -> dict:
    locked = validate.boolean(data, "locked")
    return await _moderate(ctx, lambda m, actor: m.lock(actor, locked))


async def on_lobby_enable(ctx: EventContext, data: dict) -> dict:
    enabled = validate.boolean(data, "enabled")
    return await _moderate(ctx, lambda m, actor: m.set_lobby(actor, enabled))


async def on_lobby_admit(ctx: EventContext, data: dict) -> dict:
    entry = validate.string(data, "id", max_len=64, min_len=1)
    return await _moderate(ctx, lambda m, actor: m.admit(actor, entry))


async def on_lobby_deny(ctx: EventContext, data: dict) -> dict:
    entry = validate.string(data, "id", max_len=64, min_len=1)
    return await _moderate(ctx, lambda m, actor: m.deny(actor, entry))


async def on_end_meeting(ctx: EventContext, data: dict) -> dict:
    meeting, moderation = _moderation(ctx)
    result = moderation.end(ctx.participant)
    await ctx.apply(result)  # everyone is disconnected, the actor too, after its ack
    return {"changed": result.changed}


# ---- invites and the record (joined) ---------------------------------------------------------------

async def on_invite_create(ctx: EventContext, data: dict) -> dict:
    ctx.require(Action.CREATE_INVITES)
    role = validate.string(data, "role", max_len=16, min_len=1)
    if role not in (Role.HOST, Role.STAFF, Role.PARTICIPANT, Role.VIEWER):
        raise BadRequest("'role' must be host, staff, participant or viewer")
    require(Actor.of(ctx.participant), Action.CREATE_INVITES, RoleGrant(Role(role)),
            verb=f"invite another {role}")
    label = validate.string(data, "label", max_len=80, required=False) or None
    expires_in = None
    if data.get("expires_in_s") is not None:
        seconds = validate.integer(data, "expires_in_s", minimum=60, maximum=MAX_INVITE_DAYS * 86400)
        expires_in = timedelta(seconds=seconds)
    max_uses = None
    if data.get("max_uses") is not None:
        max_uses = validate.integer(data, "max_uses", minimum=1, maximum=10_000)
    invite, token = await ctx.hub.rooms.create_invite(ctx.room_id, role, label, expires_in,
                                                      max_uses=max_uses)
    await ctx.hub.timeline.record(ctx.room_id, "invite_create", actor=ctx.participant,
                                  details={"invite_id": invite.id, "role": role, "label": label})
    return {"invite": _invite_dict(invite),
            "link": invite_links(ctx.hub.config, ctx.room_id, {"link": token})["link"]}


async def on_invite_revoke(ctx: EventContext, data: dict) -> dict:
    ctx.require(Action.CREATE_INVITES)
    invite_id = validate.string(data, "invite_id", max_len=64, min_len=1)
    invite = await ctx.hub.rooms.get_invite(invite_id)
    if invite is None or invite.room_id != ctx.room_id:
        raise BadRequest("no such invite in this room")
    # As with creating one: nobody revokes an invite for a role above their own (staff could
    # otherwise lock the host out of the room).
    require(Actor.of(ctx.participant), Action.CREATE_INVITES, RoleGrant(Role(invite.role)),
            verb=f"revoke a {invite.role} invite")
    invite = await ctx.hub.rooms.revoke_invite(invite_id)
    await ctx.hub.timeline.record(ctx.room_id, "invite_revoke", actor=ctx.participant,
                                  details={"invite_id": invite_id})
    return {"invite": _invite_dict(invite)}


async def on_timeline(ctx: EventContext, data: dict) -> dict:
    ctx.require(Action.SEE_LOBBY)  # hosts and staff keep the record
    return {"events": await ctx.hub.timeline.list(ctx.room_id)}


def _invite_dict(invite) -> dict:
    def iso(value):
        return iso_utc(value) if value else None

    return {"id": invite.id, "role": str(invite.role), "label": invite.label,
            "expires_at": iso(invite.expires_at), "revoked_at": iso(invite.revoked_at),
            "max_uses": invite.max_uses}
