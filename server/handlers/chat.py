"""Chat, raised hands and reactions."""

from __future__ import annotations

from rooms.authorize import Action
from rooms.moderation import Moderation

from .. import validate
from ..context import EventContext
from ..validate import BadRequest

REACTIONS = frozenset({"👍", "👏", "❤️", "😂", "😮", "🎉", "🙏", "👎"})


async def on_chat_send(ctx: EventContext, data: dict) -> dict:
    text = validate.string(data, "text", max_len=2000, min_len=1)
    ctx.require(Action.CHAT)
    ctx.take_chat_token("you are sending messages too fast")
    message = await ctx.hub.chat.post(ctx.room_id, ctx.participant, text)
    await ctx.emit("chat_message", message, room=ctx.room_id)
    return {"message": message}


async def on_hand(ctx: EventContext, data: dict) -> dict:
    raised = validate.boolean(data, "raised")
    target = validate.string(data, "participant_id", max_len=64, required=False) or None
    meeting = ctx.meeting()
    moderation = Moderation(meeting)
    if raised:
        result = moderation.raise_hand(ctx.participant)
    else:
        result = moderation.lower_hand(ctx.participant, target)
    await ctx.apply(result)
    return {"queue": meeting.hands()}


async def on_react(ctx: EventContext, data: dict) -> dict:
    emoji = validate.string(data, "emoji", max_len=8, min_len=1)
    if emoji not in REACTIONS:
        raise BadRequest(f"'emoji' must be one of {' '.join(sorted(REACTIONS))}")
    ctx.require(Action.REACT)
    ctx.take_chat_token("you are reacting too fast")
    event = {"participant_id": ctx.participant.id, "name": ctx.participant.name, "emoji": emoji}
    await ctx.emit("reaction", event, room=ctx.room_id)
    return {}
