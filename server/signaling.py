"""The Socket.IO namespace: connections, joining and leaving, and the one dispatch of every request
in docs/protocol.md.

``Signaling.trigger_event`` is where each event arrives: it rate-limits the connection, looks the
event up (``join`` and ``leave`` here, everything else in ``server.handlers.HANDLERS``), validates
that the payload is a JSON object, checks that the connection has joined if the handler needs it,
builds an ``EventContext`` (``server.context``) and calls the handler. Every failure is answered the
same way: an ack ``{"ok": false, "error": {...}}`` plus an ``error`` event, and nothing changes on
the server. Permissions are decided by ``rooms.authorize``, never here.

The namespace also owns what touches connections other than the sender's: admitting from the lobby,
``apply`` (the network half of a moderation result) and closing connections.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

import socketio

import media
from rooms.authorize import Action, Actor, Role, authorize
from rooms.documents import DocumentError
from rooms.errors import DomainError
from rooms.meeting import LiveParticipant, LobbyEntry, Meeting, normalize_device_id
from rooms.moderation import ModerationResult, persist
from rooms.stage import Stage

from . import validate
from .context import Admission, EventContext, Session
from .errors import RequestError
from .handlers import HANDLERS, Handler
from .handlers import stage as stage_handlers
from .handlers.media import KIND_SOURCES, offer_sender, sfu_event_sender
from .hub import Hub
from .validate import BadRequest

__all__ = ["Admission", "Session", "Signaling"]

log = logging.getLogger("sitroom.signaling")


class Signaling(socketio.AsyncNamespace):
    # The requests this namespace handles itself (they make and unmake participants); every other
    # one is in ``server.handlers.HANDLERS``.
    OWN_EVENTS = ("join", "leave")

    def __init__(self, hub: Hub, namespace: str = "/"):
        super().__init__(namespace)
        self.hub = hub
        self.sessions: dict[str, Session] = {}
        self.handlers: dict[str, Handler] = {
            **HANDLERS,
            "join": Handler(self.on_join, joined=False),
            "leave": Handler(self.on_leave, joined=False),
        }

    # ---- dispatch ---------------------------------------------------------------------------

    async def trigger_event(self, event: str, *args: Any) -> Any:
        # A client may send events named "connect" or "disconnect"; only python-socketio's own
        # life-cycle calls (a new sid; a sid already being disconnected) are treated as such.
        if event == "connect" and args[0] not in self.sessions:
            self.sessions[args[0]] = Session(args[0])
            return True
        if event == "disconnect" and not self.server.manager.is_connected(args[0], self.namespace):
            await self._drop(args[0])
            return None
        sid = args[0]
        data = args[1] if len(args) > 1 else None
        session = self.sessions.get(sid)
        handler = self.handlers.get(event) if isinstance(event, str) else None
        try:
            if session is None:
                raise RequestError("not_joined", "connection is not open")
            if not session.bucket.take():
                raise RequestError("rate_limited", "too many requests; slow down")
            if handler is None:
                raise RequestError("unknown_event", f"unknown event {str(event)[:64]!r}")
            payload = validate.payload(data)
            ctx = self._context(session)
            if handler.joined:
                ctx.require_joined()
            result = await handler.fn(ctx, payload)
            return {"ok": True, **(result or {})}
        except (RequestError, BadRequest, DomainError, DocumentError) as exc:
            return await self._refuse(sid, event, exc.code, exc.message)
        except media.SdpError as exc:
            return await self._refuse(sid, event, "bad_sdp", str(exc) or "bad SDP")
        except media.StaleRevision as exc:
            return await self._refuse(sid, event, "stale_revision", str(exc) or "stale revision")
        except Exception:  # noqa: BLE001 - one client's fault must not reach the others
            log.exception("event %r from %s failed", event, sid)
            return await self._refuse(sid, event, "internal", "internal error; nothing was changed")

    def _context(self, session: Session) -> EventContext:
        return EventContext(session=session, hub=self.hub, emit=self.emit, apply=self.apply)

    async def _refuse(self, sid: str, event: Any, code: str, message: str) -> dict:
        error = {"code": code, "message": message}
        log.info("refused %r from %s: %s (%s)", str(event)[:64], sid, code, message)
        try:
            await self.emit("error", {**error, "event": str(event)[:64]}, to=sid)
        except Exception:  # noqa: BLE001
            pass
        return {"ok": False, "error": error}

    # ---- joining ----------------------------------------------------------------------------

    async def on_join(self, ctx: EventContext, data: dict) -> dict:
        session = ctx.session
        token = validate.string(data, "token", max_len=2048, min_len=1)
        name = validate.string(data, "name", max_len=64, min_len=1)
        organisation = validate.string(data, "organisation", max_len=80, required=False)
        device_id = normalize_device_id(data.get("device_id") or None)
        resume_key = validate.string(data, "resume_key", max_len=256, required=False) or None
        async with session.lock:
            if session.participant is not None or session.lobby is not None:
                raise RequestError("already_joined", "this connection has already joined")
            # A key that does not verify is ignored: the client joins afresh, with the invite's role.
            earlier_id = self.hub.rooms.resume_participant_id(resume_key) if resume_key else None
            if earlier_id is not None:
                await self._take_over(session, earlier_id, self.hub.rooms.peek_token(token))
            claims = await self.hub.rooms.verify_token(token)
            room = await self.hub.rooms.get_room(claims.room_id)
            role, returning_id = str(claims.role), None
            if earlier_id is not None:
                earlier = await self.hub.rooms.resumable(earlier_id, room_id=room.id,
                                                         invite_id=claims.invite_id)
                if earlier is not None:
                    role, returning_id = str(earlier.role), earlier.id
            admission = Admission(
                room_id=room.id, title=room.title, role=role, invite_id=claims.invite_id,
                personal_invite=claims.personal,
                name=name, organisation=organisation, device_id=device_id, returning_id=returning_id,
            )
            meeting = self.hub.meetings.get_or_create_for(room)
            decision = meeting.admission(admission.role, invite_id=admission.invite_id,
                                         device_id=admission.device_id, returning=admission.returning)
            if decision == "lobby":
                return await self._wait_in_lobby(session, meeting, admission)
            result = await self._admit(session, meeting, admission)
            asyncio.get_running_loop().call_soon(session.acked.set)
            return result

    async def _take_over(self, session: Session, participant_id: str,
                         room_invite: tuple[str, str] | None) -> None:
        """A client comes back (a verified resume key, with the same invite to the same room) while
        its old connection is still open here, because the server has not noticed the drop yet:
        close the old one first, so that the same person is not in the meeting twice (and a
        personal invite is free again for the check that follows)."""
        if room_invite is None:
            return
        for other in list(self.sessions.values()):
            old = other.participant
            if (other is not session and old is not None and old.id == participant_id
                    and (other.room_id, old.invite_id) == room_invite):
                log.info("%s comes back on %s; closing its old connection %s", participant_id,
                         session.sid, other.sid)
                await self._drop(other.sid)
                asyncio.ensure_future(self.disconnect(other.sid))

    async def _wait_in_lobby(self, session: Session, meeting: Meeting, admission: Admission) -> dict:
        entry = LobbyEntry.new(admission.name, admission.organisation, admission.role, connection=session.sid,
                               invite_id=admission.invite_id, personal_invite=admission.personal_invite,
                               device_id=admission.device_id)
        meeting.enter_lobby(entry)
        session.lobby, session.admission, session.room_id = entry, admission, meeting.room_id
        await self._send_lobby(meeting)
        log.info("%s waits in the lobby of %s", entry.id, meeting.room_id)
        return {"lobby": {"id": entry.id, "position": len(meeting.lobby())},
                "room": meeting.room_dict()}

    async def _admit(self, session: Session, meeting: Meeting, admission: Admission) -> dict:
        """Make the connection a participant and answer with what a joined client needs."""
        row = None
        if admission.returning_id is not None and meeting.get(admission.returning_id) is None:
            row = await self.hub.rooms.record_return(admission.returning_id, admission.name,
                                                     admission.organisation)
        if row is None:  # a first join, or the earlier participant is somehow still here
            admission.returning_id = None
            row = await self.hub.rooms.record_join(
                admission.room_id, admission.invite_id, admission.name, admission.organisation, admission.role
            )
        participant = LiveParticipant(
            id=row.id, name=row.name, organisation=row.organisation or "", role=admission.role,
            joined_at=row.joined_at, connection=session.sid, invite_id=admission.invite_id,
            personal_invite=admission.personal_invite, device_id=admission.device_id,
        )
        others = [p.to_dict() for p in meeting.list()]
        meeting.add(participant)
        # idempotent: starts the room's panels once
        await stage_handlers.room_opened(self.hub, self.emit, meeting.room_id)
        session.room_id, session.participant, session.lobby = meeting.room_id, participant, None
        await self.enter_room(session.sid, meeting.room_id)
        router = self.hub.sfu.router(meeting.room_id,
                                     on_event=sfu_event_sender(self.hub, self.emit, meeting.room_id))
        session.peer = await router.add_peer(participant.id,
                                             on_subscribe_offer=offer_sender(session, self.emit))
        if participant.visible:
            await self.emit("participant_joined", participant.to_dict(), room=meeting.room_id,
                            skip_sid=session.sid)
        await self.hub.timeline.record(meeting.room_id, "join", actor=participant,
                                       details={"resumed": True} if admission.returning else None)
        log.info("%s joined room %s as %s%s", participant.id, meeting.room_id, participant.role,
                 " (coming back)" if admission.returning else "")
        answer = {
            "self": participant.to_dict(),
            "room": meeting.room_dict(),
            "meeting": meeting.meeting_dict(),
            "participants": others,
            "ice_servers": self.hub.config.ice_servers,
            "settings": meeting.settings(),
            "hands": meeting.hands(),
            "chat": await self.hub.chat.history(meeting.room_id),
            "session_key": session.key,
            "resume_key": self.hub.rooms.resume_key(participant.id),
            "resumed": admission.returning,
            # Held muted by a host before leaving (same participant or device): join muted, and
            # only a host or staff member (or the meeting's allow_self_unmute) lifts it.
            "held": meeting.held_kinds(participant),
            **(await stage_handlers.stage_snapshot(self.hub, meeting.room_id)),
        }
        if authorize(Actor.of(participant), Action.SEE_LOBBY):
            answer["lobby"] = [e.to_dict() for e in meeting.lobby()]
        return answer

    async def _send_lobby(self, meeting: Meeting) -> None:
        """Tell every host and staff member who is waiting."""
        entries = [e.to_dict() for e in meeting.lobby()]
        for participant in meeting.list():
            if participant.connection and authorize(Actor.of(participant), Action.SEE_LOBBY):
                await self.emit("lobby", {"entries": entries}, to=participant.connection)

    # ---- leaving ----------------------------------------------------------------------------

    async def on_leave(self, ctx: EventContext, data: dict) -> dict:
        session = ctx.session
        if session.participant is None and session.lobby is None:
            raise RequestError("not_joined", "join the meeting first")
        await self._leave(session)
        return {}

    async def _leave(self, session: Session, *, timeline: bool = True) -> None:
        room_id = session.room_id
        meeting = self.hub.meetings.get(room_id) if room_id else None
        if session.lobby is not None:
            entry, session.lobby, session.admission, session.room_id = session.lobby, None, None, None
            if meeting is not None and meeting.leave_lobby(entry.id) is not None:
                await self._send_lobby(meeting)
                self.hub.meetings.drop_if_empty(room_id)
            return
        participant, peer = session.participant, session.peer
        if participant is None:
            return
        session.participant = session.peer = session.room_id = None
        if meeting is not None:
            was_hand = participant.hand_raised
            meeting.remove(participant.id)
            await stage_handlers.participant_left_stage(self.hub, self.emit, room_id, participant)
            if was_hand:
                await self.emit("hands", {"queue": meeting.hands()}, room=room_id)
            if not meeting.list(include_viewers=True):
                await stage_handlers.room_closed(self.hub, room_id)
            self.hub.meetings.drop_if_empty(room_id)
        try:
            if peer is not None:
                await self.hub.sfu.router(room_id).remove_peer(participant.id)
        finally:
            if participant.visible:
                await self.emit("participant_left", {"id": participant.id}, room=room_id,
                                skip_sid=session.sid)
            await self.leave_room(session.sid, room_id)
            await self.hub.rooms.record_leave(participant.id)
            if timeline:
                await self.hub.timeline.record(room_id, "leave", actor=participant)
            log.info("%s left room %s", participant.id, room_id)

    async def _drop(self, sid: str) -> None:
        session = self.sessions.pop(sid, None)
        if session is not None:
            async with session.lock:
                try:
                    await self._leave(session)
                except Exception:  # noqa: BLE001
                    log.exception("cleanup of %s failed", sid)

    async def close(self) -> None:
        for sid in list(self.sessions):
            await self._drop(sid)

    # ---- for the HTTP side (server.app, server.documents_api) ---------------------------------

    def session_by_key(self, key: str) -> Session | None:
        """The joined session an HTTP request speaks for (``Authorization: Bearer <session_key>``)."""
        for session in self.sessions.values():
            if session.participant is not None and secrets.compare_digest(session.key, key):
                return session
        return None

    def stage_of(self, room_id: str) -> Stage:
        return stage_handlers.stage_of(self.hub, room_id)

    async def broadcast_documents(self, room_id: str) -> None:
        await stage_handlers.broadcast_documents(self.hub, self.emit, room_id)

    # ---- moderation results -----------------------------------------------------------------

    async def apply(self, meeting: Meeting, result: ModerationResult) -> None:
        """Carry out the network half of a moderation result, then persist it."""
        room_id = meeting.room_id
        for participant in result.updated:
            session = self.sessions.get(participant.connection) if participant.connection else None
            if session is not None and session.peer is not None:
                for kind in ("audio", "video"):
                    if participant.force_muted(kind):
                        for source in KIND_SOURCES[kind]:
                            session.peer.set_paused(source, True)
            if (participant is result.target and participant.visible
                    and result.details.get("from") == Role.VIEWER.value):
                # A viewer was nobody to the others; promoted, it joins their meeting now.
                await self.emit("participant_joined", participant.to_dict(), room=room_id,
                                skip_sid=participant.connection)
                if session is not None:
                    await self.emit("participant_updated", participant.to_dict(), to=session.sid)
            elif participant.visible:
                await self.emit("participant_updated", participant.to_dict(), room=room_id)
            elif session is not None:
                await self.emit("participant_updated", participant.to_dict(), to=session.sid)
        if result.kind in ("raise_hand", "lower_hand") and result.changed:
            await self.emit("hands", {"queue": meeting.hands()}, room=room_id)
        if result.settings is not None and result.changed:
            await self.emit("meeting_settings", result.settings, room=room_id)
        for entry in result.admitted:
            waiting = self.sessions.get(entry.connection) if entry.connection else None
            if waiting is not None and waiting.admission is not None:
                asyncio.ensure_future(self._complete_admission(waiting, meeting))
        for entry in result.denied:
            if entry.connection:
                await self.emit("lobby_denied", {"reason": "ended" if meeting.ended else "denied"},
                                to=entry.connection)
                waiting = self.sessions.get(entry.connection)
                if waiting is not None:
                    waiting.lobby = waiting.admission = waiting.room_id = None
        if result.admitted or result.denied:
            await self._send_lobby(meeting)
        if result.kind == "end" and result.changed:
            await self.emit("meeting_ended", {"by": result.actor.name}, room=room_id)
        for participant in result.disconnect:
            if participant.connection and result.kind == "remove":
                await self.emit("removed", {"by": result.actor.name}, to=participant.connection)
        await persist(result, room_id, self.hub.rooms, self.hub.timeline)
        # Connections close last: the actor may be among them (ending the meeting), and its ack
        # must go out first; ``_kick`` gives it a moment.
        for participant in result.disconnect:
            if participant.connection:
                asyncio.ensure_future(self._kick(participant.connection))

    async def _complete_admission(self, session: Session, meeting: Meeting) -> None:
        async with session.lock:
            admission = session.admission
            if admission is None or session.sid not in self.sessions:
                return
            session.admission = None
            try:
                answer = await self._admit(session, meeting, admission)
            except DomainError as exc:
                await self.emit("lobby_denied", {"reason": exc.code}, to=session.sid)
                return
            await self.emit("joined", answer, to=session.sid)
            session.acked.set()

    async def _kick(self, sid: str) -> None:
        """Close a connection after its last events were sent."""
        await asyncio.sleep(0.05)
        await self._drop(sid)
        await self.disconnect(sid)
