"""Stored panels and documents (issue 5): the ``panels`` and ``documents`` tables, as plain dicts;
and each room's kept live state (issue 15): the ``room_states`` table.

This is storage only. What a valid panel is belongs to ``rooms.panels.spec.PanelSpec`` and what a
valid upload is to ``rooms.documents``; here values are checked only for type and size, so that
nothing the database would refuse (or store truncated) gets that far.

Panel rows: ``{"id", "room_id", "title", "kind", "source", "options", "created_by", "created_at",
"updated_at"}``; ``repo.create(**spec.to_dict(), created_by=...)`` stores a ``PanelSpec`` and
:func:`panel_spec_dict` gives back the fields ``PanelSpec.from_dict`` takes.

Document rows: ``{"id", "room_id", "title", "filename", "kind", "mime", "page_count", "page_sizes",
"status", "error", "size_bytes", "sha256", "storage_dir", "created_by", "created_at"}``.

Times are aware UTC ``datetime`` objects. Every method can be scoped to a room (``room_id=``): a
panel or document of another room is then treated as missing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from .db import Database
from .errors import RoomNotFound, ValidationError
from .models import (
    CREATED_BY_MAX,
    DOCUMENT_ERROR_MAX,
    DOCUMENT_KINDS,
    DOCUMENT_STATUSES,
    FILENAME_MAX,
    PANEL_KIND_MAX,
    STORAGE_DIR_MAX,
    TITLE_MAX,
    Document,
    Panel,
    Room,
    RoomState,
    new_document_id,
    new_panel_id,
    utcnow,
)

PANEL_SPEC_FIELDS = ("id", "room_id", "title", "kind", "source", "options")
JSON_MAX_BYTES = 64 * 1024
_SHA256_HEX = frozenset("0123456789abcdef")


def panel_spec_dict(row: dict[str, Any]) -> dict[str, Any]:
    """The fields of a panel row that ``PanelSpec.from_dict`` takes."""
    return {name: row[name] for name in PANEL_SPEC_FIELDS}


def _string(value: object, field: str, max_len: int, *, min_len: int = 1) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"'{field}' must be a string", field)
    if not min_len <= len(value) <= max_len:
        raise ValidationError(f"'{field}' must have {min_len} to {max_len} characters", field)
    if "\x00" in value:
        raise ValidationError(f"'{field}' contains a NUL character", field)
    return value


def _optional_string(value: object, field: str, max_len: int) -> str | None:
    return None if value is None else _string(value, field, max_len)


def _id(value: object, field: str) -> str:
    return _string(value, field, 32)


def _json(value: object, field: str, *, kind: type) -> Any:
    if not isinstance(value, kind):
        raise ValidationError(f"'{field}' must be a JSON {'object' if kind is dict else 'array'}", field)
    try:
        encoded = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        raise ValidationError(f"'{field}' must be plain JSON", field) from None
    if len(encoded.encode("utf-8", "replace")) > JSON_MAX_BYTES:
        raise ValidationError(f"'{field}' is larger than {JSON_MAX_BYTES} bytes", field)
    return json.loads(encoded)  # a copy


def _count(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"'{field}' must be a non-negative integer", field)
    return value


async def _require_room(session, room_id: object) -> None:
    if not isinstance(room_id, str) or await session.get(Room, room_id) is None:
        raise RoomNotFound(f"room {str(room_id)[:64]!r} does not exist")


def panel_dict(row: Panel) -> dict[str, Any]:
    return {
        "id": row.id, "room_id": row.room_id, "title": row.title, "kind": row.kind,
        "source": row.source, "options": row.options, "created_by": row.created_by,
        "created_at": row.created_at, "updated_at": row.updated_at,
    }


def document_dict(row: Document) -> dict[str, Any]:
    return {
        "id": row.id, "room_id": row.room_id, "title": row.title, "filename": row.filename,
        "kind": row.kind, "mime": row.mime, "page_count": row.page_count, "page_sizes": row.page_sizes,
        "status": row.status, "error": row.error, "size_bytes": row.size_bytes, "sha256": row.sha256,
        "storage_dir": row.storage_dir, "created_by": row.created_by, "created_at": row.created_at,
    }


class PanelRepository:
    """Create, list, get, update and delete stored panels."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow):
        self.db = db
        self.clock = clock

    async def create(self, room_id: str, title: str, kind: str, source: dict[str, Any],
                     options: dict[str, Any] | None = None, *, id: str | None = None,
                     created_by: str | None = None) -> dict[str, Any]:
        """Store a panel (a fresh 32-hex-digit id unless ``id`` is given). Raises
        :class:`RoomNotFound`, or :class:`ValidationError` (also for an id that is taken)."""
        panel_id = new_panel_id() if id is None else _id(id, "id")
        row = Panel(id=panel_id, room_id=room_id, title=_string(title, "title", TITLE_MAX),
                    kind=_string(kind, "kind", PANEL_KIND_MAX), source=_json(source, "source", kind=dict),
                    options=_json(options if options is not None else {}, "options", kind=dict),
                    created_by=_optional_string(created_by, "created_by", CREATED_BY_MAX))
        async with self.db.session() as session:
            await _require_room(session, room_id)
            if await session.get(Panel, panel_id) is not None:
                raise ValidationError(f"panel {panel_id!r} already exists", "id")
            row.created_at = row.updated_at = self.clock()
            session.add(row)
        return panel_dict(row)

    async def list(self, room_id: str) -> list[dict[str, Any]]:
        """The room's panels, oldest first."""
        async with self.db.session() as session:
            rows = await session.scalars(select(Panel).where(Panel.room_id == room_id)
                                         .order_by(Panel.created_at, Panel.id))
            return [panel_dict(row) for row in rows]

    async def _get(self, session, panel_id: object, room_id: str | None) -> Panel | None:
        if not isinstance(panel_id, str):
            return None
        row = await session.get(Panel, panel_id)
        if row is None or (room_id is not None and row.room_id != room_id):
            return None
        return row

    async def get(self, panel_id: str, *, room_id: str | None = None) -> dict[str, Any] | None:
        async with self.db.session() as session:
            row = await self._get(session, panel_id, room_id)
            return None if row is None else panel_dict(row)

    async def update(self, panel_id: str, *, room_id: str | None = None, title: str | None = None,
                     kind: str | None = None, source: dict[str, Any] | None = None,
                     options: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Change the fields that are given; ``updated_at`` moves on. None if there is no such panel."""
        changes: dict[str, Any] = {}
        if title is not None:
            changes["title"] = _string(title, "title", TITLE_MAX)
        if kind is not None:
            changes["kind"] = _string(kind, "kind", PANEL_KIND_MAX)
        if source is not None:
            changes["source"] = _json(source, "source", kind=dict)
        if options is not None:
            changes["options"] = _json(options, "options", kind=dict)
        async with self.db.session() as session:
            row = await self._get(session, panel_id, room_id)
            if row is None:
                return None
            for name, value in changes.items():
                setattr(row, name, value)
            row.updated_at = self.clock()
            await session.flush()
            return panel_dict(row)

    async def delete(self, panel_id: str, *, room_id: str | None = None) -> bool:
        """Delete a panel; True if there was one."""
        async with self.db.session() as session:
            row = await self._get(session, panel_id, room_id)
            if row is None:
                return False
            await session.delete(row)
            return True


class DocumentRepository:
    """Create, update the status of, list, get and delete stored documents."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow):
        self.db = db
        self.clock = clock

    async def create(self, room_id: str, *, title: str, filename: str, kind: str, size_bytes: int,
                     sha256: str, storage_dir: str, page_count: int = 0, status: str = "processing",
                     mime: str | None = None, page_sizes: list | None = None, created_by: str | None = None,
                     id: str | None = None) -> dict[str, Any]:
        """Store a document row (``status`` ``"processing"`` by default; a fresh ``d_...`` id unless
        ``id`` is given). ``kind`` is one of ``pdf``, ``image``, ``png``, ``jpeg``."""
        if kind not in DOCUMENT_KINDS:
            raise ValidationError(f"'kind' must be one of {', '.join(DOCUMENT_KINDS)}", "kind")
        if status not in DOCUMENT_STATUSES:
            raise ValidationError(f"'status' must be one of {', '.join(DOCUMENT_STATUSES)}", "status")
        if not isinstance(sha256, str) or len(sha256) != 64 or not set(sha256) <= _SHA256_HEX:
            raise ValidationError("'sha256' must be 64 lower-case hex digits", "sha256")
        document_id = new_document_id() if id is None else _id(id, "id")
        row = Document(
            id=document_id, room_id=room_id, title=_string(title, "title", TITLE_MAX),
            filename=_string(filename, "filename", FILENAME_MAX), kind=kind,
            mime=_optional_string(mime, "mime", 64), page_count=_count(page_count, "page_count"),
            page_sizes=None if page_sizes is None else _json(page_sizes, "page_sizes", kind=list),
            status=status, error=None, size_bytes=_count(size_bytes, "size_bytes"), sha256=sha256,
            storage_dir=_string(storage_dir, "storage_dir", STORAGE_DIR_MAX),
            created_by=_optional_string(created_by, "created_by", CREATED_BY_MAX),
        )
        async with self.db.session() as session:
            await _require_room(session, room_id)
            if await session.get(Document, document_id) is not None:
                raise ValidationError(f"document {document_id!r} already exists", "id")
            row.created_at = self.clock()
            session.add(row)
        return document_dict(row)

    async def update_status(self, document_id: str, status: str, *, error: str | None = None,
                            page_count: int | None = None, page_sizes: list | None = None,
                            room_id: str | None = None) -> dict[str, Any] | None:
        """Set the status (``processing``, ``ready``, ``failed``); ``error`` is kept only with
        ``failed`` (truncated to 500 characters) and cleared otherwise. None if there is no such
        document."""
        if status not in DOCUMENT_STATUSES:
            raise ValidationError(f"'status' must be one of {', '.join(DOCUMENT_STATUSES)}", "status")
        if error is not None:
            if not isinstance(error, str):
                raise ValidationError("'error' must be a string", "error")
            error = error.replace("\x00", "")[:DOCUMENT_ERROR_MAX]
        if page_count is not None:
            page_count = _count(page_count, "page_count")
        if page_sizes is not None:
            page_sizes = _json(page_sizes, "page_sizes", kind=list)
        async with self.db.session() as session:
            row = await self._get(session, document_id, room_id)
            if row is None:
                return None
            row.status = status
            row.error = error if status == "failed" else None
            if page_count is not None:
                row.page_count = page_count
            if page_sizes is not None:
                row.page_sizes = page_sizes
            await session.flush()
            return document_dict(row)

    async def list(self, room_id: str, *, status: str | None = None) -> list[dict[str, Any]]:
        """The room's documents, oldest first (only those with ``status`` if given)."""
        query = select(Document).where(Document.room_id == room_id)
        if status is not None:
            query = query.where(Document.status == status)
        async with self.db.session() as session:
            rows = await session.scalars(query.order_by(Document.created_at, Document.id))
            return [document_dict(row) for row in rows]

    async def unfinished(self) -> list[dict[str, Any]]:
        """Every room's documents still ``processing`` (at start-up: what a stopped run left)."""
        async with self.db.session() as session:
            rows = await session.scalars(select(Document).where(Document.status == "processing"))
            return [document_dict(row) for row in rows]

    async def _get(self, session, document_id: object, room_id: str | None) -> Document | None:
        if not isinstance(document_id, str):
            return None
        row = await session.get(Document, document_id)
        if row is None or (room_id is not None and row.room_id != room_id):
            return None
        return row

    async def get(self, document_id: str, *, room_id: str | None = None) -> dict[str, Any] | None:
        async with self.db.session() as session:
            row = await self._get(session, document_id, room_id)
            return None if row is None else document_dict(row)

    async def delete(self, document_id: str, *, room_id: str | None = None) -> dict[str, Any] | None:
        """Delete the row and return it (the caller removes ``storage_dir``); None if missing."""
        async with self.db.session() as session:
            row = await self._get(session, document_id, room_id)
            if row is None:
                return None
            result = document_dict(row)
            await session.delete(row)
            return result


class RoomStateRepository:
    """A room's live state that outlives the process: its stage and its meeting's snapshot
    (``Meeting.snapshot``), each a JSON object, rewritten whole on every change."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow):
        self.db = db
        self.clock = clock

    async def get(self, room_id: str) -> dict[str, Any] | None:
        """``{"stage": {...} | None, "meeting": {...} | None, "updated_at": ...}``, or None if the
        room has kept nothing yet."""
        async with self.db.session() as session:
            row = await session.get(RoomState, room_id)
            if row is None:
                return None
            return {"stage": row.stage, "meeting": row.meeting, "updated_at": row.updated_at}

    async def save(self, room_id: str, *, stage: dict[str, Any], meeting: dict[str, Any]) -> None:
        """Keep the room's stage and meeting snapshot (a room that no longer exists keeps nothing)."""
        stage = _json(stage, "stage", kind=dict)
        meeting = _json(meeting, "meeting", kind=dict)
        async with self.db.session() as session:
            if await session.get(Room, room_id) is None:
                return
            row = await session.get(RoomState, room_id)
            if row is None:
                row = RoomState(room_id=room_id)
                session.add(row)
            row.stage, row.meeting, row.updated_at = stage, meeting, self.clock()
