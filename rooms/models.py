"""SQLAlchemy 2 declarative models: rooms, invites, participants.

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
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

ROLE_VALUES = ("host", "staff", "participant", "viewer")  # the values of rooms.grants.Role
_ROLE_CHECK = "role IN ('host', 'staff', 'participant', 'viewer')"

ROOM_ID_MAX = 64
TITLE_MAX = 120
NAME_MAX = 64
ORGANISATION_MAX = 80
LABEL_MAX = 80

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


def new_invite_id() -> str:
    return "i_" + secrets.token_hex(8)


def new_participant_id() -> str:
    return "p_" + secrets.token_hex(8)


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

    def __repr__(self) -> str:
        return f"Invite(id={self.id!r}, room_id={self.room_id!r}, role={self.role!r})"


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

    def __repr__(self) -> str:
        return f"Participant(id={self.id!r}, room_id={self.room_id!r}, name={self.name!r})"
