"""The meeting timeline: who joined, left, was muted, removed, promoted; locks, the lobby, the stage.

A persisted audit trail (``timeline_events``), one row per event, for hosts and staff and for the
minutes. Participants are named by id *and* by name, copied into the row: the record stays readable
after they leave. ``actor_id``/``target_id`` are not foreign keys (a target may be a lobby entry).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from .db import Database
from .errors import RoomNotFound, ValidationError
from .meeting import iso_utc
from .models import NAME_MAX, TIMELINE_KIND_MAX, Room, TimelineEvent, utcnow

# The kinds rooms/ and server/ record; others are accepted if they match KIND_RE.
KINDS = frozenset({
    "join", "leave", "mute", "mute_all", "allow_unmute", "remove", "promote", "demote", "transfer_host",
    "lock", "unlock", "lobby_on", "lobby_off", "lobby_admit", "lobby_deny", "lower_hand",
    "self_unmute_on", "self_unmute_off", "end", "stage", "recording_start", "recording_stop",
})
KIND_RE = re.compile(r"[a-z][a-z0-9_]{0,%d}" % (TIMELINE_KIND_MAX - 1))
DETAILS_MAX_BYTES = 4096
LIST_LIMIT_MAX = 5000


def _person(value: Any, field: str) -> tuple[str | None, str | None]:
    """``(id, name)`` of a LiveParticipant, LobbyEntry, ``{"id", "name"}`` dict or None."""
    if value is None:
        return None, None
    if isinstance(value, dict):
        pid, name = value.get("id"), value.get("name")
    else:
        pid, name = getattr(value, "id", None), getattr(value, "name", None)
    if pid is not None and (not isinstance(pid, str) or len(pid) > 32):
        raise ValidationError(f"'{field}' id must be a string of at most 32 characters", field)
    if name is not None:
        if not isinstance(name, str):
            raise ValidationError(f"'{field}' name must be a string", field)
        name = name[:NAME_MAX]
    return pid, name


def _details(details: Any) -> dict[str, Any] | None:
    if details is None:
        return None
    if not isinstance(details, dict):
        raise ValidationError("'details' must be an object", "details")
    try:
        encoded = json.dumps(details, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        raise ValidationError("'details' must be plain JSON", "details") from None
    if len(encoded.encode("utf-8", "replace")) > DETAILS_MAX_BYTES:
        raise ValidationError(f"'details' is larger than {DETAILS_MAX_BYTES} bytes", "details")
    return json.loads(encoded)  # a copy the caller cannot change behind our back


def event_dict(row: TimelineEvent) -> dict[str, Any]:
    """One timeline event as JSON: ``{"id", "kind", "actor_id", "actor_name", "target_id",
    "target_name", "details", "at"}`` (``details`` is ``{}`` when there are none)."""
    return {
        "id": row.id,
        "kind": row.kind,
        "actor_id": row.actor_id,
        "actor_name": row.actor_name,
        "target_id": row.target_id,
        "target_name": row.target_name,
        "details": row.details or {},
        "at": iso_utc(row.created_at),
    }


class Timeline:
    """Record and read a room's timeline. ``clock`` returns the current aware UTC time."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow):
        self.db = db
        self.clock = clock

    async def record(self, room_id: str, kind: str, actor: Any = None, target: Any = None,
                     details: dict[str, Any] | None = None) -> dict[str, Any]:
        """Store one event and return it (see :func:`event_dict`).

        ``actor`` and ``target`` are a ``LiveParticipant``, a ``LobbyEntry``, a ``{"id", "name"}``
        dict or None (``actor=None``: the system). ``kind`` is lower-case ``[a-z0-9_]``, at most 32
        characters (see :data:`KINDS`); ``details`` a JSON object of at most 4 KiB.
        """
        if not isinstance(kind, str) or not KIND_RE.fullmatch(kind):
            raise ValidationError("'kind' must be 1-32 characters of a-z, 0-9 and '_'", "kind")
        actor_id, actor_name = _person(actor, "actor")
        target_id, target_name = _person(target, "target")
        details = _details(details)
        async with self.db.session() as session:
            if not isinstance(room_id, str) or await session.get(Room, room_id) is None:
                raise RoomNotFound(f"room {str(room_id)[:64]!r} does not exist")
            row = TimelineEvent(room_id=room_id, kind=kind, actor_id=actor_id, actor_name=actor_name,
                                target_id=target_id, target_name=target_name, details=details,
                                created_at=self.clock())
            session.add(row)
            await session.flush()
            return event_dict(row)

    async def list(self, room_id: str, limit: int = 500) -> list[dict[str, Any]]:
        """The last ``limit`` events of the room (at most 5000), oldest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValidationError("'limit' must be a non-negative integer", "limit")
        limit = min(limit, LIST_LIMIT_MAX)
        if limit == 0:
            return []
        async with self.db.session() as session:
            rows = list(await session.scalars(
                select(TimelineEvent).where(TimelineEvent.room_id == room_id)
                .order_by(TimelineEvent.id.desc()).limit(limit)
            ))
        return [event_dict(row) for row in reversed(rows)]
