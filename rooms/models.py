"""SQLAlchemy 2 declarative models: rooms, invites, participants, and the collaboration tables
(chat messages, the meeting timeline, panels and documents).

The schema itself is created by the hand-written Alembic migrations in ``migrations/versions``;
these models must match them (``tests/test_rooms_persistence.py`` compares the two).

Every timestamp is a timezone-aware UTC ``datetime`` in Python. PostgreSQL stores
``timestamp with time zone``; SQLite has no such type, so the value is stored as naive UTC text and
given back its UTC zone when read (:class:`UTCDateTime`).
"""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

ROLE_VALUES = ("host", "staff", "participant", "viewer")  # the values of rooms.authorize.Role
_ROLE_CHECK = "role IN ('host', 'staff', 'participant', 'viewer')"

ROOM_ID_MAX = 64
TITLE_MAX = 120
NAME_MAX = 64
ORGANISATION_MAX = 80
LABEL_MAX = 80
CHAT_TEXT_MAX = 2000
TIMELINE_KIND_MAX = 32
PANEL_KIND_MAX = 16
FILENAME_MAX = 255
STORAGE_DIR_MAX = 1024
DOCUMENT_ERROR_MAX = 500
CREATED_BY_MAX = 64
CITY_MAX = 32
INVITE_CODE_FIELD = 16
TIME_ZONE_MAX = 64  # an IANA zone name (America/Argentina/ComodRivadavia is 32)
DELEGATION_NAME_MAX = 80
DELEGATION_CITY_MAX = 80

DOCUMENT_KINDS = ("pdf", "image", "png", "jpeg")
DOCUMENT_STATUSES = ("processing", "ready", "failed")
_DOCUMENT_KIND_CHECK = "kind IN ('pdf', 'image', 'png', 'jpeg')"
_DOCUMENT_STATUS_CHECK = "status IN ('processing', 'ready', 'failed')"

_ID_ALPHABET = string.ascii_lowercase + string.digits

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_room_id() -> str:
    """A short random room id such as ``k3x9pq2m`` (36^8, about 2.8e12 values)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


# Invite codes: 9 characters from 31 that cannot be mistaken for one another (no 0/O, 1/I/L),
# shown in groups of three: K7M-4PD-Q2R. 31^9 is about 2.6e13.
INVITE_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
INVITE_CODE_LENGTH = 9


def new_invite_code() -> str:
    raw = "".join(secrets.choice(INVITE_CODE_ALPHABET) for _ in range(INVITE_CODE_LENGTH))
    return "-".join(raw[i:i + 3] for i in range(0, INVITE_CODE_LENGTH, 3))


def new_invite_id() -> str:
    return "i_" + secrets.token_hex(8)


def new_delegation_id() -> str:
    return "g_" + secrets.token_hex(8)


def new_participant_id() -> str:
    return "p_" + secrets.token_hex(8)


def new_panel_id() -> str:
    """The same shape as ``rooms.panels.spec.PanelSpec.new`` ids: 32 hex digits."""
    return secrets.token_hex(16)


def new_document_id() -> str:
    return "d_" + secrets.token_hex(8)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC ``datetime`` on every backend. Naive values are refused on the way in."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: Sitroom stores timezone-aware UTC datetimes only")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Room(Base):
    __tablename__ = "rooms"

    id: Mapped[str] = mapped_column(String(ROOM_ID_MAX), primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    locked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    lobby_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Whether a participant the host muted may unmute again without asking (0002).
    allow_self_unmute: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # When a host last ended the meeting in this room (0002); the room itself stays usable.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The built-in city its simulated panels default to, and when the meeting is planned (0003).
    city: Mapped[str | None] = mapped_column(String(CITY_MAX))
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A scheduled meeting's agenda and the IANA zone its organiser scheduled it in; when a host
    # opened it (early or not: delegations' invites are let in before their not_before from then);
    # how many days its meeting record and recordings are kept (null: for ever; rooms.retention) (0006).
    agenda: Mapped[str | None] = mapped_column(Text)
    time_zone: Mapped[str | None] = mapped_column(String(TIME_ZONE_MAX))
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    record_retention_days: Mapped[int | None] = mapped_column(Integer)

    def __repr__(self) -> str:
        return f"Room(id={self.id!r}, title={self.title!r})"


class Invite(Base):
    __tablename__ = "invites"
    __table_args__ = (CheckConstraint(_ROLE_CHECK, name="role"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_invite_id)
    room_id: Mapped[str] = mapped_column(
        String(ROOM_ID_MAX), ForeignKey("rooms.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(LABEL_MAX))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    max_uses: Mapped[int | None] = mapped_column(Integer)
    # Joins made with it so far (0004): a new join takes a use only while uses < max_uses (one
    # conditional UPDATE, atomic on SQLite and PostgreSQL); coming back on a resume key takes none.
    uses: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # A short code a person can type instead of the link (the participant invite's; 0003).
    code: Mapped[str | None] = mapped_column(String(INVITE_CODE_FIELD), index=True, unique=True)
    # Refused before this time (``not_yet_open``) unless a host opened the room (0006).
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"Invite(id={self.id!r}, room_id={self.room_id!r}, role={self.role!r})"


class Delegation(Base):
    """One invited delegation of a scheduled meeting ("Lisbon City Hall"): its city, the IANA zone
    its invitation gives times in, its role and seats, and its own invite (``max_uses`` = seats)."""

    __tablename__ = "delegations"
    __table_args__ = (
        CheckConstraint(_ROLE_CHECK, name="role"),
        CheckConstraint("seats >= 1", name="seats"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_delegation_id)
    room_id: Mapped[str] = mapped_column(
        String(ROOM_ID_MAX), ForeignKey("rooms.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # the organiser's order
    name: Mapped[str] = mapped_column(String(DELEGATION_NAME_MAX))
    city: Mapped[str] = mapped_column(String(DELEGATION_CITY_MAX), default="", server_default="")
    time_zone: Mapped[str] = mapped_column(String(TIME_ZONE_MAX))
    role: Mapped[str] = mapped_column(String(16))
    seats: Mapped[int] = mapped_column(Integer)
    invite_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("invites.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"Delegation(id={self.id!r}, room_id={self.room_id!r}, name={self.name!r})"


class Participant(Base):
    """One join of one person: a row per join, closed by ``left_at``."""

    __tablename__ = "participants"
    __table_args__ = (
        CheckConstraint(_ROLE_CHECK, name="role"),
        Index("ix_participants_room_id_left_at", "room_id", "left_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_participant_id)
    room_id: Mapped[str] = mapped_column(
        String(ROOM_ID_MAX), ForeignKey("rooms.id", ondelete="CASCADE")
    )
    invite_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("invites.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    organisation: Mapped[str] = mapped_column(String(ORGANISATION_MAX), default="", server_default="")
    role: Mapped[str] = mapped_column(String(16))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Removed from the meeting by a host or staff member (0002).
    removed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    def __repr__(self) -> str:
        return f"Participant(id={self.id!r}, room_id={self.room_id!r}, name={self.name!r})"


class ChatMessage(Base):
    """One chat message, stored and given back as plain text (never HTML)."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        CheckConstraint("author_role IN ('host', 'staff', 'participant', 'viewer')", name="author_role"),
        Index("ix_chat_messages_room_id_id", "room_id", "id"),
    )

    # An integer sequence: the order of insertion is the order of the conversation.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    room_id: Mapped[str] = mapped_column(
        String(ROOM_ID_MAX), ForeignKey("rooms.id", ondelete="CASCADE")
    )
    participant_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("participants.id", ondelete="SET NULL"), index=True
    )
    author_name: Mapped[str] = mapped_column(String(NAME_MAX))
    author_role: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(String(CHAT_TEXT_MAX))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"ChatMessage(id={self.id!r}, room_id={self.room_id!r}, author_name={self.author_name!r})"


class TimelineEvent(Base):
    """One moderation or meeting event. ``actor_id``/``target_id`` are plain strings (participant or
    lobby ids), not foreign keys: the record outlives the rows it names."""

    __tablename__ = "timeline_events"
    __table_args__ = (Index("ix_timeline_events_room_id_id", "room_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    room_id: Mapped[str] = mapped_column(
        String(ROOM_ID_MAX), ForeignKey("rooms.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(TIMELINE_KIND_MAX))
    actor_id: Mapped[str | None] = mapped_column(String(32))
    actor_name: Mapped[str | None] = mapped_column(String(NAME_MAX))
    target_id: Mapped[str | None] = mapped_column(String(32))
    target_name: Mapped[str | None] = mapped_column(String(NAME_MAX))
    details: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"TimelineEvent(id={self.id!r}, room_id={self.room_id!r}, kind={self.kind!r})"


class Panel(Base):
    """A live data panel's stored definition (see ``rooms.panels.spec.PanelSpec``)."""

    __tablename__ = "panels"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_panel_id)
    room_id: Mapped[str] = mapped_column(
        String(ROOM_ID_MAX), ForeignKey("rooms.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    kind: Mapped[str] = mapped_column(String(PANEL_KIND_MAX))
    source: Mapped[dict] = mapped_column(JSON)
    options: Mapped[dict] = mapped_column(JSON)
    created_by: Mapped[str | None] = mapped_column(String(CREATED_BY_MAX))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"Panel(id={self.id!r}, room_id={self.room_id!r}, kind={self.kind!r})"


class Document(Base):
    """An uploaded document (PDF or image) shown on the stage; its files live in ``storage_dir``."""

    __tablename__ = "documents"
    __table_args__ = (
        CheckConstraint(_DOCUMENT_KIND_CHECK, name="kind"),
        CheckConstraint(_DOCUMENT_STATUS_CHECK, name="status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_document_id)
    room_id: Mapped[str] = mapped_column(
        String(ROOM_ID_MAX), ForeignKey("rooms.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    filename: Mapped[str] = mapped_column(String(FILENAME_MAX))
    kind: Mapped[str] = mapped_column(String(16))
    mime: Mapped[str | None] = mapped_column(String(64))
    page_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    page_sizes: Mapped[list | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="processing", server_default="processing")
    error: Mapped[str | None] = mapped_column(String(DOCUMENT_ERROR_MAX))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_dir: Mapped[str] = mapped_column(String(STORAGE_DIR_MAX))
    created_by: Mapped[str | None] = mapped_column(String(CREATED_BY_MAX))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"Document(id={self.id!r}, room_id={self.room_id!r}, status={self.status!r})"


class RoomState(Base):
    """What a room's live meeting decided that must outlive the server process (issue 15): the
    stage (``rooms.stage.Stage.to_dict``) and the meeting's raised hands and held mutes
    (``rooms.meeting.Meeting.snapshot``). One row per room, rewritten as they change."""

    __tablename__ = "room_states"

    room_id: Mapped[str] = mapped_column(
        String(ROOM_ID_MAX), ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True
    )
    stage: Mapped[dict | None] = mapped_column(JSON)
    meeting: Mapped[dict | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"RoomState(room_id={self.room_id!r})"
