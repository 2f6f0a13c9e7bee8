"""What a Socket.IO event handler is given: one connection's ``Session`` and an ``EventContext``.

``server.signaling.Signaling`` keeps a ``Session`` per connection and, for each request, builds an
``EventContext`` and calls the handler registered for the event (``server.handlers.HANDLERS``). A
handler reads and changes the session, asks ``rooms`` and calls ``media`` through the hub, and reaches
the network only through the context's ``emit`` and ``apply``; it never sees the namespace.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Protocol

from rooms.authorize import Action, Actor, require
from rooms.meeting import LiveParticipant, LobbyEntry, Meeting
from rooms.moderation import ModerationResult

from .errors import RequestError
from .hub import Hub
from .ratelimit import TokenBucket


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


class Emit(Protocol):
    """python-socketio's ``emit``: to one connection (``to``) or a room (``room``, ``skip_sid``)."""

    def __call__(self, event: str, data: Any = None, *, to: str | None = None, room: str | None = None,
                 skip_sid: str | None = None) -> Awaitable[None]: ...


Apply = Callable[[Meeting, ModerationResult], Awaitable[None]]


@dataclass
class EventContext:
    """One request: who sent it, the app's objects, and how to reach the others."""

    session: Session
    hub: Hub
    emit: Emit
    # Carries out the network half of a moderation result (events, SFU pauses, admissions from the
    # lobby, disconnects), then persists it: ``Signaling.apply``.
    apply: Apply

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

    def meeting(self) -> Meeting:
        """The live meeting of the participant's room (``not_joined`` if there is none)."""
        meeting = self.hub.meetings.get(self.session.room_id) if self.session.room_id else None
        if meeting is None:
            raise RequestError("not_joined", "join the meeting first")
        return meeting

    def take_chat_token(self, message: str) -> None:
        """The per-connection chat and reactions limit (1/s, burst 5): ``rate_limited`` when spent."""
        if not self.session.chat_bucket.take():
            raise RequestError("rate_limited", message)
