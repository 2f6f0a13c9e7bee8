"""The Socket.IO namespace: connections, joining and leaving, and the one dispatch of every request
in docs/protocol.md.

``Signaling.trigger_event`` is where each event arrives: it rate-limits the connection, looks the
event up (``join`` and ``leave`` here, everything else in ``server.handlers.HANDLERS``), validates
that the payload is a JSON object, checks that the connection has joined if the handler needs it,
builds an ``EventContext`` (``server.context``) and calls the handler. Every failure is answered the
same way: an ack ``{"ok": false, "error": {...}}`` plus an ``error`` event, and nothing changes on
the server. Permissions are decided by ``rooms.authorize``, never here.

The namespace keeps the connections (``sessions``) and what is about them alone: verifying a join
and taking over a connection that comes back. Everything about a room, joining and leaving it
included, is its ``LiveRoom``'s (``server.live_room``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

import socketio
from socketio import packet as socketio_packet

import media
from rooms.documents import DocumentError
from rooms.errors import DomainError, TokenError
from rooms.meeting import normalize_device_id
from rooms.stage import Stage

from . import validate
from .context import EventContext
from .errors import RequestError
from .handlers import HANDLERS, Handler
from .hub import Hub
from .live_room import LiveRooms
from .session import Admission, Session
from .validate import BadRequest

__all__ = ["Admission", "Session", "Signaling"]

log = logging.getLogger("sitroom.signaling")
MALFORMED = "malformed Socket.IO packet: an event is [\"name\", payload] in JSON"


class Signaling(socketio.AsyncNamespace):
    # The requests this namespace handles itself (they make and unmake participants); every other
    # one is in ``server.handlers.HANDLERS``.
    OWN_EVENTS = ("join", "leave")

    def __init__(self, hub: Hub, namespace: str = "/"):
        super().__init__(namespace)
        self.hub = hub
        self.sessions: dict[str, Session] = {}
        self.rooms = LiveRooms(hub, self)
        hub.live = self.rooms
        self.handlers: dict[str, Handler] = {
            **HANDLERS,
            "join": Handler(self.on_join, joined=False),
            "leave": Handler(self.on_leave, joined=False),
        }
        self.malformed_packets = 0  # packets python-socketio could not take (guard_packets)
        self.idle_closed = 0  # connections closed for sending no join in time (join_deadline_s)

    # ---- dispatch ---------------------------------------------------------------------------

    async def trigger_event(self, event: str, *args: Any) -> Any:
        # A client may send events named "connect" or "disconnect"; only python-socketio's own
        # life-cycle calls (a new sid; a sid already being disconnected) are treated as such.
        if event == "connect" and args[0] not in self.sessions:
            self.sessions[args[0]] = Session(args[0])
            # A connection that has not joined by then is closed: a client joins as soon as it
            # connects, and idle sockets would hold file descriptors until the server has none left.
            asyncio.get_running_loop().call_later(self.hub.config.join_deadline_s, self._join_overdue, args[0])
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
            if event == "join":
                session.joining = True
            try:
                result = await handler.fn(ctx, payload)
            finally:
                session.joining = False
            return {"ok": True, **(result or {})}
        except RequestError as exc:
            return await self._refuse(sid, event, exc.code, exc.message, exc.details)
        except (BadRequest, DomainError, DocumentError) as exc:
            return await self._refuse(sid, event, exc.code, exc.message, getattr(exc, "details", None))
        except media.SdpError as exc:
            return await self._refuse(sid, event, "bad_sdp", str(exc) or "bad SDP")
        except media.StaleRevision as exc:
            return await self._refuse(sid, event, "stale_revision", str(exc) or "stale revision")
        except media.WorkerError as exc:  # the room's media worker died meanwhile: media_reset follows
            log.warning("event %r from %s: media worker: %s", event, sid, exc)
            return await self._refuse(sid, event, "media_unavailable", "media is moving to another worker; try again")
        except Exception:  # noqa: BLE001 - one client's fault must not reach the others
            log.exception("event %r from %s failed", event, sid)
            return await self._refuse(sid, event, "internal", "internal error; nothing was changed")

    # ---- packets python-socketio cannot take ----------------------------------------------------

    def guard_packets(self) -> None:
        """python-socketio raises on a packet it cannot decode or dispatch (``42[]``: an event
        without a name; JSON nested a thousand deep; an object instead of a list), which
        python-engineio logs as a traceback, with no answer to the client. Each becomes a
        ``bad_request`` instead (an ack too, if the packet asked for one), within the
        connection's rate limit; past it, such packets are dropped without a word."""
        handle = self.server._handle_eio_message

        async def guarded(eio_sid: str, data: Any) -> None:
            try:
                await handle(eio_sid, data)
            except Exception as exc:  # noqa: BLE001 - the client's packet, not our fault
                await self._malformed(eio_sid, data, exc)

        self.server.eio.on("message", guarded)

    async def _malformed(self, eio_sid: str, data: Any, exc: Exception) -> None:
        self.malformed_packets += 1
        sid = self.server.manager.sid_from_eio_sid(eio_sid, self.namespace)
        session = self.sessions.get(sid) if sid is not None else None
        if session is None or not session.bucket.take():
            return
        log.info("malformed packet from %s (%s)", sid, type(exc).__name__)
        refusal = await self._refuse(sid, "", "bad_request", MALFORMED)
        ack = _ack_id(data)
        if ack is not None:
            try:
                await self.server._send_packet(eio_sid, self.server.packet_class(
                    socketio_packet.ACK, namespace=self.namespace, id=ack, data=[refusal]))
            except Exception:  # noqa: BLE001 - gone meanwhile
                pass

    def _context(self, session: Session) -> EventContext:
        return EventContext(session=session, hub=self.hub, emit=self.emit, rooms=self.rooms)

    async def _refuse(self, sid: str, event: Any, code: str, message: str, details: dict | None = None) -> dict:
        error = {"code": code, "message": message, **(details or {})}
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
            live = await self.rooms.load(room.id)  # (with what a previous run kept of it)
            meeting = live.open_meeting(room)
            decision = meeting.admission(admission.role, invite_id=admission.invite_id,
                                         device_id=admission.device_id, returning=admission.returning)
            # after the meeting's own refusals (a removed holder hears that it was removed)
            if claims.used_up and returning_id is None:  # (the join itself takes a use atomically)
                raise TokenError("invalid_token", "this invite has been used up")
            if decision == "lobby":
                return await live.wait_in_lobby(session, admission)
            result = await live.join(session, admission)
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

    # ---- leaving ----------------------------------------------------------------------------

    async def on_leave(self, ctx: EventContext, data: dict) -> dict:
        session = ctx.session
        if session.participant is None and session.lobby is None:
            raise RequestError("not_joined", "join the meeting first")
        await self._leave(session)
        return {}

    async def _leave(self, session: Session) -> None:
        room = self.rooms.get(session.room_id)
        if room is not None:
            await room.leave(session)

    def _join_overdue(self, sid: str) -> None:
        session = self.sessions.get(sid)
        if session is None or session.participant is not None or session.lobby is not None:
            return
        if session.joining:  # a join on its way (a slow database): look again a little later
            asyncio.get_running_loop().call_later(self.hub.config.join_deadline_s / 2, self._join_overdue, sid)
            return
        self.idle_closed += 1
        log.info("closing %s: no join within %.0f s", sid, self.hub.config.join_deadline_s)
        asyncio.ensure_future(self._close_connection(sid))

    async def _close_connection(self, sid: str) -> None:
        """Disconnect ``sid`` and close its Engine.IO connection: python-socketio's disconnect
        leaves the Engine.IO connection (and its socket) open for as long as the client answers
        pings, which a client that ignores the namespace's disconnect does for good."""
        eio_sid = self.server.manager.eio_sid_from_sid(sid, self.namespace)
        await self.server.disconnect(sid, namespace=self.namespace)
        if eio_sid is not None:
            await self._close_engineio(eio_sid)

    async def _close_engineio(self, eio_sid: str) -> None:
        """Close an Engine.IO connection at once, its WebSocket too: python-engineio 4.15 sends the close
        packet, then its WebSocket writer waits up to ping_interval + ping_timeout (20 s) for more
        before it closes the WebSocket (and aiohttp's shutdown waits for that); the writer is ended now."""
        socket = self.server.eio.sockets.get(eio_sid)
        if socket is None:
            return
        # Not python-engineio's disconnect, which waits until the close packet has been taken: a
        # long-polling client takes it only with its next poll, if it makes one (a stopping server
        # waited on that for good).
        await socket.close(wait=False)
        self.server.eio.sockets.pop(eio_sid, None)
        socket.queue.put_nowait(None)

    def guard_idle_connections(self) -> None:
        """The join deadline for an Engine.IO connection that never connects the namespace
        (no ``40``: no ``connect`` event, so ``_join_overdue`` never looks at it)."""
        connect = self.server._handle_eio_connect

        async def connected(eio_sid: str, environ: dict) -> Any:
            result = await connect(eio_sid, environ)
            asyncio.get_running_loop().call_later(self.hub.config.join_deadline_s, self._connect_overdue, eio_sid)
            return result

        self.server.eio.on("connect", connected)

    def _connect_overdue(self, eio_sid: str) -> None:
        if eio_sid not in self.server.eio.sockets:
            return
        if self.server.manager.sid_from_eio_sid(eio_sid, self.namespace) is not None:
            return  # the namespace is connected: _join_overdue decides
        self.idle_closed += 1
        log.info("closing Engine.IO connection %s: no Socket.IO connect within %.0f s", eio_sid,
                 self.hub.config.join_deadline_s)
        asyncio.ensure_future(self._close_engineio(eio_sid))

    async def _drop(self, sid: str) -> None:
        session = self.sessions.pop(sid, None)
        if session is not None:
            async with session.lock:
                try:
                    await self._leave(session)
                except Exception:  # noqa: BLE001
                    log.exception("cleanup of %s failed", sid)

    async def stop(self) -> None:
        """The server is stopping and will be back (SIGTERM): tell every client first
        (``server_restarting``: reconnect at once, and keep trying briskly), then close the
        connections. Nobody leaves a meeting: what the meetings decided stays kept, and each
        client comes back into its meeting on its resume key."""
        sids = list(self.sessions)
        for sid in sids:
            try:
                await self.emit("server_restarting", {}, to=sid)
            except Exception:  # noqa: BLE001 - a connection already gone
                pass
        for sid in sids:
            session = self.sessions.pop(sid, None)  # (not left: see above)
            try:
                if session is not None and session.participant is not None:
                    await self.hub.rooms.record_leave(session.participant.id)  # (their joins end now)
                # The whole Engine.IO connection, not only this namespace: the client's Socket.IO
                # then reconnects on its own (a namespace disconnect it would take as final).
                eio_sid = self.server.manager.eio_sid_from_sid(sid, self.namespace)
                if eio_sid is not None:
                    await self._close_engineio(eio_sid)
            except Exception:  # noqa: BLE001
                log.debug("closing %s at stop failed", sid, exc_info=True)
        log.info("stopping: told %d connection(s) to come back", len(sids))

    async def close(self) -> None:
        for sid in list(self.sessions):
            await self._drop(sid)
        await self.rooms.close()

    # ---- for the HTTP side (server.app, server.documents_api) ---------------------------------

    def session_by_key(self, key: str) -> Session | None:
        """The joined session an HTTP request speaks for (``Authorization: Bearer <session_key>``)."""
        for session in self.sessions.values():
            if session.participant is not None and secrets.compare_digest(session.key, key):
                return session
        return None

    def stage_of(self, room_id: str) -> Stage:
        return self.rooms.open(room_id).stage

    async def broadcast_documents(self, room_id: str) -> None:
        await self.rooms.open(room_id).broadcast_documents()

    # ---- for the live rooms (server.session.Network) ------------------------------------------

    def session(self, sid: str) -> Session | None:
        return self.sessions.get(sid)

    def kick(self, sid: str) -> None:
        """Close a connection after its last events were sent."""
        asyncio.ensure_future(self._kick(sid))

    async def _kick(self, sid: str) -> None:
        await asyncio.sleep(0.05)
        await self._drop(sid)
        await self.disconnect(sid)


def _ack_id(data: Any) -> int | None:
    """The ack id of an encoded event packet of the default namespace (``2<id>[...]``), if any."""
    if not isinstance(data, str) or not data.startswith("2"):
        return None
    digits = ""
    for char in data[1:20]:
        if not char.isdigit():
            break
        digits += char
    return int(digits) if digits else None

