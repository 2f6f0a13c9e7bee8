"""Recording the meeting (media/recorder.py): hosts and staff (``Action.RECORD``) start and stop
it; everyone in the room is told by the ``recording`` event ``{"active", "by"}``, and a joining
client by its join answer's ``recording`` field."""

from __future__ import annotations

from rooms.authorize import Action

from ..context import EventContext


async def on_recording_start(ctx: EventContext, data: dict) -> dict:  # joined
    ctx.require(Action.RECORD)
    recording_id = await ctx.room.start_recording(ctx.participant)
    return {"recording": {"id": recording_id, "active": True}}


async def on_recording_stop(ctx: EventContext, data: dict) -> dict:  # joined
    ctx.require(Action.RECORD)
    room = ctx.room
    running = room.recording
    result = await room.stop_recording(ctx.participant)
    if running is None:
        return {"changed": False}
    files = [t["file"] for t in (result or {}).get("tracks", []) if t.get("file")]
    return {"changed": True, "recording": {"id": running["id"], "active": False, "files": files,
                                           "complete": result is not None}}
