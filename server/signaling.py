"""Socket.IO events: one ``on_<event>`` method per request in docs/protocol.md.

Each handler validates its payload, asks ``rooms`` whether the participant may act (every permission
is decided by ``rooms.authorize``), and calls ``rooms`` and ``media``. Every failure is answered the same way: an ack
``{"ok": false, "error": {...}}`` plus an ``error`` event, and nothing changes on the server.

The namespace is split by topic into mixins: this module holds the connection life cycle (join,
the lobby, leave) and media signaling; ``chat_events`` holds chat, hands and reactions;
``moderation_events`` holds what hosts and staff do to the meeting.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import socketio

import media
from rooms.authorize import Action, Actor, Role, authorize, require
from rooms.documents import DocumentError
from rooms.errors import DomainError
from rooms.meeting import LiveParticipant, LobbyEntry, Meeting, normalize_device_id
from rooms.moderation import ModerationResult, persist

from . import validate
from .chat_events import ChatEvents
from .errors import RequestError
from .moderation_events import ModerationEvents
from .ratelimit import TokenBucket
from .stage_events import StageEvents
from .validate import BadRequest

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger("sitroom.signaling")

MAX_SDP = 100_000
SOURCES = frozenset({"microphone", "camera", "screen"})
SOURCE_ACTION = {
    "microphone": Action.PUBLISH_AUDIO,
    "camera": Action.PUBLISH_VIDEO,
    "screen": Action.SHARE_SCREEN,
}
KIND_SOURCES = {"audio": ("microphone",), "video": ("camera",)}
# subscribe_prefs: the video sources a subscriber may pause (audio is never paused by it), and how
# many (publisher, source) pairs one request may name.
PAUSABLE_SOURCES = ("camera", "screen")
MAX_PAUSED = 512


@dataclass
class Admission:
    """What a verified join request carries until it becomes a participant (at once, or on admit)."""

    room_id: str
    title: str
    role: str
    invite_id: str | None
    personal_invite: bool
    name: str
    organisation: str
    device_id: str | None
    # Comes back after a dropped connection: the participant id it had (kept, so that the others'
    # pins, its chat authorship and the record stay one person), and with it the role it had.
    returning_id: str | None = None

    @property
    def returning(self) -> bool:
        return self.returning_id is not None


@dataclass
class Session:
    """What one Socket.IO connection is: nobody, then someone waiting in the lobby, then one
    participant."""

    sid: str
    bucket: TokenBucket = field(default_factory=lambda: TokenBucket(rate=20.0, burst=60.0))
    chat_bucket: TokenBucket = field(default_factory=lambda: TokenBucket(rate=1.0, burst=5.0))
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    room_id: str | None = None
    participant: LiveParticipant | None = None
    lobby: LobbyEntry | None = None
    admission: Admission | None = None
    peer: Any = None  # media.Peer
    key: str = field(default_factory=lambda: secrets.token_urlsafe(24))  # for HTTP calls (uploads)
    acked: asyncio.Event = field(default_factory=asyncio.Event)  # the join answer has been queued
    # subscribe_prefs: the (publisher id, source) pairs this subscriber asked not to receive.
    video_paused: set[tuple[str, str]] = field(default_factory=set)

    @property
    def role(self) -> str | None:
        return self.participant.role if self.participant else None


class Signaling(ChatEvents, ModerationEvents, StageEvents, socketio.AsyncNamespace):
    def __init__(self, hub: Hub, namespace: str = "/"):
        super().__init__(namespace)
        self.hub = hub
        self.sessions: dict[str, Session] = {}

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
        handler = getattr(self, f"on_{event}", None) if isinstance(event, str) else None
        try:
            if session is None:
                raise RequestError("not_joined", "connection is not open")
            if not session.bucket.take():
                raise RequestError("rate_limited", "too many requests; slow down")
            if handler is None or event in ("connect", "disconnect"):
                raise RequestError("unknown_event", f"unknown event {str(event)[:64]!r}")
            result = await handler(session, validate.payload(data))
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

    async def _refuse(self, sid: str, event: Any, code: str, message: str) -> dict:
        error = {"code": code, "message": message}
        log.info("refused %r from %s: %s (%s)", str(event)[:64], sid, code, message)
        try:
            await self.emit("error", {**error, "event": str(event)[:64]}, to=sid)
        except Exception:  # noqa: BLE001
            pass
        return {"ok": False, "error": error}

    # ---- joining ----------------------------------------------------------------------------

    async def on_join(self, session: Session, data: dict) -> dict:
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
        entry = LobbyEntry.new(admission.name, admission.organisation, admission.role, sid=session.sid,
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
            joined_at=row.joined_at, sid=session.sid, invite_id=admission.invite_id,
            personal_invite=admission.personal_invite, device_id=admission.device_id,
        )
        others = [p.to_dict() for p in meeting.list()]
        meeting.add(participant)
        await self.room_opened(meeting.room_id)  # idempotent: starts the room's panels once
        session.room_id, session.participant, session.lobby = meeting.room_id, participant, None
        await self.enter_room(session.sid, meeting.room_id)
        router = self.hub.sfu.router(meeting.room_id, on_event=self._media_event_sender(meeting.room_id))
        session.peer = await router.add_peer(participant.id, on_subscribe_offer=self._offer_sender(session))
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
            **(await self.stage_snapshot(meeting.room_id)),
        }
        if authorize(Actor.of(participant), Action.SEE_LOBBY):
            answer["lobby"] = [e.to_dict() for e in meeting.lobby()]
        return answer

    async def _send_lobby(self, meeting: Meeting) -> None:
        """Tell every host and staff member who is waiting."""
        entries = [e.to_dict() for e in meeting.lobby()]
        for participant in meeting.list():
            if participant.sid and authorize(Actor.of(participant), Action.SEE_LOBBY):
                await self.emit("lobby", {"entries": entries}, to=participant.sid)

    # ---- leaving ----------------------------------------------------------------------------

    async def on_leave(self, session: Session, data: dict) -> dict:
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
            await self.participant_left_stage(room_id, participant)  # stage_events.py
            if was_hand:
                await self.emit("hands", {"queue": meeting.hands()}, room=room_id)
            if not meeting.list(include_viewers=True):
                await self.room_closed(room_id)
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

    # ---- media ------------------------------------------------------------------------------

    async def on_publish(self, session: Session, data: dict) -> dict:
        self._require_joined(session)
        sdp = validate.string(data, "sdp", max_len=MAX_SDP, min_len=1)
        sources = validate.choice_map(data, "sources", choices=SOURCES, max_items=16)
        for source in set(sources.values()):
            self._require(session, SOURCE_ACTION[source])
        async with session.lock:
            answer = await session.peer.publish(sdp, sources=sources)
            # A participant the host muted stays silent to the others until allowed to unmute.
            for kind, kind_sources in KIND_SOURCES.items():
                if session.participant.force_muted(kind):
                    for source in kind_sources:
                        session.peer.set_paused(source, True)
        return {"sdp": answer}

    async def on_subscribe_answer(self, session: Session, data: dict) -> dict:
        self._require_joined(session)
        sdp = validate.string(data, "sdp", max_len=MAX_SDP, min_len=1)
        revision = validate.integer(data, "revision", minimum=0)
        await session.peer.subscribe_answer(sdp, revision)
        return {}

    async def on_media_state(self, session: Session, data: dict) -> dict:
        self._require_joined(session)
        audio_muted = validate.boolean(data, "audio_muted")
        video_muted = validate.boolean(data, "video_muted")
        meeting = self._meeting(session)
        participant = meeting.update_media_state(session.participant.id, audio_muted, video_muted)
        # Unmuting after a host's mute was allowed: forward that source again.
        for kind, muted in (("audio", audio_muted), ("video", video_muted)):
            if not muted and not participant.force_muted(kind):
                for source in KIND_SOURCES[kind]:
                    session.peer.set_paused(source, False)
        await self.emit("participant_updated", participant.to_dict(), room=session.room_id,
                        skip_sid=session.sid)
        return {"self": participant.to_dict()}

    async def on_subscribe_prefs(self, session: Session, data: dict) -> dict:
        """Which videos this subscriber does not want (mediasoup's consumer.pause(), LiveKit's
        UpdateTrackSettings{disabled}): the complete set each time, so that a lost or reordered
        request is repaired by the next one and a reconnected client simply sends it again."""
        self._require_joined(session)
        wanted = _paused_sources(data.get("paused"))
        meeting = self._meeting(session)
        # Someone who left (or not yet joined) is ignored, not refused: the client's view may lag
        # the server's by a request, and one stale id must not void the rest.
        known = {(pid, source) for pid, source in wanted
                 if pid != session.participant.id and pid in meeting}
        peer = session.peer
        for pid, source in session.video_paused - known:
            peer.set_consumer_paused(pid, source, False)  # resumes at a keyframe, asked for at once
        for pid, source in known - session.video_paused:
            peer.set_consumer_paused(pid, source, True)
        session.video_paused = known
        return {"ignored": sorted({pid for pid, _ in wanted - known})}

    def _offer_sender(self, session: Session):
        async def send(sdp: str, revision: int, consumers: list[dict]) -> None:
            async def emit_after_ack() -> None:
                await session.acked.wait()
                await self.emit("subscribe_offer",
                                {"sdp": sdp, "revision": revision, "consumers": consumers},
                                to=session.sid)
            # Never block the media layer (it may call this from inside add_peer).
            asyncio.ensure_future(emit_after_ack())
        return send

    # ---- helpers ----------------------------------------------------------------------------

    def _meeting(self, session: Session) -> Meeting:
        meeting = self.hub.meetings.get(session.room_id) if session.room_id else None
        if meeting is None:
            raise RequestError("not_joined", "join the meeting first")
        return meeting

    def _require_joined(self, session: Session) -> None:
        if session.participant is None or session.peer is None:
            raise RequestError("not_joined", "join the meeting first")

    def _require(self, session: Session, action: Action) -> None:
        """Refuse (``forbidden``) unless the session's participant may ``action``
        (``rooms.authorize``, the role table)."""
        require(Actor.of(session.participant), action)

    def session_by_key(self, key: str) -> Session | None:
        """The joined session an HTTP request speaks for (``Authorization: Bearer <session_key>``)."""
        for session in self.sessions.values():
            if session.participant is not None and secrets.compare_digest(session.key, key):
                return session
        return None

    async def apply(self, meeting: Meeting, result: ModerationResult) -> None:
        """Carry out the network half of a moderation result, then persist it."""
        room_id = meeting.room_id
        for participant in result.updated:
            session = self.sessions.get(participant.sid) if participant.sid else None
            if session is not None and session.peer is not None:
                for kind in ("audio", "video"):
                    if participant.force_muted(kind):
                        for source in KIND_SOURCES[kind]:
                            session.peer.set_paused(source, True)
            if (participant is result.target and participant.visible
                    and result.details.get("from") == Role.VIEWER.value):
                # A viewer was nobody to the others; promoted, it joins their meeting now.
                await self.emit("participant_joined", participant.to_dict(), room=room_id,
                                skip_sid=participant.sid)
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
            waiting = self.sessions.get(entry.sid) if entry.sid else None
            if waiting is not None and waiting.admission is not None:
                asyncio.ensure_future(self._complete_admission(waiting, meeting))
        for entry in result.denied:
            if entry.sid:
                await self.emit("lobby_denied", {"reason": "ended" if meeting.ended else "denied"},
                                to=entry.sid)
                waiting = self.sessions.get(entry.sid)
                if waiting is not None:
                    waiting.lobby = waiting.admission = waiting.room_id = None
        if result.admitted or result.denied:
            await self._send_lobby(meeting)
        if result.kind == "end" and result.changed:
            await self.emit("meeting_ended", {"by": result.actor.name}, room=room_id)
        for participant in result.disconnect:
            if participant.sid and result.kind == "remove":
                await self.emit("removed", {"by": result.actor.name}, to=participant.sid)
        await persist(result, room_id, self.hub.rooms, self.hub.timeline)
        # Connections close last: the actor may be among them (ending the meeting), and its ack
        # must go out first; ``_kick`` gives it a moment.
        for participant in result.disconnect:
            if participant.sid:
                asyncio.ensure_future(self._kick(participant.sid))

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


def _paused_sources(value: Any) -> set[tuple[str, str]]:
    """The ``paused`` list of ``subscribe_prefs``: ``[{"participant_id", "source"}, ...]``."""
    if not isinstance(value, list) or len(value) > MAX_PAUSED:
        raise BadRequest(f"'paused' must be a list of at most {MAX_PAUSED} entries")
    result = set()
    for item in value:
        if not isinstance(item, dict):
            raise BadRequest("each entry of 'paused' must be {\"participant_id\", \"source\"}")
        participant_id = validate.string(item, "participant_id", max_len=64, min_len=1)
        source = item.get("source")
        if source not in PAUSABLE_SOURCES:
            raise BadRequest("'source' must be 'camera' or 'screen' (audio is never paused)")
        result.add((participant_id, source))
    return result
