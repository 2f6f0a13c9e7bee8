"""What one Socket.IO connection is to the server (``Session``), what a verified join carries until
it becomes a participant (``Admission``), and what a live room needs from the socket layer
(``Network``: python-socketio's ``emit`` and rooms, and closing a connection).

A module of its own below ``server.live_room`` and ``server.context``, which both use it.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from typing import Any, Awaitable, Protocol

from rooms.meeting import LiveParticipant, LobbyEntry

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
    joining: bool = False  # a join is being handled (Signaling closes a connection that never joins)
    # subscribe_prefs: the (publisher id, source) pairs this subscriber asked not to receive.
    video_paused: set[tuple[str, str]] = field(default_factory=set)

    @property
    def role(self) -> str | None:
        return self.participant.role if self.participant else None


class Emit(Protocol):
    """python-socketio's ``emit``: to one connection (``to``) or a room (``room``, ``skip_sid``)."""

    def __call__(self, event: str, data: Any = None, *, to: str | None = None, room: str | None = None,
                 skip_sid: str | None = None) -> Awaitable[None]: ...


class Network(Protocol):
    """What a ``LiveRoom`` needs from the Socket.IO namespace (``server.signaling.Signaling``)."""

    emit: Emit

    def session(self, sid: str) -> "Session | None":
        """The open connection ``sid``, if it still is."""

    async def enter_room(self, sid: str, room: str) -> None: ...

    async def leave_room(self, sid: str, room: str) -> None: ...

    def kick(self, sid: str) -> None:
        """Close the connection ``sid`` once the events already queued for it are sent."""
