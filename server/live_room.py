"""LiveRoom: one open room's live state, in one object (LiveKit's ``rtc.Room`` is the model).

A ``LiveRoom`` owns, for its room:

- the live ``Meeting`` (``rooms.meeting``): who is in it, the lobby, hands, held mutes; created by
  the first join from the room's row, dropped when the last connection leaves;
- the ``Stage`` (``rooms.stage``): what everyone sees (kept between meetings of the room);
- what must outlive the process (the stage, raised hands, held mutes): kept in the database
  (``rooms.repository.RoomStateRepository``) as it changes (``remember``), and taken back when the
  room opens again after a restart (``LiveRooms.load``);
- the panel runner (``rooms.panels.PanelRunner``): polls the room's panels while anyone is in;
- the media room: its router in the SFU, and each participant's media peer;
- its connections: the ``Session`` of everyone in the meeting or waiting in its lobby.

It has one ``join`` (admit a verified connection: the meeting, the panels, the media peer, the
others told), one ``leave`` (the reverse, whatever state the connection is in), and one ``apply``,
the one place where a domain result (``rooms.moderation.ModerationResult``) reaches the SFU and the
sockets: events to the room, forwarding paused for a held mute, admissions from the lobby,
connections closed, then the record written. ``LiveRooms`` is the registry, one per app.

It knows nothing of Socket.IO beyond ``Network`` (``server.session``): emit, the namespace's rooms,
and closing a connection.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import media
from rooms.authorize import Action, Actor, Role, authorize
from rooms.errors import DomainError
from rooms.meeting import LiveParticipant, LobbyEntry, Meeting
from rooms.moderation import ModerationResult, persist
from rooms.panels.sources import PanelRunner
from rooms.panels.spec import PanelError, PanelSpec
from rooms.panels.urlpolicy import UrlPolicy
from rooms.repository import panel_spec_dict
from rooms.scheduling import meeting_clocks
from rooms.stage import Stage, StageError
from rooms.stage_record import StageLog

from .errors import RequestError
from .hub import Hub
from .panel_http import http_source_factory
from .ratelimit import TokenBucket
from .session import Admission, Network, Session

log = logging.getLogger("sitroom.signaling")
media_log = logging.getLogger("sitroom.chat")  # the name the SFU's events have always been logged under

# A host's mute holds these sources of the participant paused in the SFU.
KIND_SOURCES = {"audio": ("microphone",), "video": ("camera",)}
# Chat messages and reactions per second and burst: of one participant, of everyone who came
# through one invite link (twenty connections on one link must not flush the chat history).
PARTICIPANT_CHAT = (1.0, 5.0)
INVITE_CHAT = (3.0, 15.0)
MAX_CHAT_LIMITS = 10_000


def public_panel(row: dict) -> dict:
    return {key: row[key] for key in ("id", "title", "kind", "source", "options")}


class LiveRoom:
    def __init__(self, hub: Hub, net: Network, room_id: str) -> None:
        self.id = room_id
        self.hub = hub
        self.net = net
        self.meeting: Meeting | None = None
        self.stage = Stage(room_id)
        self.panels: PanelRunner | None = None
        self.media: Any = None  # media.RouterHandle: the room's router, in this process or a media worker
        self.recording: dict | None = None  # the running recording: {"id", "by"} (start_recording)
        self.stage_log: StageLog | None = None  # the running recording's stage timeline
        self.connections: dict[str, Session] = {}
        # chat and reactions limits beyond each connection's: per participant (it may reconnect)
        # and per invite (a link shared by many connections)
        self.chat_limits: dict[str, TokenBucket] = {}
        self.loaded = False  # the kept state was read (LiveRooms.load)
        self._kept_meeting: Any = None  # the kept meeting snapshot, until a meeting takes it back
        # A scheduled meeting's delegations (rooms.models.Delegation), read once per meeting by its
        # first join: the city clocks of the join answer and each delegate's city and zone.
        self.delegations: list[Any] | None = None
        self._dirty = False
        self._writer: asyncio.Task | None = None

    def take_chat(self, participant: LiveParticipant) -> bool:
        """One chat message or reaction from ``participant``, within its own limit and its
        invite's (all who came through one link together); False when either is spent."""
        if len(self.chat_limits) > MAX_CHAT_LIMITS:
            self.chat_limits.clear()  # (only ever grows past it under a flood of new participants)
        keys = [(f"p:{participant.id}", PARTICIPANT_CHAT)]
        if participant.invite_id:
            keys.append((f"i:{participant.invite_id}", INVITE_CHAT))
        taken = []
        for key, (rate, burst) in keys:
            bucket = self.chat_limits.get(key)
            if bucket is None:
                bucket = self.chat_limits[key] = TokenBucket(rate=rate, burst=burst)
            if not bucket.take():
                for other in taken:  # nothing is spent by a refused message
                    other.tokens += 1
                return False
            taken.append(bucket)
        return True

    # ---- the meeting ------------------------------------------------------------------------

    def open_meeting(self, room: Any) -> Meeting:
        """The live meeting, created from the room's row (``rooms.models.Room``) if there is none;
        the first one after a restart takes back the hands and held mutes the last run kept."""
        if self.meeting is None:
            self.meeting = Meeting.from_room(room)
            self.delegations = None  # (read again: the organiser may have changed them)
            kept, self._kept_meeting = self._kept_meeting, None
            if kept is not None and not self.meeting.ended:
                self.meeting.restore(kept)
        return self.meeting

    # ---- what outlives the process ----------------------------------------------------------

    async def load(self) -> None:
        """Take back what an earlier run of the server kept of this room (once, before anyone is
        in it): the stage, and the hands and held mutes for its next meeting."""
        if self.loaded:
            return
        kept = await self.hub.room_states.get(self.id)
        if self.loaded:  # (loaded meanwhile by another join)
            return
        self.loaded = True
        if kept is None:
            return
        if kept.get("stage") is not None:
            try:
                self.stage = Stage.restore(kept["stage"], self.id)
            except StageError as exc:
                log.warning("room %s: the kept stage is not usable (%s); starting empty", self.id, exc.message)
        self._kept_meeting = kept.get("meeting")

    def remember(self) -> None:
        """The stage, a hand or a held mute changed: keep the room's state in the database. Writes
        are made one at a time, each of the latest state, so the last one written is the newest."""
        cluster = self.hub.cluster
        if self.hub.stopping or not self.loaded or (cluster.enabled and self.id not in cluster.held):
            return  # (a room another node holds now is that node's to keep)
        self._dirty = True
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write())

    async def _write(self) -> None:
        while self._dirty:
            self._dirty = False
            meeting = self.meeting.snapshot() if self.meeting is not None else {"hands": [], "held": []}
            try:
                await self.hub.room_states.save(self.id, stage=self.stage.snapshot(), meeting=meeting)
            except Exception:  # noqa: BLE001 - the meeting goes on; the next change writes again
                log.exception("keeping the state of room %s failed", self.id)

    async def flush(self) -> None:
        """Wait until the latest state is written (tests; a stopping server)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    @property
    def idle(self) -> bool:
        """Nobody connected: the meeting can be forgotten (the stage is kept)."""
        return self.meeting is None or self.meeting.is_empty

    def _drop_meeting_if_empty(self) -> None:
        if self.meeting is not None and self.meeting.is_empty:
            self.meeting = None
            self.remember()  # (a meeting that emptied keeps no hands or holds)
            if self.hub.cluster.enabled and not self.hub.stopping:
                asyncio.ensure_future(self._release())

    async def _release(self) -> None:
        """Nobody is here any more: hand the room's lease back (any node may open it next)."""
        await self.flush()
        if self.idle and not self.hub.stopping:
            await self.hub.cluster.release(self.id)

    async def wait_in_lobby(self, session: Session, admission: Admission) -> dict:
        meeting = self.meeting
        entry = LobbyEntry.new(admission.name, admission.organisation, admission.role, connection=session.sid,
                               invite_id=admission.invite_id, personal_invite=admission.personal_invite,
                               device_id=admission.device_id)
        meeting.enter_lobby(entry)
        session.lobby, session.admission, session.room_id = entry, admission, self.id
        self.connections[session.sid] = session
        await self.send_lobby()
        log.info("%s waits in the lobby of %s", entry.id, self.id)
        return {"lobby": {"id": entry.id, "position": len(meeting.lobby())},
                "room": meeting.room_dict()}

    async def join(self, session: Session, admission: Admission) -> dict:
        """Make the connection a participant and answer with what a joined client needs."""
        hub, meeting = self.hub, self.meeting
        delegations = self.delegations
        if delegations is None:
            delegations = self.delegations = await hub.rooms.delegations(self.id)
        delegation = next((d for d in delegations
                           if admission.invite_id is not None and d.invite_id == admission.invite_id), None)
        row = None
        if admission.returning_id is not None and meeting.get(admission.returning_id) is None:
            row = await hub.rooms.record_return(admission.returning_id, admission.name, admission.organisation)
        if row is None:  # a first join, or the earlier participant is somehow still here
            admission.returning_id = None
            row = await hub.rooms.record_join(
                admission.room_id, admission.invite_id, admission.name, admission.organisation, admission.role
            )
        participant = LiveParticipant(
            id=row.id, name=row.name, organisation=row.organisation or "", role=admission.role,
            joined_at=row.joined_at, connection=session.sid, invite_id=admission.invite_id,
            personal_invite=admission.personal_invite, device_id=admission.device_id,
            city=delegation.city if delegation is not None else None,
            time_zone=delegation.time_zone if delegation is not None else None,
        )
        meeting.add(participant)  # (a hold or, after a restart, a raised hand may come back with them)
        if self.stage_log is not None:
            self.stage_log.person(participant.to_dict())
        await self.open_panels()  # idempotent: starts the room's panels once
        session.room_id, session.participant, session.lobby = self.id, participant, None
        self.connections[session.sid] = session
        await self.net.enter_room(session.sid, self.id)
        try:
            session.peer = await self._add_peer(session)
        except BaseException:
            # No media peer, no participant: undo the join (the others were not told yet).
            await self.leave(session, timeline=False)
            raise
        if participant.visible:
            await self.net.emit("participant_joined", participant.to_dict(), room=self.id, skip_sid=session.sid)
        if participant.hand_raised:  # raised before the server restarted
            await self.net.emit("hands", {"queue": meeting.hands()}, room=self.id, skip_sid=session.sid)
        self.remember()
        await hub.timeline.record(self.id, "join", actor=participant,
                                  details={"resumed": True} if admission.returning else None)
        log.info("%s joined room %s as %s%s", participant.id, self.id, participant.role,
                 " (coming back)" if admission.returning else "")
        # What needs the database first: from here to the answer's return nothing waits, so the
        # roster and the hands below are those of the moment it is sent (not older than an event
        # this connection got meanwhile).
        chat, stage = await hub.chat.history(self.id), await self.stage_snapshot()
        answer = {
            "self": participant.to_dict(),
            "room": meeting.room_dict(),
            "meeting": meeting.meeting_dict(),
            "participants": [p.to_dict() for p in meeting.list() if p.id != participant.id],
            "ice_servers": hub.config.ice_servers,
            "simulcast": hub.config.simulcast,  # publish the camera in layers (docs/protocol.md)
            "settings": meeting.settings(),
            "hands": meeting.hands(),
            "chat": chat,
            "session_key": session.key,
            "resume_key": hub.rooms.resume_key(participant.id),
            "resumed": admission.returning,
            # Held muted by a host before leaving (same participant or device): join muted, and
            # only a host or staff member (or the meeting's allow_self_unmute) lifts it.
            "held": meeting.held_kinds(participant),
            "recording": self.recording_state(),  # {"active", "by"}: the meeting is being recorded
            # the city clock strip: the room's city and each delegation's (docs/protocol.md)
            "clocks": meeting_clocks(meeting.title, meeting.city, delegations),
            **stage,
        }
        if authorize(Actor.of(participant), Action.SEE_LOBBY):
            answer["lobby"] = [e.to_dict() for e in meeting.lobby()]
        return answer

    async def complete_admission(self, session: Session) -> None:
        """Someone admitted from the lobby: join now, and send the answer as ``joined``."""
        async with session.lock:
            admission = session.admission
            if admission is None or self.net.session(session.sid) is not session or self.meeting is None:
                return
            session.admission = None
            try:
                answer = await self.join(session, admission)
            except DomainError as exc:
                await self.net.emit("lobby_denied", {"reason": exc.code}, to=session.sid)
                return
            await self.net.emit("joined", answer, to=session.sid)
            session.acked.set()

    async def send_lobby(self) -> None:
        """Tell every host and staff member who is waiting."""
        if self.meeting is None:
            return
        entries = [e.to_dict() for e in self.meeting.lobby()]
        for participant in self.meeting.list():
            if participant.connection and authorize(Actor.of(participant), Action.SEE_LOBBY):
                await self.net.emit("lobby", {"entries": entries}, to=participant.connection)

    async def leave(self, session: Session, *, timeline: bool = True) -> None:
        """The connection leaves the lobby or the meeting (its media peer closed, the others told)."""
        hub, meeting = self.hub, self.meeting
        self.connections.pop(session.sid, None)
        if session.lobby is not None:
            entry, session.lobby, session.admission, session.room_id = session.lobby, None, None, None
            if meeting is not None and meeting.leave_lobby(entry.id) is not None:
                await self.send_lobby()
                self._drop_meeting_if_empty()
            return
        participant, peer = session.participant, session.peer
        if participant is None:
            return
        session.participant = session.peer = session.room_id = None
        if meeting is not None:
            was_hand = participant.hand_raised
            meeting.remove(participant.id)
            await self.participant_left_stage(participant)
            if was_hand:
                await self.net.emit("hands", {"queue": meeting.hands()}, room=self.id)
            if not meeting.list(include_viewers=True):
                await self.close_panels()
                await self.stop_recording(None)  # nobody left to stop it
            self.remember()
            self._drop_meeting_if_empty()
        try:
            if peer is not None and self.media is not None:
                await self.media.remove_peer(participant.id)
        finally:
            if participant.visible:
                await self.net.emit("participant_left", {"id": participant.id}, room=self.id, skip_sid=session.sid)
            await self.net.leave_room(session.sid, self.id)
            await hub.rooms.record_leave(participant.id)
            if timeline:
                await hub.timeline.record(self.id, "leave", actor=participant)
            log.info("%s left room %s", participant.id, self.id)

    # ---- moderation results -----------------------------------------------------------------

    async def hold_mutes(self, session: Session) -> None:
        """The one rule of a host's mute in the SFU: a participant held muted (``force_muted``)
        has that source paused for everyone until allowed to unmute."""
        participant, peer = session.participant, session.peer
        if participant is None or peer is None:
            return
        for kind, sources in KIND_SOURCES.items():
            if participant.force_muted(kind):
                for source in sources:
                    await peer.set_paused(source, True)

    async def release_mutes(self, session: Session, audio_muted: bool, video_muted: bool) -> None:
        """The participant unmuted itself: forward what it may send again (not what a host holds)."""
        participant, peer = session.participant, session.peer
        for kind, muted in (("audio", audio_muted), ("video", video_muted)):
            if not muted and not participant.force_muted(kind):
                for source in KIND_SOURCES[kind]:
                    await peer.set_paused(source, False)

    async def apply(self, result: ModerationResult) -> None:
        """Carry out the network half of a moderation result, then persist it."""
        meeting, emit = self.meeting, self.net.emit
        for participant in result.updated:
            session = self.net.session(participant.connection) if participant.connection else None
            if session is not None:
                await self.hold_mutes(session)
            if (participant is result.target and participant.visible
                    and result.details.get("from") == Role.VIEWER.value):
                # A viewer was nobody to the others; promoted, it joins their meeting now.
                await emit("participant_joined", participant.to_dict(), room=self.id,
                           skip_sid=participant.connection)
                if session is not None:
                    await emit("participant_updated", participant.to_dict(), to=session.sid)
            elif participant.visible:
                await emit("participant_updated", participant.to_dict(), room=self.id)
            elif session is not None:
                await emit("participant_updated", participant.to_dict(), to=session.sid)
        if result.kind in ("raise_hand", "lower_hand") and result.changed:
            await emit("hands", {"queue": meeting.hands()}, room=self.id)
        if result.settings is not None and result.changed:
            await emit("meeting_settings", result.settings, room=self.id)
        for entry in result.admitted:
            waiting = self.net.session(entry.connection) if entry.connection else None
            if waiting is not None and waiting.admission is not None:
                asyncio.ensure_future(self.complete_admission(waiting))
        for entry in result.denied:
            if entry.connection:
                await emit("lobby_denied", {"reason": "ended" if meeting.ended else "denied"}, to=entry.connection)
                waiting = self.net.session(entry.connection)
                if waiting is not None:
                    waiting.lobby = waiting.admission = waiting.room_id = None
                    self.connections.pop(waiting.sid, None)
        if result.admitted or result.denied:
            await self.send_lobby()
        if result.kind == "end" and result.changed:
            await emit("meeting_ended", {"by": result.actor.name}, room=self.id)
        for participant in result.disconnect:
            if participant.connection and result.kind == "remove":
                await emit("removed", {"by": result.actor.name}, to=participant.connection)
        if result.changed:
            self.remember()
        await persist(result, self.id, self.hub.rooms, self.hub.timeline)
        # Connections close last: the actor may be among them (ending the meeting), and its ack
        # must go out first.
        for participant in result.disconnect:
            if participant.connection:
                self.net.kick(participant.connection)

    # ---- media ------------------------------------------------------------------------------

    async def _add_peer(self, session: Session):
        """The participant's media peer in the room's router. The room's media worker may die
        meanwhile: then the router is opened again (on a live worker) and the peer added there."""
        for attempt in (1, 2):
            self.media = await self.hub.media.open_router(self.id, self._media_event)
            try:
                return await self.media.add_peer(session.participant.id, self._offer_sender(session),
                                                 publisher=self._publishes(session.participant))
            except media.WorkerLost:
                if attempt == 2:
                    raise
                log.warning("room %s: its media worker died while %s joined; trying another", self.id,
                            session.participant.id)

    # ---- recording (media/recorder.py): files under data_dir/recordings/<room>/<recording id>/

    def recording_state(self) -> dict:
        """The ``recording`` event's body and the join answer's field."""
        return {"active": self.recording is not None, "by": self.recording["by"] if self.recording else None}

    async def start_recording(self, participant: LiveParticipant) -> str:
        """Record the room's tracks (the caller has checked ``Action.RECORD``); ``conflict`` if
        a recording is running."""
        if self.recording is not None or self.media is None:
            raise RequestError("conflict", "a recording is running" if self.recording else "no media in this room")
        folder = Path(self.hub.config.data_dir) / "recordings" / self.id
        try:
            recording_id = await self.media.start_recording(str(folder))
        except ValueError as exc:
            raise RequestError("conflict", str(exc)) from None
        self.recording = {"id": recording_id, "by": participant.name}
        log.info("room %s: recording %s started by %s", self.id, recording_id, participant.id)
        await self.net.emit("recording", self.recording_state(), room=self.id)
        await self._start_stage_log(folder / recording_id)
        await self.hub.timeline.record(self.id, "recording_start", actor=participant,
                                       details={"recording_id": recording_id})
        return recording_id

    async def _start_stage_log(self, folder: Path) -> None:
        """The recording's stage timeline (rooms.stage_record), from the state as it is now."""
        try:
            self.stage_log = StageLog(folder)
        except OSError as exc:
            log.warning("room %s: no stage timeline for the recording: %s", self.id, exc)
            return
        panel_data, document = await self._on_stage()
        people = [p.to_dict() for p in self.meeting.list()] if self.meeting is not None else []
        self.stage_log.start(stage=self.stage.to_dict(), panels=[public_panel(p) for p in await self.hub.panels.list(self.id)],
                             people=people, panel_data=panel_data, document=document)

    async def _on_stage(self) -> tuple[dict | None, dict | None]:
        """What the stage log keeps of what the stage shows: the latest update of the panel on
        it, or the document on it (its row)."""
        state = self.stage.state
        if state.kind == "panel" and state.panel_id and self.panels is not None:
            status = self.panels.latest(state.panel_id)
            return (status.to_dict() if status is not None else None), None
        if state.kind == "document" and state.document_id:
            return None, await self.hub.documents.get(state.document_id, room_id=self.id)
        return None, None

    async def _stop_stage_log(self) -> None:
        stage_log, self.stage_log = self.stage_log, None
        if stage_log is not None:
            await stage_log.stop()

    async def stop_recording(self, participant: LiveParticipant | None) -> dict | None:
        """Finish the running recording: its manifest (None if none was running)."""
        running, self.recording = self.recording, None
        if running is None:
            return None
        data = None
        try:
            data = await self.media.stop_recording() if self.media is not None else None
        except Exception:  # noqa: BLE001 - a lost worker or a full disk: the room goes on
            media_log.exception("room %s: finishing recording %s failed", self.id, running["id"])
        await self._stop_stage_log()
        log.info("room %s: recording %s stopped", self.id, running["id"])
        await self.net.emit("recording", {"active": False, "by": participant.name if participant else None},
                            room=self.id)
        await self.hub.timeline.record(self.id, "recording_stop", actor=participant,
                                       details={"recording_id": running["id"], "complete": data is not None})
        return data

    @staticmethod
    def _publishes(participant: LiveParticipant) -> bool:
        """Whether the participant may send media: a room spanning media workers places those who
        may not (viewers) on another worker first."""
        actor = Actor.of(participant)
        return bool(authorize(actor, Action.PUBLISH_AUDIO) or authorize(actor, Action.PUBLISH_VIDEO))

    def _offer_sender(self, session: Session):
        """The peer's ``on_subscribe_offer``: a subscribe offer, sent once the join answer is queued."""
        emit = self.net.emit

        async def send(sdp: str, revision: int, consumers: list[dict]) -> None:
            async def emit_after_ack() -> None:
                await session.acked.wait()
                await emit("subscribe_offer", {"sdp": sdp, "revision": revision, "consumers": consumers},
                           to=session.sid)
            # Never block the media layer (it may call this from inside add_peer).
            asyncio.ensure_future(emit_after_ack())
        return send

    async def restart_media(self) -> None:
        """The room's media worker stopped: make the router again (the media service places it on
        a live worker), add every participant's peer to it again, and tell each client to connect
        its media again (``media_reset``). The meeting itself (roster, chat, stage, hands) is
        untouched: nobody leaves."""
        self.media = await self.hub.media.open_router(self.id, self._media_event)
        if self.recording is not None:  # its files were being written by the lost worker
            self.recording = None
            await self._stop_stage_log()
            await self.net.emit("recording", {"active": False, "by": None}, room=self.id)
        sessions = [s for s in self.connections.values() if s.participant is not None and s.peer is not None]
        log.warning("room %s: media moved to worker %s; %d participant(s) reconnect their media",
                    self.id, self.media.worker, len(sessions))
        for session in sessions:
            async with session.lock:
                if session.participant is None or self.connections.get(session.sid) is not session:
                    continue
                session.video_paused = set()
                # Before the new peer's first subscribe offer: the client makes a new receive connection.
                await self.net.emit("media_reset", {"reason": "media_worker_lost"}, to=session.sid)
                session.peer = await self.media.add_peer(session.participant.id, self._offer_sender(session),
                                                         publisher=self._publishes(session.participant))

    def _media_session(self, participant_id: Any) -> Session | None:
        """The connection whose media peer is ``participant_id``, if it is still here."""
        return next((s for s in self.connections.values()
                     if s.participant is not None and s.participant.id == participant_id and s.peer is not None), None)

    def _media_event(self, kind: str, data: Any) -> None:
        """The SFU's router events, as Socket.IO events to the room."""
        asyncio.ensure_future(self._on_media_event(kind, data))

    async def _on_media_event(self, kind: str, data: Any) -> None:
        emit = self.net.emit
        try:
            if kind == "active_speaker":
                await emit("active_speaker", {"participant_id": data.get("peer_id"),
                                              "level": data.get("level")}, room=self.id)
            elif kind == "audio_levels":
                await emit("audio_levels", {"levels": data}, room=self.id)
            elif kind == "producer_removed" and data.get("source") == "screen":
                await self.participant_left_stage(data.get("peer_id"), source="screen")
            elif kind == "consumer_layers":  # what one subscriber receives of each video
                session = self._media_session(data.get("peer_id"))
                if session is not None:
                    await emit("video_layers", {"videos": data.get("videos") or []}, to=session.sid)
            elif kind == "publish_layers":  # the simulcast layers one publisher should send
                session = self._media_session(data.get("peer_id"))
                if session is not None:
                    await emit("publish_layers", {"mid": data.get("mid"), "source": data.get("source"),
                                                  "active": data.get("active")}, to=session.sid)
        except Exception:  # noqa: BLE001 - a speaker event is never worth a crash
            media_log.exception("media event %s for %s failed", kind, self.id)

    # ---- stage and panels -------------------------------------------------------------------

    def panel_url_policy(self) -> UrlPolicy:
        """Which URLs HTTP panels may fetch (``SITROOM_PANEL_URL_ALLOW``), parsed once per app."""
        hub = self.hub
        if hub.panel_url_policy is None:
            hub.panel_url_policy = UrlPolicy.parse(hub.config.panel_url_entries)
        return hub.panel_url_policy

    async def open_panels(self) -> None:
        """The first participant arrived: start polling the room's panels."""
        if self.panels is not None:
            return
        emit, room_id = self.net.emit, self.id

        async def on_update(panel_id: str, data: Any, error: str | None) -> None:
            status = runner.latest(panel_id)
            update = status.to_dict() if status else {"panel_id": panel_id, "data": data, "error": error}
            if self.stage_log is not None:
                self.stage_log.panel_data(update)
            await emit("panel_data", update, room=room_id)

        runner = PanelRunner(on_update, feed=self.hub.city_feed,
                             http_source=http_source_factory(self.panel_url_policy()))
        self.panels = runner
        for row in await self.hub.panels.list(room_id):
            try:
                await runner.start(PanelSpec.from_dict(panel_spec_dict(row)))
            except PanelError as exc:
                log.warning("panel %s of %s not started: %s", row["id"], room_id, exc.message)

    async def close_panels(self) -> None:
        """The last participant left: stop polling (the stage is kept for the next meeting)."""
        runner, self.panels = self.panels, None
        if runner is not None:
            await runner.stop_all()

    async def stage_snapshot(self) -> dict:
        """What a joining client needs to land on the current stage."""
        hub = self.hub
        panels = await hub.panels.list(self.id)
        panel_data = []
        if self.panels is not None:
            for row in panels:
                status = self.panels.latest(row["id"])
                if status is not None and (status.data is not None or status.error):
                    panel_data.append(status.to_dict())
        return {
            "stage": self.stage.to_dict(),
            "panels": [public_panel(p) for p in panels],
            "panel_data": panel_data,
            "documents": [hub.document_view(d) for d in await hub.documents.list(self.id)],
        }

    async def broadcast_stage(self) -> None:
        """The stage changed: keep it, and show it to everyone."""
        self.remember()
        if self.stage_log is not None:
            panel_data, document = await self._on_stage()
            self.stage_log.stage(self.stage.to_dict(), panel_data=panel_data, document=document)
        await self.net.emit("stage", self.stage.to_dict(), room=self.id)

    async def broadcast_documents(self) -> None:
        documents = [self.hub.document_view(d) for d in await self.hub.documents.list(self.id)]
        await self.net.emit("documents", {"documents": documents}, room=self.id)

    async def broadcast_panels(self) -> None:
        panels = [public_panel(p) for p in await self.hub.panels.list(self.id)]
        if self.stage_log is not None:
            self.stage_log.panels(panels)
        await self.net.emit("panels", {"panels": panels}, room=self.id)

    async def participant_left_stage(self, participant: Any, source: str | None = None) -> None:
        """Empty the stage if it shows ``participant`` (a LiveParticipant or an id), who left the
        meeting, or (``source`` given) stopped that share: tell the room and record it.

        Called on leaving (and for a stopped screen share, from the SFU's ``producer_removed``); it
        never raises, so leaving always completes.
        """
        try:
            pid = participant if isinstance(participant, str) else getattr(participant, "id", None)
            if not pid:
                return
            result = self.stage.participant_gone(pid, source, by=pid)
            if result is None:
                return
            _, entry = result
            if isinstance(participant, str):
                live = self.meeting.get(pid) if self.meeting is not None else None
                participant = live if live is not None else {"id": pid, "name": None}
            # Recorded before it is announced: whoever sees the empty stage finds why in the record.
            await self.hub.timeline.record(self.id, entry.what, target=participant, details=entry.details)
            await self.broadcast_stage()
        except Exception:  # noqa: BLE001 - leaving must complete whatever happens here
            log.exception("clearing the stage of %s after %s left failed", self.id, participant)


class LiveRooms:
    """The open rooms of this process, by room id: the one registry of live state."""

    def __init__(self, hub: Hub, net: Network) -> None:
        self.hub = hub
        self.net = net
        self._rooms: dict[str, LiveRoom] = {}
        self._opening: dict[str, asyncio.Lock] = {}  # one room opened (claimed, loaded) at a time

    def __iter__(self) -> Iterator[LiveRoom]:
        return iter(list(self._rooms.values()))

    def __len__(self) -> int:
        return len(self._rooms)

    def get(self, room_id: str | None) -> LiveRoom | None:
        return self._rooms.get(room_id) if room_id else None

    def open(self, room_id: str) -> LiveRoom:
        """The room's LiveRoom, created if need be."""
        room = self._rooms.get(room_id)
        if room is None:
            room = self._rooms[room_id] = LiveRoom(self.hub, self.net, room_id)
        return room

    async def load(self, room_id: str) -> LiveRoom:
        """The room's LiveRoom, held by this node, with what an earlier run (or the node that held
        it before) kept of it (``LiveRoom.load``). Another node holding the room is a
        ``RequestError`` ``room_elsewhere`` with that node's ``url``."""
        lock = self._opening.setdefault(room_id, asyncio.Lock())
        async with lock:
            cluster = self.hub.cluster
            owner, taken = await cluster.claim(room_id)
            if owner is not None:
                raise RequestError("room_elsewhere", "this meeting is held on another server of this "
                                   "Sitroom; join it there", url=owner)
            if taken and cluster.enabled:
                # Taken from a node that died (or from nobody): what was kept here of the room is
                # stale, and the joins that node left open are closed as left now.
                stale = self._rooms.get(room_id)
                if stale is not None and stale.idle:
                    del self._rooms[room_id]
                closed = await self.hub.rooms.close_open_joins(datetime.now(timezone.utc), room_id=room_id)
                if closed:
                    log.warning("room %s: taken over; closed %d join(s) its previous node left open", room_id, closed)
            room = self.open(room_id)
            await room.load()
            return room

    def meeting(self, room_id: str | None) -> Meeting | None:
        """The live meeting of ``room_id``, if one is open."""
        room = self.get(room_id)
        return room.meeting if room is not None else None

    def stats(self) -> dict[str, int]:
        totals = {"meetings": 0, "participants": 0, "viewers": 0}
        for room in self._rooms.values():
            if room.meeting is not None:
                totals["meetings"] += 1
                for key, value in room.meeting.counts().items():
                    totals[key] += value
        return totals

    async def media_lost(self, worker: int, room_ids: list[str]) -> None:
        """``media.WorkerPool.on_worker_lost``: the rooms whose router was on a worker that died."""
        for room_id in room_ids:
            room = self._rooms.get(room_id)
            if room is None or room.idle:
                continue
            try:
                await room.restart_media()
            except Exception:  # noqa: BLE001 - one room's failure must not keep the others down
                log.exception("restarting the media of room %s after worker %s died failed", room_id, worker)

    async def lost(self, room_id: str) -> None:
        """``Cluster.on_lost``: another node holds the room now (this one was cut off from Redis
        longer than a lease): its connections here are closed, and each client, joining again,
        is sent there (``room_elsewhere``). Nothing of it is written from here any more."""
        room = self._rooms.get(room_id)
        if room is None:
            return
        log.warning("room %s is held by another node now; closing its %d connection(s) here", room_id,
                    len(room.connections))
        for sid in list(room.connections):
            self.net.kick(sid)

    async def flush(self) -> None:
        """Wait until every room's latest state is written."""
        for room in list(self._rooms.values()):
            await room.flush()

    async def close(self) -> None:
        for room in list(self._rooms.values()):
            await room.close_panels()
