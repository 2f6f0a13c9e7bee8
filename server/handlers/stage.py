"""The shared stage, live panels and documents.

Per room the server keeps a ``rooms.stage.Stage`` (what everyone sees) and, while anyone is in the
meeting, a ``rooms.panels.PanelRunner`` polling every panel of the room; its updates go to the room
as ``panel_data``. Documents are uploaded over HTTP (``server.documents_api``) and announced here.

Besides the handlers, the room-level functions the namespace calls as people come and go
(``room_opened``, ``room_closed``, ``stage_snapshot``, ``participant_left_stage``) take the hub and
an ``emit``, not a request's context.
"""

from __future__ import annotations

import logging
from typing import Any

from rooms.authorize import Action
from rooms.panels.sources import PanelRunner
from rooms.panels.spec import PanelError, PanelSpec
from rooms.panels.urlpolicy import UrlPolicy
from rooms.repository import panel_spec_dict
from rooms.stage import Stage, StageError, StageState

from .. import validate
from ..context import Emit, EventContext
from ..hub import Hub
from ..panel_http import http_source_factory
from ..validate import BadRequest

log = logging.getLogger("sitroom.stage")

STAGE_KINDS = ("empty", "panel", "document", "participant")


def public_panel(row: dict) -> dict:
    return {key: row[key] for key in ("id", "title", "kind", "source", "options")}


# ---- per-room state ------------------------------------------------------------------------------

def stage_of(hub: Hub, room_id: str) -> Stage:
    stage = hub.stages.get(room_id)
    if stage is None:
        stage = hub.stages[room_id] = Stage(room_id)
    return stage


def panel_url_policy(hub: Hub) -> UrlPolicy:
    """Which URLs HTTP panels may fetch (``SITROOM_PANEL_URL_ALLOW``), parsed once."""
    if hub.panel_url_policy is None:
        hub.panel_url_policy = UrlPolicy.parse(hub.config.panel_url_entries)
    return hub.panel_url_policy


def _check_panel_url(hub: Hub, spec: PanelSpec) -> None:
    """Refuse (``bad_request``) an HTTP panel whose URL the allow-list does not permit."""
    if spec.source.get("type") == "http":
        panel_url_policy(hub).check_url(spec.source["url"])


async def room_opened(hub: Hub, emit: Emit, room_id: str) -> None:
    """The first participant arrived: start polling the room's panels."""
    if room_id in hub.panel_runners:
        return

    async def on_update(panel_id: str, data: Any, error: str | None) -> None:
        status = runner.latest(panel_id)
        await emit("panel_data", status.to_dict() if status else
                   {"panel_id": panel_id, "data": data, "error": error}, room=room_id)

    runner = PanelRunner(on_update, feed=hub.city_feed,
                         http_source=http_source_factory(panel_url_policy(hub)))
    hub.panel_runners[room_id] = runner
    for row in await hub.panels.list(room_id):
        try:
            await runner.start(PanelSpec.from_dict(panel_spec_dict(row)))
        except PanelError as exc:
            log.warning("panel %s of %s not started: %s", row["id"], room_id, exc.message)


async def room_closed(hub: Hub, room_id: str) -> None:
    """The last participant left: stop polling (the stage is kept for the next meeting)."""
    runner = hub.panel_runners.pop(room_id, None)
    if runner is not None:
        await runner.stop_all()


async def stage_snapshot(hub: Hub, room_id: str) -> dict:
    """What a joining client needs to land on the current stage."""
    runner = hub.panel_runners.get(room_id)
    panels = await hub.panels.list(room_id)
    panel_data = []
    if runner is not None:
        for row in panels:
            status = runner.latest(row["id"])
            if status is not None and (status.data is not None or status.error):
                panel_data.append(status.to_dict())
    return {
        "stage": stage_of(hub, room_id).to_dict(),
        "panels": [public_panel(p) for p in panels],
        "panel_data": panel_data,
        "documents": [hub.document_view(d) for d in await hub.documents.list(room_id)],
    }


async def broadcast_stage(hub: Hub, emit: Emit, room_id: str) -> None:
    await emit("stage", stage_of(hub, room_id).to_dict(), room=room_id)


async def broadcast_documents(hub: Hub, emit: Emit, room_id: str) -> None:
    documents = [hub.document_view(d) for d in await hub.documents.list(room_id)]
    await emit("documents", {"documents": documents}, room=room_id)


async def _broadcast_panels(hub: Hub, emit: Emit, room_id: str) -> None:
    panels = [public_panel(p) for p in await hub.panels.list(room_id)]
    await emit("panels", {"panels": panels}, room=room_id)


async def participant_left_stage(hub: Hub, emit: Emit, room_id: str | None, participant: Any,
                                 source: str | None = None) -> None:
    """Empty the stage if it shows ``participant`` (a LiveParticipant or an id), who left the
    meeting, or (``source`` given) stopped that share: tell the room and record it.

    Called on leaving (and for a stopped screen share, from the SFU's ``producer_removed``); it
    never raises, so leaving always completes.
    """
    try:
        stage = hub.stages.get(room_id) if room_id else None
        pid = participant if isinstance(participant, str) else getattr(participant, "id", None)
        if stage is None or not pid:
            return
        result = stage.participant_gone(pid, source, by=pid)
        if result is None:
            return
        _, entry = result
        if isinstance(participant, str):
            meeting = hub.meetings.get(room_id)
            live = meeting.get(pid) if meeting is not None else None
            participant = live if live is not None else {"id": pid, "name": None}
        # Recorded before it is announced: whoever sees the empty stage finds why in the record.
        await hub.timeline.record(room_id, entry.what, target=participant, details=entry.details)
        await broadcast_stage(hub, emit, room_id)
    except Exception:  # noqa: BLE001 - leaving must complete whatever happens here
        log.exception("clearing the stage of %s after %s left failed", room_id, participant)


# ---- changing the stage --------------------------------------------------------------------------

async def _record_stage(ctx: EventContext, entry) -> None:
    if not entry.ephemeral:
        await ctx.hub.timeline.record(ctx.room_id, entry.what, actor=ctx.participant,
                                      details=entry.details)


async def _stage_conflict(ctx: EventContext) -> StageError:
    """A change based on an old ``expected_version``: send this client the current stage first
    (so it has landed on it when it reads the refusal), and say who changed it."""
    stage = stage_of(ctx.hub, ctx.room_id)
    await ctx.emit("stage", stage.to_dict(), to=ctx.sid)
    by = stage.state.changed_by
    meeting = ctx.hub.meetings.get(ctx.room_id)
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
    await broadcast_stage(ctx.hub, ctx.emit, ctx.room_id)
    return state


async def _clear_stage_showing(ctx: EventContext, kind: str, item_id: str) -> None:
    """A panel or document was deleted: if the stage shows it, empty the stage for everyone
    (recorded like any other stage change, with the reason)."""
    stage = stage_of(ctx.hub, ctx.room_id)
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
    stage = stage_of(hub, room_id)
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
    stage = stage_of(ctx.hub, ctx.room_id)
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
    stage = stage_of(ctx.hub, ctx.room_id)
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
    _check_panel_url(hub, spec)
    row = await hub.panels.create(**spec.to_dict(), created_by=ctx.participant.id)
    runner = hub.panel_runners.get(room_id)
    if runner is not None:
        await runner.start(spec)
    await _broadcast_panels(hub, ctx.emit, room_id)
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
    _check_panel_url(hub, spec)
    row = await hub.panels.update(panel_id, room_id=room_id, title=spec.title, kind=spec.kind,
                                  source=spec.source, options=spec.options)
    runner = hub.panel_runners.get(room_id)
    if runner is not None:
        await runner.start(spec)
    await _broadcast_panels(hub, ctx.emit, room_id)
    await hub.timeline.record(room_id, "panel_update", actor=ctx.participant,
                              details={"panel_id": panel_id})
    return {"panel": public_panel(row)}


async def on_panel_delete(ctx: EventContext, data: dict) -> dict:
    ctx.require(Action.MANAGE_PANELS)
    hub, room_id = ctx.hub, ctx.room_id
    panel_id = validate.string(data, "id", max_len=64, min_len=1)
    if not await hub.panels.delete(panel_id, room_id=room_id):
        raise BadRequest("no such panel in this room")
    runner = hub.panel_runners.get(room_id)
    if runner is not None:
        await runner.stop(panel_id)
    await _broadcast_panels(hub, ctx.emit, room_id)
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
    await broadcast_documents(hub, ctx.emit, room_id)
    await hub.timeline.record(room_id, "document_delete", actor=ctx.participant,
                              details={"document_id": document_id})
    return {}
