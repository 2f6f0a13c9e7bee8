"""What a Socket.IO event handler is given: one connection's ``Session`` and an ``EventContext``.

``server.signaling.Signaling`` keeps a ``Session`` per connection and, for each request, builds an
``EventContext`` and calls the handler registered for the event (``server.handlers.HANDLERS``). A
handler reads and changes the session, asks ``rooms`` through the hub, acts on its live room
(``server.live_room.LiveRoom``: the meeting, the stage, the panels, the media peers), and reaches the
network only through the context's ``emit`` and the room; it never sees the namespace.
"""

from __future__ import annotations

from dataclasses import dataclass

from rooms.authorize import Action, Actor, require
from rooms.meeting import LiveParticipant, Meeting
from rooms.moderation import ModerationResult

from .errors import RequestError
from .hub import Hub
from .live_room import LiveRoom, LiveRooms
from .session import Admission, Emit, Session

__all__ = ["Admission", "Emit", "EventContext", "Session"]


@dataclass
class EventContext:
    """One request: who sent it, the app's objects, and how to reach the others."""

    session: Session
    hub: Hub
    emit: Emit
    rooms: LiveRooms

    @property
    def sid(self) -> str:
        return self.session.sid

    @property
    def room_id(self) -> str | None:
        return self.session.room_id

    @property
    def participant(self) -> LiveParticipant | None:
        return self.session.participant

    def require_joined(self) -> None:
        """Refuse (``not_joined``) unless the connection is a participant with its media peer."""
        if self.session.participant is None or self.session.peer is None:
            raise RequestError("not_joined", "join the meeting first")

    def require(self, action: Action) -> None:
        """Refuse (``forbidden``) unless the participant may ``action`` (``rooms.authorize``)."""
        require(Actor.of(self.session.participant), action)

    @property
    def room(self) -> LiveRoom:
        """The participant's live room (``not_joined`` if there is none)."""
        room = self.rooms.get(self.session.room_id)
        if room is None:
            raise RequestError("not_joined", "join the meeting first")
        return room

    def meeting(self) -> Meeting:
        """The live meeting of the participant's room (``not_joined`` if there is none)."""
        meeting = self.rooms.meeting(self.session.room_id)
        if meeting is None:
            raise RequestError("not_joined", "join the meeting first")
        return meeting

    async def apply(self, result: ModerationResult) -> None:
        """Carry out a moderation result (events, SFU pauses, admissions from the lobby,
        disconnects) and persist it: ``LiveRoom.apply``."""
        await self.room.apply(result)

    def take_chat_token(self, message: str) -> None:
        """The chat and reactions limits: the connection's (1/s, burst 5), the participant's and its
        invite's (LiveRoom.take_chat); ``rate_limited`` when one is spent."""
        if not self.session.chat_bucket.take() or not self.room.take_chat(self.participant):
            raise RequestError("rate_limited", message)
