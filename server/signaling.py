"""Socket.IO events: one ``on_<event>`` method per request in docs/protocol.md.

Each handler validates its payload, asks ``rooms.grants`` whether the participant may act, and
calls ``rooms`` and ``media``. Every failure is answered the same way: an ack
``{"ok": false, "error": {...}}`` plus an ``error`` event, and nothing changes on the server.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import socketio

import media
from rooms.errors import DomainError
from rooms.grants import Action, Role, can
from rooms.meeting import LiveParticipant

from . import validate
from .ratelimit import TokenBucket
from .validate import BadRequest

if TYPE_CHECKING:
    from .app import Hub

log = logging.getLogger("sitroom.signaling")

MAX_SDP = 100_000
SOURCES = frozenset({"microphone", "camera", "screen"})


class RequestError(Exception):
    """A refusal with a protocol error code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Session:
    """What one Socket.IO connection is: nobody until ``join``, then one participant."""

    sid: str
    bucket: TokenBucket = field(default_factory=lambda: TokenBucket(rate=20.0, burst=60.0))
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    room_id: str | None = None
    participant: LiveParticipant | None = None
    peer: Any = None  # media.Peer
    acked: asyncio.Event = field(default_factory=asyncio.Event)  # the join ack has been queued

    @property
    def role(self) -> Role | None:
        return Role(self.participant.role) if self.participant else None


class Signaling(socketio.AsyncNamespace):
    def __init__(self, hub: Hub, namespace: str = "/"):
        super().__init__(namespace)
        self.hub = hub
        self.sessions: dict[str, Session] = {}

    # ---- dispatch ---------------------------------------------------------------------------

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event == "connect":
            sid = args[0]
            self.sessions[sid] = Session(sid)
            return True
        if event == "disconnect":
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
        except (RequestError, BadRequest, DomainError) as exc:
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
        log.info("refused %r from %s: %s (%s)", event, sid, code, message)
        try:
            await self.emit("error", {**error, "event": str(event)[:64]}, to=sid)
        except Exception:  # noqa: BLE001
            pass
        return {"ok": False, "error": error}

    # ---- requests ---------------------------------------------------------------------------

    async def on_join(self, session: Session, data: dict) -> dict:
        token = validate.string(data, "token", max_len=2048, min_len=1)
        name = validate.string(data, "name", max_len=64, min_len=1)
        organisation = validate.string(data, "organisation", max_len=80, required=False)
        async with session.lock:
            if session.participant is not None:
                raise RequestError("already_joined", "this connection has already joined")
            claims = await self.hub.rooms.verify_token(token)
            room = await self.hub.rooms.get_room(claims.room_id)
            row = await self.hub.rooms.record_join(
                claims.room_id, claims.invite_id, name, organisation, claims.role
            )
            meeting = self.hub.meetings.get_or_create(room.id, room.title)
            participant = LiveParticipant(
                id=row.id, name=row.name, organisation=row.organisation or "", role=str(claims.role),
                joined_at=row.joined_at, sid=session.sid,
            )
            others = [p.to_dict() for p in meeting.list() if p.id != participant.id]
            meeting.add(participant)
            session.room_id = room.id
            session.participant = participant
            await self.enter_room(session.sid, room.id)
            router = self.hub.sfu.router(room.id)
            session.peer = await router.add_peer(
                participant.id, on_subscribe_offer=self._offer_sender(session)
            )
            if participant.role != Role.VIEWER:
                await self.emit("participant_joined", participant.to_dict(), room=room.id,
                                skip_sid=session.sid)
            log.info("%s joined room %s as %s", participant.id, room.id, participant.role)
            # The ack is queued when this handler returns; offers wait for it (see _offer_sender).
            asyncio.get_running_loop().call_soon(session.acked.set)
            return {
                "self": participant.to_dict(),
                "room": {"id": room.id, "title": room.title},
                "participants": others,
                "ice_servers": self.hub.config.ice_servers,
            }

    async def on_leave(self, session: Session, data: dict) -> dict:
        self._require_joined(session)
        await self._leave(session)
        return {}

    async def on_publish(self, session: Session, data: dict) -> dict:
        self._require_joined(session)
        sdp = validate.string(data, "sdp", max_len=MAX_SDP, min_len=1)
        sources = validate.choice_map(data, "sources", choices=SOURCES, max_items=16)
        for source in set(sources.values()):
            self._require(session, _SOURCE_ACTION[source])
        async with session.lock:
            answer = await session.peer.publish(sdp, sources=sources)
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
        meeting = self.hub.meetings.get(session.room_id)
        participant = meeting.update_media_state(session.participant.id, audio_muted, video_muted)
        await self.emit("participant_updated", participant.to_dict(), room=session.room_id,
                        skip_sid=session.sid)
        return {"self": participant.to_dict()}

    # ---- helpers ----------------------------------------------------------------------------

    def _require_joined(self, session: Session) -> None:
        if session.participant is None or session.peer is None:
            raise RequestError("not_joined", "join the meeting first")

    def _require(self, session: Session, action: Action) -> None:
        if not can(session.role, action):
            raise RequestError("forbidden", f"a {session.participant.role} may not {action.value.replace('_', ' ')}")

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

    async def _leave(self, session: Session) -> None:
        participant, room_id, peer = session.participant, session.room_id, session.peer
        if participant is None:
            return
        session.participant = session.peer = None
        session.room_id = None
        meeting = self.hub.meetings.get(room_id)
        if meeting is not None:
            meeting.remove(participant.id)
            self.hub.meetings.drop_if_empty(room_id)
        try:
            if peer is not None:
                await self.hub.sfu.router(room_id).remove_peer(participant.id)
        finally:
            if participant.role != Role.VIEWER:
                await self.emit("participant_left", {"id": participant.id}, room=room_id,
                                skip_sid=session.sid)
            await self.leave_room(session.sid, room_id)
            await self.hub.rooms.record_leave(participant.id)
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


_SOURCE_ACTION = {
    "microphone": Action.PUBLISH_AUDIO,
    "camera": Action.PUBLISH_VIDEO,
    "screen": Action.SHARE_SCREEN,
}
