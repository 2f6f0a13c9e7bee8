"""The shared stage, live panels and documents (a mixin of ``Signaling``).

Per room the server keeps a ``rooms.stage.Stage`` (what everyone sees) and, while anyone is in the
meeting, a ``rooms.panels.PanelRunner`` polling every panel of the room; its updates go to the room
as ``panel_data``. Documents are uploaded over HTTP (``server.documents_api``) and announced here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from rooms.authorize import Action
from rooms.panels.sources import PanelRunner
from rooms.panels.spec import PanelError, PanelSpec
from rooms.panels.urlpolicy import UrlPolicy
from rooms.repository import panel_spec_dict
from rooms.stage import Stage, StageError, StageState

from . import validate
from .panel_http import http_source_factory
from .validate import BadRequest

if TYPE_CHECKING:
    from .signaling import Session

log = logging.getLogger("sitroom.stage")

STAGE_KINDS = ("empty", "panel", "document", "participant")


def public_panel(row: dict) -> dict:
    return {key: row[key] for key in ("id", "title", "kind", "source", "options")}


class StageEvents:
    # ---- per-room state ------------------------------------------------------------------------

    def stage_of(self, room_id: str) -> Stage:
        stage = self.hub.stages.get(room_id)
        if stage is None:
            stage = self.hub.stages[room_id] = Stage(room_id)
        return stage

    def panel_url_policy(self) -> UrlPolicy:
        """Which URLs HTTP panels may fetch (``SITROOM_PANEL_URL_ALLOW``), parsed once."""
        policy = getattr(self, "_panel_url_policy", None)
        if policy is None:
            policy = self._panel_url_policy = UrlPolicy.parse(self.hub.config.panel_url_entries)
        return policy

    def _check_panel_url(self, spec: PanelSpec) -> None:
        """Refuse (``bad_request``) an HTTP panel whose URL the allow-list does not permit."""
        if spec.source.get("type") == "http":
            self.panel_url_policy().check_url(spec.source["url"])

    async def room_opened(self, room_id: str) -> None:
        """The first participant arrived: start polling the room's panels."""
        if room_id in self.hub.panel_runners:
            return

        async def on_update(panel_id: str, data: Any, error: str | None) -> None:
            status = runner.latest(panel_id)
            await self.emit("panel_data", status.to_dict() if status else
                            {"panel_id": panel_id, "data": data, "error": error}, room=room_id)

        runner = PanelRunner(on_update, feed=self.hub.city_feed,
                             http_source=http_source_factory(self.panel_url_policy()))
        self.hub.panel_runners[room_id] = runner
        for row in await self.hub.panels.list(room_id):
            try:
                await runner.start(PanelSpec.from_dict(panel_spec_dict(row)))
            except PanelError as exc:
                log.warning("panel %s of %s not started: %s", row["id"], room_id, exc.message)

    async def room_closed(self, room_id: str) -> None:
        """The last participant left: stop polling (the stage is kept for the next meeting)."""
        runner = self.hub.panel_runners.pop(room_id, None)
        if runner is not None:
            await runner.stop_all()

    async def stage_snapshot(self, room_id: str) -> dict:
        """What a joining client needs to land on the current stage."""
        runner = self.hub.panel_runners.get(room_id)
        panels = await self.hub.panels.list(room_id)
        panel_data = []
        if runner is not None:
            for row in panels:
                status = runner.latest(row["id"])
                if status is not None and (status.data is not None or status.error):
                    panel_data.append(status.to_dict())
        return {
            "stage": self.stage_of(room_id).to_dict(),
            "panels": [public_panel(p) for p in panels],
            "panel_data": panel_data,
            "documents": [self.hub.document_view(d) for d in await self.hub.documents.list(room_id)],
        }

    async def broadcast_stage(self, room_id: str) -> None:
        await self.emit("stage", self.stage_of(room_id).to_dict(), room=room_id)

    async def broadcast_documents(self, room_id: str) -> None:
        documents = [self.hub.document_view(d) for d in await self.hub.documents.list(room_id)]
        await self.emit("documents", {"documents": documents}, room=room_id)

    async def _broadcast_panels(self, room_id: str) -> None:
        panels = [public_panel(p) for p in await self.hub.panels.list(room_id)]
        await self.emit("panels", {"panels": panels}, room=room_id)

    async def _record_stage(self, room_id: str, session: Session, entry) -> None:
        if not entry.ephemeral:
            await self.hub.timeline.record(room_id, entry.what, actor=session.participant,
                                           details=entry.details)

    async def _clear_stage_showing(self, session: Session, kind: str, item_id: str) -> None:
        """A panel or document was deleted: if the stage shows it, empty the stage for everyone
        (recorded like any other stage change, with the reason)."""
        stage = self.stage_of(session.room_id)
        stage.forget(kind, item_id)
        shown = stage.state.panel_id if kind == "panel" else stage.state.document_id
        if stage.state.kind != kind or shown != item_id:
            return

        def change():
            state, entry = stage.clear(by=session.participant.id)
            entry.details["reason"] = f"{kind}_deleted"
            return state, entry

        await self._commit_stage(session, change)

    # ---- the stage -----------------------------------------------------------------------------

    async def _stage_conflict(self, session: Session) -> StageError:
        """A change based on an old ``expected_version``: send this client the current stage first
        (so it has landed on it when it reads the refusal), and say who changed it."""
        stage = self.stage_of(session.room_id)
        await self.emit("stage", stage.to_dict(), to=session.sid)
        by = stage.state.changed_by
        meeting = self.hub.meetings.get(session.room_id)
        who = meeting.get(by) if meeting is not None and by else None
        if by and by == session.participant.id:
            name = "You"
        elif who is not None:
            name = who.name
        else:
            name = "Someone"
        return StageError(f"{name} changed the stage meanwhile; your change was not made", code="conflict")

    async def _commit_stage(self, session: Session, change) -> StageState:
        """Run one stage change; record it in the timeline, then broadcast it (what clients were
        told is always on record), and return the state it made. A conflict becomes
        :meth:`_stage_conflict`."""
        try:
            state, entry = change()
        except StageError as exc:
            if exc.code == "conflict":
                raise await self._stage_conflict(session) from None
            raise
        await self._record_stage(session.room_id, session, entry)
        await self.broadcast_stage(session.room_id)
        return state

    async def on_stage_set(self, session: Session, data: dict) -> dict:
        self._require_joined(session)
        self._require(session, Action.MANAGE_STAGE)
        kind = data.get("kind")
        if kind not in STAGE_KINDS:
            raise BadRequest(f"'kind' must be one of {', '.join(STAGE_KINDS)}")
        expected = None
        if data.get("expected_version") is not None:
            expected = validate.integer(data, "expected_version", minimum=0)
        room_id, by = session.room_id, session.participant.id
        stage = self.stage_of(room_id)
        if kind == "panel":
            panel_id = validate.string(data, "panel_id", max_len=64, min_len=1)
            if await self.hub.panels.get(panel_id, room_id=room_id) is None:
                raise BadRequest("no such panel in this room")

            def change():
                return stage.set_panel(panel_id, by=by, expected_version=expected)
        elif kind == "document":
            document_id = validate.string(data, "document_id", max_len=64, min_len=1)
            page = validate.integer(data, "page", minimum=0, maximum=10_000) if "page" in data else 0
            document = await self.hub.documents.get(document_id, room_id=room_id)
            if document is None or document["status"] != "ready":
                raise BadRequest("no such document ready in this room")

            def change():
                return stage.set_document_page(document_id, page, by=by, page_count=document["page_count"],
                                               expected_version=expected)
        elif kind == "participant":
            participant_id = validate.string(data, "participant_id", max_len=64, min_len=1)
            source = data.get("source", "camera")
            meeting = self._meeting(session)
            if meeting.get(participant_id) is None:
                raise BadRequest("that participant is not in the meeting")

            def change():
                return stage.show_participant(participant_id, source, by=by, expected_version=expected)
        else:
            def change():
                return stage.clear(by=by, expected_version=expected)
        # The ack carries the state this change made (a later change may already be broadcast).
        state = await self._commit_stage(session, change)
        return {"stage": state.to_dict()}

    async def on_stage_pointer(self, session: Session, data: dict) -> dict:
        """Ephemeral: no version change, no ``stage`` broadcast, not stored (see ``Stage.move_pointer``)."""
        self._require_joined(session)
        self._require(session, Action.MANAGE_STAGE)
        x, y = data.get("x"), data.get("y")
        for value in (x, y):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise BadRequest("'x' and 'y' must be numbers from 0 to 1, or null")
        stage = self.stage_of(session.room_id)
        state, _ = stage.move_pointer(x, y, by=session.participant.id)
        pointer = state.pointer
        await self.emit("stage_pointer", {"x": pointer[0] if pointer else None,
                                          "y": pointer[1] if pointer else None,
                                          "by": session.participant.id},
                        room=session.room_id, skip_sid=session.sid)
        return {}

    async def on_stage_follow_lock(self, session: Session, data: dict) -> dict:
        self._require_joined(session)
        self._require(session, Action.MANAGE_STAGE)
        locked = validate.boolean(data, "locked")
        expected = None
        if data.get("expected_version") is not None:
            expected = validate.integer(data, "expected_version", minimum=0)
        stage = self.stage_of(session.room_id)
        state = await self._commit_stage(
            session, lambda: stage.lock_follow(locked, by=session.participant.id, expected_version=expected))
        return {"stage": state.to_dict()}

    async def participant_left_stage(self, room_id: str | None, participant: Any, source: str | None = None) -> None:
        """Empty the stage if it shows ``participant`` (a LiveParticipant or an id), who left the
        meeting, or (``source`` given) stopped that share: tell the room and record it.

        Called from ``leave`` (and for a stopped screen share, from the SFU's ``producer_removed``);
        it never raises, so leaving always completes.
        """
        try:
            stage = self.hub.stages.get(room_id) if room_id else None
            pid = participant if isinstance(participant, str) else getattr(participant, "id", None)
            if stage is None or not pid:
                return
            result = stage.participant_gone(pid, source, by=pid)
            if result is None:
                return
            _, entry = result
            if isinstance(participant, str):
                meeting = self.hub.meetings.get(room_id)
                live = meeting.get(pid) if meeting is not None else None
                participant = live if live is not None else {"id": pid, "name": None}
            # Recorded before it is announced: whoever sees the empty stage finds why in the record.
            await self.hub.timeline.record(room_id, entry.what, target=participant, details=entry.details)
            await self.broadcast_stage(room_id)
        except Exception:  # noqa: BLE001 - leaving must complete whatever happens here
            log.exception("clearing the stage of %s after %s left failed", room_id, participant)

    # ---- panels --------------------------------------------------------------------------------

    async def on_panel_create(self, session: Session, data: dict) -> dict:
        self._require_joined(session)
        self._require(session, Action.MANAGE_PANELS)
        room_id = session.room_id
        existing = await self.hub.panels.list(room_id)
        if len(existing) >= self.hub.config.max_panels_per_room:
            raise BadRequest(f"a room has at most {self.hub.config.max_panels_per_room} panels")
        spec = PanelSpec.new(room_id, data.get("title"), data.get("kind"), data.get("source"),
                             data.get("options"))
        self._check_panel_url(spec)
        row = await self.hub.panels.create(**spec.to_dict(), created_by=session.participant.id)
        runner = self.hub.panel_runners.get(room_id)
        if runner is not None:
            await runner.start(spec)
        await self._broadcast_panels(room_id)
        await self.hub.timeline.record(room_id, "panel_create", actor=session.participant,
                                       details={"panel_id": spec.id, "title": spec.title})
        return {"panel": public_panel(row)}

    async def on_panel_update(self, session: Session, data: dict) -> dict:
        self._require_joined(session)
        self._require(session, Action.MANAGE_PANELS)
        room_id = session.room_id
        panel_id = validate.string(data, "id", max_len=64, min_len=1)
        row = await self.hub.panels.get(panel_id, room_id=room_id)
        if row is None:
            raise BadRequest("no such panel in this room")
        merged = panel_spec_dict(row)
        for key in ("title", "kind", "source", "options"):
            if key in data:
                merged[key] = data[key]
        spec = PanelSpec.from_dict(merged)  # validates the whole panel
        self._check_panel_url(spec)
        row = await self.hub.panels.update(panel_id, room_id=room_id, title=spec.title, kind=spec.kind,
                                           source=spec.source, options=spec.options)
        runner = self.hub.panel_runners.get(room_id)
        if runner is not None:
            await runner.start(spec)
        await self._broadcast_panels(room_id)
        await self.hub.timeline.record(room_id, "panel_update", actor=session.participant,
                                       details={"panel_id": panel_id})
        return {"panel": public_panel(row)}

    async def on_panel_delete(self, session: Session, data: dict) -> dict:
        self._require_joined(session)
        self._require(session, Action.MANAGE_PANELS)
        room_id = session.room_id
        panel_id = validate.string(data, "id", max_len=64, min_len=1)
        if not await self.hub.panels.delete(panel_id, room_id=room_id):
            raise BadRequest("no such panel in this room")
        runner = self.hub.panel_runners.get(room_id)
        if runner is not None:
            await runner.stop(panel_id)
        await self._broadcast_panels(room_id)
        await self._clear_stage_showing(session, "panel", panel_id)
        await self.hub.timeline.record(room_id, "panel_delete", actor=session.participant,
                                       details={"panel_id": panel_id})
        return {}

    # ---- documents -----------------------------------------------------------------------------

    async def on_document_delete(self, session: Session, data: dict) -> dict:
        self._require_joined(session)
        self._require(session, Action.MANAGE_DOCUMENTS)
        room_id = session.room_id
        document_id = validate.string(data, "id", max_len=64, min_len=1)
        row = await self.hub.documents.delete(document_id, room_id=room_id)
        if row is None:
            raise BadRequest("no such document in this room")
        self.hub.remove_document_files(row)
        await self._clear_stage_showing(session, "document", document_id)
        await self.broadcast_documents(room_id)
        await self.hub.timeline.record(room_id, "document_delete", actor=session.participant,
                                       details={"document_id": document_id})
        return {}
