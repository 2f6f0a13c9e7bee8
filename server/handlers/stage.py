"""The shared stage, live panels and documents.

The room's ``rooms.stage.Stage`` (what everyone sees) and, while anyone is in the meeting, its
``rooms.panels.PanelRunner`` (polling every panel of the room; its updates go to the room as
``panel_data``) belong to the room's ``LiveRoom`` (``server.live_room``), as do the snapshot a joining
client gets and the broadcasts. Documents are uploaded over HTTP (``server.documents_api``) and
announced here.
"""

from __future__ import annotations

from rooms.authorize import Action
from rooms.panels.spec import PanelSpec
from rooms.repository import panel_spec_dict
from rooms.stage import StageError, StageState

from .. import validate
from ..context import EventContext
from ..live_room import public_panel
from ..validate import BadRequest

STAGE_KINDS = ("empty", "panel", "document", "participant")


def _check_panel_url(ctx: EventContext, spec: PanelSpec) -> None:
    """Refuse (``bad_request``) an HTTP panel whose URL the allow-list does not permit."""
    if spec.source.get("type") == "http":
        ctx.room.panel_url_policy().check_url(spec.source["url"])


# ---- changing the stage --------------------------------------------------------------------------

async def _record_stage(ctx: EventContext, entry) -> None:
    if not entry.ephemeral:
        await ctx.hub.timeline.record(ctx.room_id, entry.what, actor=ctx.participant,
                                      details=entry.details)


async def _stage_conflict(ctx: EventContext) -> StageError:
    """A change based on an old ``expected_version``: send this client the current stage first
    (so it has landed on it when it reads the refusal), and say who changed it."""
    stage = ctx.room.stage
    await ctx.emit("stage", stage.to_dict(), to=ctx.sid)
    by = stage.state.changed_by
    meeting = ctx.room.meeting
    who = meeting.get(by) if meeting is not None and by else None
    if by and by == ctx.participant.id:
        name = "You"
    elif who is not None:
        name = who.name
    else:
        name = "Someone"
    return StageError(f"{name} changed the stage meanwhile; your change was not made", code="conflict")


async def _commit_stage(ctx: EventContext, change) -> StageState:
    """Run one stage change; record it in the timeline, then broadcast it (what clients were
    told is always on record), and return the state it made. A conflict becomes
    :func:`_stage_conflict`."""
    try:
        state, entry = change()
    except StageError as exc:
        if exc.code == "conflict":
            raise await _stage_conflict(ctx) from None
        raise
    await _record_stage(ctx, entry)
    await ctx.room.broadcast_stage()
    return state


async def _clear_stage_showing(ctx: EventContext, kind: str, item_id: str) -> None:
    """A panel or document was deleted: if the stage shows it, empty the stage for everyone
    (recorded like any other stage change, with the reason)."""
    stage = ctx.room.stage
    stage.forget(kind, item_id)
    shown = stage.state.panel_id if kind == "panel" else stage.state.document_id
    if stage.state.kind != kind or shown != item_id:
        return

    def change():
        state, entry = stage.clear(by=ctx.participant.id)
        entry.details["reason"] = f"{kind}_deleted"
        return state, entry

    await _commit_stage(ctx, change)


# ---- the stage (joined) --------------------------------------------------------------------------

async def on_stage_set(ctx: EventContext, data: dict) -> dict:
    ctx.require(Action.MANAGE_STAGE)
    kind = data.get("kind")
    if kind not in STAGE_KINDS:
        raise BadRequest(f"'kind' must be one of {', '.join(STAGE_KINDS)}")
    expected = None
    if data.get("expected_version") is not None:
        expected = validate.integer(data, "expected_version", minimum=0)
    hub, room_id, by = ctx.hub, ctx.room_id, ctx.participant.id
    stage = ctx.room.stage
    if kind == "panel":
        panel_id = validate.string(data, "panel_id", max_len=64, min_len=1)
        if await hub.panels.get(panel_id, room_id=room_id) is None:
            raise BadRequest("no such panel in this room")

        def change():
            return stage.set_panel(panel_id, by=by, expected_version=expected)
    elif kind == "document":
        document_id = validate.string(data, "document_id", max_len=64, min_len=1)
        page = validate.integer(data, "page", minimum=0, maximum=10_000) if "page" in data else 0
        document = await hub.documents.get(document_id, room_id=room_id)
        if document is None or document["status"] != "ready":
            raise BadRequest("no such document ready in this room")

        def change():
            return stage.set_document_page(document_id, page, by=by, page_count=document["page_count"],
                                           expected_version=expected)
    elif kind == "participant":
        participant_id = validate.string(data, "participant_id", max_len=64, min_len=1)
        source = data.get("source", "camera")
        meeting = ctx.meeting()
        if meeting.get(participant_id) is None:
            raise BadRequest("that participant is not in the meeting")

        def change():
            return stage.show_participant(participant_id, source, by=by, expected_version=expected)
    else:
        def change():
            return stage.clear(by=by, expected_version=expected)
    # The ack carries the state this change made (a later change may already be broadcast).
    state = await _commit_stage(ctx, change)
    return {"stage": state.to_dict()}


async def on_stage_pointer(ctx: EventContext, data: dict) -> dict:
    """Ephemeral: no version change, no ``stage`` broadcast, not stored (see ``Stage.move_pointer``)."""
    ctx.require(Action.MANAGE_STAGE)
    x, y = data.get("x"), data.get("y")
    for value in (x, y):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise BadRequest("'x' and 'y' must be numbers from 0 to 1, or null")
    stage = ctx.room.stage
    state, _ = stage.move_pointer(x, y, by=ctx.participant.id)
    pointer = state.pointer
    await ctx.emit("stage_pointer", {"x": pointer[0] if pointer else None,
                                     "y": pointer[1] if pointer else None,
                                     "by": ctx.participant.id},
                   room=ctx.room_id, skip_sid=ctx.sid)
    return {}


async def on_stage_follow_lock(ctx: EventContext, data: dict) -> dict:
    ctx.require(Action.MANAGE_STAGE)
    locked = validate.boolean(data, "locked")
    expected = None
    if data.get("expected_version") is not None:
        expected = validate.integer(data, "expected_version", minimum=0)
    stage = ctx.room.stage
    state = await _commit_stage(
        ctx, lambda: stage.lock_follow(locked, by=ctx.participant.id, expected_version=expected))
    return {"stage": state.to_dict()}


# ---- panels (joined) -----------------------------------------------------------------------------

async def on_panel_create(ctx: EventContext, data: dict) -> dict:
    ctx.require(Action.MANAGE_PANELS)
    hub, room_id = ctx.hub, ctx.room_id
    existing = await hub.panels.list(room_id)
    if len(existing) >= hub.config.max_panels_per_room:
        raise BadRequest(f"a room has at most {hub.config.max_panels_per_room} panels")
    spec = PanelSpec.new(room_id, data.get("title"), data.get("kind"), data.get("source"),
                         data.get("options"))
    _check_panel_url(ctx, spec)
    row = await hub.panels.create(**spec.to_dict(), created_by=ctx.participant.id)
    runner = ctx.room.panels
    if runner is not None:
        await runner.start(spec)
    await ctx.room.broadcast_panels()
    await hub.timeline.record(room_id, "panel_create", actor=ctx.participant,
                              details={"panel_id": spec.id, "title": spec.title})
    return {"panel": public_panel(row)}


async def on_panel_update(ctx: EventContext, data: dict) -> dict:
    ctx.require(Action.MANAGE_PANELS)
    hub, room_id = ctx.hub, ctx.room_id
    panel_id = validate.string(data, "id", max_len=64, min_len=1)
    row = await hub.panels.get(panel_id, room_id=room_id)
    if row is None:
        raise BadRequest("no such panel in this room")
    merged = panel_spec_dict(row)
    for key in ("title", "kind", "source", "options"):
        if key in data:
            merged[key] = data[key]
    spec = PanelSpec.from_dict(merged)  # validates the whole panel
    _check_panel_url(ctx, spec)
    row = await hub.panels.update(panel_id, room_id=room_id, title=spec.title, kind=spec.kind,
                                  source=spec.source, options=spec.options)
    runner = ctx.room.panels
    if runner is not None:
        await runner.start(spec)
    await ctx.room.broadcast_panels()
    await hub.timeline.record(room_id, "panel_update", actor=ctx.participant,
                              details={"panel_id": panel_id})
    return {"panel": public_panel(row)}


async def on_panel_delete(ctx: EventContext, data: dict) -> dict:
    ctx.require(Action.MANAGE_PANELS)
    hub, room_id = ctx.hub, ctx.room_id
    panel_id = validate.string(data, "id", max_len=64, min_len=1)
    if not await hub.panels.delete(panel_id, room_id=room_id):
        raise BadRequest("no such panel in this room")
    runner = ctx.room.panels
    if runner is not None:
        await runner.stop(panel_id)
    await ctx.room.broadcast_panels()
    await _clear_stage_showing(ctx, "panel", panel_id)
    await hub.timeline.record(room_id, "panel_delete", actor=ctx.participant,
                              details={"panel_id": panel_id})
    return {}


# ---- documents (joined) --------------------------------------------------------------------------

async def on_document_delete(ctx: EventContext, data: dict) -> dict:
    ctx.require(Action.MANAGE_DOCUMENTS)
    hub, room_id = ctx.hub, ctx.room_id
    document_id = validate.string(data, "id", max_len=64, min_len=1)
    row = await hub.documents.delete(document_id, room_id=room_id)
    if row is None:
        raise BadRequest("no such document in this room")
    hub.remove_document_files(row)
    await _clear_stage_showing(ctx, "document", document_id)
    await ctx.room.broadcast_documents()
    await hub.timeline.record(room_id, "document_delete", actor=ctx.participant,
                              details={"document_id": document_id})
    return {}
