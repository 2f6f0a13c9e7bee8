"""Meeting chat, persisted: one row per message in ``chat_messages``.

Messages are plain text. They are stored exactly as sent (after trimming surrounding white space) and
given back the same way: ``<b>`` is five characters, not bold. Clients must render them as text
(``textContent``), never as HTML. Rate limiting is the server's job.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from .db import Database
from .authorize import Action, Actor, require
from .errors import RoomNotFound, ValidationError
from .meeting import LiveParticipant, iso_utc
from .models import CHAT_TEXT_MAX, ChatMessage, Participant, Room, utcnow

HISTORY_LIMIT_MAX = 1000


def message_id(row_id: int) -> str:
    """The protocol id of a message row: ``m_<sequence>``."""
    return f"m_{row_id}"


def validate_text(value: object) -> str:
    """A chat message: a string of 1 to 2000 characters once trimmed, without NUL, encodable as
    UTF-8 (no lone surrogates). Anything else is a :class:`ValidationError` (``bad_request``)."""
    if not isinstance(value, str):
        raise ValidationError("'text' must be a string", "text")
    value = value.strip()
    if not value:
        raise ValidationError("'text' must not be empty", "text")
    if len(value) > CHAT_TEXT_MAX:
        raise ValidationError(f"'text' is longer than {CHAT_TEXT_MAX} characters", "text")
    if "\x00" in value:
        raise ValidationError("'text' contains a NUL character", "text")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("'text' is not valid Unicode", "text") from None
    return value


def message_dict(row: ChatMessage) -> dict[str, Any]:
    """The protocol's ChatMessage object."""
    return {
        "id": message_id(row.id),
        "participant_id": row.participant_id,
        "name": row.author_name,
        "role": row.author_role,
        "text": row.text,
        "sent_at": iso_utc(row.created_at),
    }


class ChatService:
    """Post and read a room's chat. ``clock`` returns the current aware UTC time."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow):
        self.db = db
        self.clock = clock

    async def post(self, room_id: str, participant: LiveParticipant, text: object) -> dict[str, Any]:
        """Store a message from ``participant`` and return the protocol object
        ``{"id", "participant_id", "name", "role", "text", "sent_at"}``.

        Raises :class:`Forbidden` if the participant's role may not chat (viewers),
        :class:`ValidationError` for bad text and :class:`RoomNotFound`. Nothing is stored on refusal.
        The author's name and role are copied into the row: the message keeps them after the
        participant leaves or changes role; ``participant_id`` is None if that participant has no row
        in the database (the server always records joins, so only in tests) or the row was deleted.
        """
        require(Actor.of(participant), Action.CHAT)
        text = validate_text(text)
        async with self.db.session() as session:
            if not isinstance(room_id, str) or await session.get(Room, room_id) is None:
                raise RoomNotFound(f"room {str(room_id)[:64]!r} does not exist")
            known = await session.get(Participant, participant.id)
            row = ChatMessage(
                room_id=room_id,
                participant_id=participant.id if known is not None else None,
                author_name=participant.name,
                author_role=str(participant.role),
                text=text,
                created_at=self.clock(),
            )
            session.add(row)
            await session.flush()  # the id
            return message_dict(row)

    async def history(self, room_id: str, limit: int = 200) -> list[dict[str, Any]]:
        """The last ``limit`` messages of the room (at most 1000), oldest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValidationError("'limit' must be a non-negative integer", "limit")
        limit = min(limit, HISTORY_LIMIT_MAX)
        if limit == 0:
            return []
        async with self.db.session() as session:
            rows = list(await session.scalars(
                select(ChatMessage).where(ChatMessage.room_id == room_id)
                .order_by(ChatMessage.id.desc()).limit(limit)
            ))
        return [message_dict(row) for row in reversed(rows)]
