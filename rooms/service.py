"""Rooms, invites and participants in the database: the persistent half of the domain."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from . import tokens
from .db import Database
from .errors import NotYetOpen, RoomNotFound, TokenError, ValidationError
from .authorize import Role
from .meeting import RemovedFromMeeting, iso_utc
from .panels.cities import CITIES
from .models import (
    LABEL_MAX,
    NAME_MAX,
    ORGANISATION_MAX,
    INVITE_CODE_ALPHABET,
    INVITE_CODE_LENGTH,
    ROOM_ID_MAX,
    TITLE_MAX,
    Delegation,
    Invite,
    Participant,
    Room,
    new_invite_code,
    new_room_id,
    utcnow,
)

# Chosen ids ("demo", "paris-2026") and generated ones ("k3x9pq2m") alike: URL-safe, lower case.
ROOM_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,%d}" % (ROOM_ID_MAX - 1))
DEFAULT_LABELS = {Role.HOST: "Host link", Role.PARTICIPANT: "Participant link"}
_UNSET = object()
# How long after a dropped connection a client may come back as the same person (its role kept):
# long enough for a network change or a laptop lid, short enough that a stale key is worthless.
RESUME_WINDOW = timedelta(minutes=15)
_RESUME_CONTEXT = b"sitroom-resume-v1:"  # a resume key's MAC can never be an invite token's
RESUME_KEY_MAX = 128
# A room's record_retention_days (rooms/retention.py deletes its records and recordings that much
# older): whole days from 1 to about ten years, or None (null), kept for ever.
MIN_RETENTION_DAYS = 1
MAX_RETENTION_DAYS = 3650


@dataclass(frozen=True, slots=True)
class InviteClaims:
    """What a verified invite token grants."""

    room_id: str
    role: Role
    invite_id: str
    label: str | None
    max_uses: int | None = None
    used_up: bool = False  # every use taken: only a holder coming back on its resume key gets in
    not_before: datetime | None = None  # (a scheduled meeting's invite) refused before, unless opened

    @property
    def personal(self) -> bool:
        """A personal invite (``max_uses == 1``): removing its holder blocks the invite (see
        ``rooms.meeting``, "Removal")."""
        return self.max_uses == 1


def text_field(value: object, field: str, *, min_len: int, max_len: int) -> str:
    """A text field of a request, stripped: a string of ``min_len`` to ``max_len`` characters
    without NUL; else :class:`ValidationError` naming ``field``."""
    if not isinstance(value, str):
        raise ValidationError(f"'{field}' must be a string", field)
    value = value.strip()
    if not value and min_len > 0:
        raise ValidationError(f"'{field}' is required", field)
    if len(value) < min_len:
        raise ValidationError(f"'{field}' must have at least {min_len} characters", field)
    if len(value) > max_len:
        raise ValidationError(f"'{field}' is longer than {max_len} characters", field)
    if "\x00" in value:
        raise ValidationError(f"'{field}' contains a NUL character", field)
    return value


def retention_days(value: object, field: str = "record_retention_days") -> int | None:
    """A room's retention as given: None (keep for ever) or whole days from
    :data:`MIN_RETENTION_DAYS` to :data:`MAX_RETENTION_DAYS`; else :class:`ValidationError`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_RETENTION_DAYS <= value <= MAX_RETENTION_DAYS:
        raise ValidationError(f"'{field}' must be a whole number of days from {MIN_RETENTION_DAYS} to "
                              f"{MAX_RETENTION_DAYS}, or null to keep the meeting's record for ever "
                              f"(not {str(value)[:32]!r})", field)
    return value


def _role(value: object) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise ValidationError(f"unknown role {str(value)[:32]!r}", "role") from None


def _city(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in CITIES:
        raise ValidationError(f"unknown city {str(value)[:32]!r}; known: {', '.join(CITIES)}", "city")
    return value


def _schedule(starts_at: object, ends_at: object) -> tuple[datetime | None, datetime | None]:
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
            raise ValidationError(f"'{name}' must be a time with its zone", name)
    if ends_at is not None and starts_at is None:
        raise ValidationError("'ends_at' needs 'starts_at'", "ends_at")
    if ends_at is not None and ends_at <= starts_at:
        raise ValidationError("the meeting must end after it starts", "ends_at")
    return starts_at, ends_at


def normalize_code(value: object) -> str | None:
    """``k7m 4pd-q2r`` -> ``K7M-4PD-Q2R``; None when it cannot be an invite code."""
    if not isinstance(value, str) or len(value) > 32:
        return None
    raw = re.sub(r"[\s\-.]", "", value).upper()
    if len(raw) != INVITE_CODE_LENGTH or any(c not in INVITE_CODE_ALPHABET for c in raw):
        return None
    return "-".join(raw[i:i + 3] for i in range(0, INVITE_CODE_LENGTH, 3))


def _room_id(value: object) -> str:
    if not isinstance(value, str) or not ROOM_ID_RE.fullmatch(value):
        raise ValidationError(
            "a room id is 1-64 characters of a-z, 0-9, '-' and '_', starting with a letter or digit",
            "room_id",
        )
    return value


async def _find_room(session: AsyncSession, room_id: object) -> Room:
    room = None
    if isinstance(room_id, str) and ROOM_ID_RE.fullmatch(room_id):
        room = await session.get(Room, room_id)
    if room is None:
        raise RoomNotFound(f"room {str(room_id)[:64]!r} does not exist")
    return room


class RoomService:
    """Create rooms and invites, verify invite tokens against the database, record joins/leaves.

    ``clock`` returns the current aware UTC time (tests pass their own).
    """

    def __init__(self, db: Database, secret: bytes, *, clock: Callable[[], datetime] = utcnow):
        if not isinstance(secret, (bytes, bytearray)) or not secret:
            raise ValueError("the token secret must be non-empty bytes")
        self.db = db
        self.secret = bytes(secret)
        self.clock = clock

    # ---- rooms ----------------------------------------------------------------------------------

    async def create_room(self, title: str, room_id: str | None = None, *, city: str | None = None,
                          starts_at: datetime | None = None, ends_at: datetime | None = None,
                          record_retention_days: int | None = None) -> tuple[Room, dict[str, str]]:
        """Create a room with one host and one participant invite (no expiry), and optionally its
        city (a built-in city's id), planned start and end, and how many days its record is kept
        (:func:`retention_days`; None: for ever).

        Returns the room and ``{"host": token, "participant": token}``.
        """
        title = text_field(title, "title", min_len=1, max_len=TITLE_MAX)
        if room_id is not None:
            room_id = _room_id(room_id)
        city = _city(city)
        starts_at, ends_at = _schedule(starts_at, ends_at)
        record_retention_days = retention_days(record_retention_days)
        for _attempt in range(5):
            candidate = room_id or new_room_id()
            try:
                async with self.db.session() as session:
                    room = Room(id=candidate, title=title, created_at=self.clock(), city=city,
                                starts_at=starts_at, ends_at=ends_at, record_retention_days=record_retention_days)
                    session.add(room)
                    await session.flush()  # the primary key is taken here, or IntegrityError
                    invites = self._default_invites(session, room)
                return room, {role.value: self.invite_token(inv) for role, inv in invites.items()}
            except IntegrityError:
                if room_id is not None:
                    raise ValidationError(f"room id {room_id!r} is already taken", "room_id") from None
        raise RuntimeError("could not find a free room id")

    async def ensure_room(self, room_id: str, title: str, *, city: str | None = None) -> tuple[Room, dict[str, str]]:
        """Create the room if it does not exist; idempotent (the demo room).

        For an existing room, returns fresh tokens for its default invites: the oldest unrevoked,
        unlimited invite of each role; a new one is made if there is none (e.g. after revoking).
        """
        room_id = _room_id(room_id)
        title = text_field(title, "title", min_len=1, max_len=TITLE_MAX)
        city = _city(city)
        for attempt in range(3):
            try:
                async with self.db.session() as session:
                    room = await session.get(Room, room_id)
                    if room is None:
                        room = Room(id=room_id, title=title, created_at=self.clock(), city=city)
                        session.add(room)
                        await session.flush()
                        invites = self._default_invites(session, room)
                    else:
                        invites = {role: await self._default_invite(session, room, role)
                                   for role in DEFAULT_LABELS}
                return room, {role.value: self.invite_token(inv) for role, inv in invites.items()}
            except IntegrityError:
                if attempt == 2:  # not a race with another process: a real fault
                    raise
        raise AssertionError("unreachable")

    async def _default_invite(self, session: AsyncSession, room: Room, role: Role) -> Invite:
        invite = await session.scalar(
            select(Invite)
            .where(Invite.room_id == room.id, Invite.role == role.value,
                   Invite.revoked_at.is_(None), Invite.expires_at.is_(None), Invite.max_uses.is_(None))
            .order_by(Invite.created_at, Invite.id)
            .limit(1)
        )
        return invite or self._default_invites(session, room, [role])[role]

    async def invite_code(self, room_id: str) -> str:
        """The room's typed code: its default participant invite's, made on first use."""
        for attempt in range(5):
            try:
                async with self.db.session() as session:
                    room = await _find_room(session, room_id)
                    invite = await self._default_invite(session, room, Role.PARTICIPANT)
                    if invite.code is None:
                        invite.code = new_invite_code()
                        await session.flush()  # a taken code raises IntegrityError here
                    return invite.code
            except IntegrityError:
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    async def resolve_code(self, code: object) -> tuple[Room, str]:
        """The room and a fresh invite token behind a typed code (any case, with or without
        dashes or spaces). Raises :class:`TokenError` for a code that names no usable invite."""
        normalized = normalize_code(code)
        if normalized is None:
            raise TokenError("invalid_code", "this is not a room code (nine letters and digits)")
        async with self.db.session() as session:
            invite = await session.scalar(select(Invite).where(Invite.code == normalized))
            now = self.clock()
            if (invite is None or invite.revoked_at is not None
                    or (invite.expires_at is not None and now >= invite.expires_at)):
                raise TokenError("invalid_code", "no meeting has this code")
            room = await _find_room(session, invite.room_id)
        return room, self.invite_token(invite)

    async def get_room(self, room_id: str) -> Room:
        """The room, or :class:`RoomNotFound`."""
        async with self.db.session() as session:
            return await _find_room(session, room_id)

    async def update_room(self, room_id: str, *, locked: bool | None = None, lobby_enabled: bool | None = None,
                          allow_self_unmute: bool | None = None, ended_at: datetime | None | object = _UNSET,
                          ) -> Room:
        """Store the room's moderation settings that are given (None, or for ``ended_at`` leaving it
        out, keeps one unchanged; ``ended_at=None`` clears it). ``**ModerationResult.room_changes``
        fits. Raises :class:`RoomNotFound` or :class:`ValidationError`."""
        flags = {"locked": locked, "lobby_enabled": lobby_enabled, "allow_self_unmute": allow_self_unmute}
        for name, value in flags.items():
            if value is not None and not isinstance(value, bool):
                raise ValidationError(f"'{name}' must be true or false", name)
        if ended_at is not _UNSET and ended_at is not None and not isinstance(ended_at, datetime):
            raise ValidationError("'ended_at' must be a datetime", "ended_at")
        async with self.db.session() as session:
            room = await _find_room(session, room_id)
            for name, value in flags.items():
                if value is not None:
                    setattr(room, name, value)
            if ended_at is not _UNSET:
                room.ended_at = ended_at
        return room

    async def set_retention(self, room_id: str, days: object) -> Room:
        """Store how many days the room's record and recordings are kept (:func:`retention_days`;
        None: for ever). The next sweep (rooms/retention.py) applies it. Raises
        :class:`ValidationError` or :class:`RoomNotFound`."""
        days = retention_days(days)
        async with self.db.session() as session:
            room = await _find_room(session, room_id)
            room.record_retention_days = days
        return room

    async def open_room(self, room_id: str) -> Room:
        """A host opens the meeting (before its start): from now its invites' ``not_before`` no
        longer keeps anyone out. Opening twice keeps the first time. Raises :class:`RoomNotFound`."""
        async with self.db.session() as session:
            room = await _find_room(session, room_id)
            if room.opened_at is None:
                room.opened_at = self.clock()
        return room

    def _default_invites(self, session: AsyncSession, room: Room, roles=tuple(DEFAULT_LABELS)) -> dict[Role, Invite]:
        now = self.clock()
        invites = {
            role: Invite(room_id=room.id, role=role.value, label=DEFAULT_LABELS[role], created_at=now)
            for role in roles
        }
        session.add_all(invites.values())
        return invites

    # ---- invites --------------------------------------------------------------------------------

    async def create_invite(
        self,
        room_id: str,
        role: Role | str,
        label: str | None = None,
        expires_in: timedelta | None = None,
        *,
        max_uses: int | None = None,
    ) -> tuple[Invite, str]:
        """A new invite to ``room_id`` for ``role`` and its token."""
        role = _role(role)
        if label is not None:
            label = text_field(label, "label", min_len=1, max_len=LABEL_MAX)
        if expires_in is not None and (not isinstance(expires_in, timedelta) or expires_in <= timedelta(0)):
            raise ValidationError("'expires_in' must be a positive timedelta", "expires_in")
        if max_uses is not None and (isinstance(max_uses, bool) or not isinstance(max_uses, int)
                                     or max_uses < 1):
            raise ValidationError("'max_uses' must be a positive integer", "max_uses")
        now = self.clock()
        # Whole seconds, so that the row and the token's "exp" claim name the same instant.
        expires_at = (now + expires_in).replace(microsecond=0) if expires_in is not None else None
        async with self.db.session() as session:
            await _find_room(session, room_id)
            invite = Invite(room_id=room_id, role=role.value, label=label, created_at=now,
                            expires_at=expires_at, max_uses=max_uses)
            session.add(invite)
        return invite, self.invite_token(invite)

    def invite_token(self, invite: Invite) -> str:
        """A (new) signed token for an existing invite."""
        exp = int(invite.expires_at.timestamp()) if invite.expires_at is not None else None
        return tokens.sign({"room": invite.room_id, "role": str(invite.role), "inv": invite.id, "exp": exp},
                           self.secret)

    async def revoke_invite(self, invite_id: str) -> Invite:
        """Revoke an invite: its tokens stop working. Revoking twice keeps the first time."""
        async with self.db.session() as session:
            invite = await session.get(Invite, invite_id)
            if invite is None:
                raise ValidationError(f"invite {str(invite_id)[:40]!r} does not exist", "invite_id")
            if invite.revoked_at is None:
                invite.revoked_at = self.clock()
        return invite

    async def get_invite(self, invite_id: str) -> Invite | None:
        async with self.db.session() as session:
            return await session.get(Invite, invite_id)

    async def verify_token(self, token: str, *, before_opening: bool = False) -> InviteClaims:
        """Check a token's signature and expiry, then the database: the room exists, and the invite
        exists, belongs to that room, grants that role, and is neither revoked, expired nor used up,
        nor (but with ``before_opening``: a waiting page may ask) before its ``not_before`` in a room
        no host has opened yet (host invites are never refused so: a host's join opens the room).

        Raises :class:`TokenError` (``invalid_token``), :class:`NotYetOpen` or :class:`RoomNotFound`.
        """
        now = self.clock()
        claims = tokens.verify(token, self.secret, now=now)
        try:
            role = Role(claims["role"])
        except ValueError:
            raise TokenError("invalid_token", "invite token names an unknown role") from None
        room_id, invite_id = claims["room"], claims["inv"]
        async with self.db.session() as session:
            # A genuine token for a missing room: the room was deleted.
            room = await _find_room(session, room_id)
            invite = await session.get(Invite, invite_id)
            if invite is None or invite.room_id != room_id or invite.role != role.value:
                raise TokenError("invalid_token", "this invite does not exist for this room")
            if invite.revoked_at is not None:
                raise TokenError("invalid_token", "this invite has been revoked")
            if invite.expires_at is not None and now >= invite.expires_at:
                raise TokenError("invalid_token", "this invite has expired")
            if (not before_opening and invite.not_before is not None and now < invite.not_before
                    and room.opened_at is None and role is not Role.HOST):
                raise NotYetOpen(iso_utc(room.starts_at) if room.starts_at else None, iso_utc(invite.not_before))
        # max_uses counts joins (record_join takes one, atomically); a holder coming back on its
        # resume key takes none, so a used-up invite is refused there, not here
        return InviteClaims(room_id=room_id, role=role, invite_id=invite_id, label=invite.label,
                            max_uses=invite.max_uses, used_up=invite.max_uses is not None and invite.uses >= invite.max_uses,
                            not_before=invite.not_before)

    # ---- participants ---------------------------------------------------------------------------

    async def record_join(
        self,
        room_id: str,
        invite_id: str | None,
        name: str,
        organisation: str | None,
        role: Role | str,
    ) -> Participant:
        """Record that someone joined; returns the new row (``id`` is ``p_...``)."""
        name = text_field(name, "name", min_len=1, max_len=NAME_MAX)
        organisation = text_field(organisation or "", "organisation", min_len=0, max_len=ORGANISATION_MAX)
        role = _role(role)
        async with self.db.session() as session:
            room = await _find_room(session, room_id)
            if role is Role.HOST and room.opened_at is None:
                room.opened_at = self.clock()  # a host's join opens a scheduled meeting (early or not)
            if invite_id is not None:
                # One use of the invite, if it has one left: a single statement, so that ten
                # devices opening a single-use link at the same moment get in once, not ten times.
                taken = await session.execute(
                    update(Invite).where(Invite.id == invite_id,
                                         or_(Invite.max_uses.is_(None), Invite.uses < Invite.max_uses))
                    .values(uses=Invite.uses + 1))
                if taken.rowcount != 1:
                    raise TokenError("invalid_token", "this invite has been used up")
            participant = Participant(room_id=room_id, invite_id=invite_id, name=name,
                                      organisation=organisation, role=role.value,
                                      joined_at=self.clock())
            session.add(participant)
        return participant

    async def record_return(self, participant_id: str, name: str, organisation: str | None) -> Participant | None:
        """Reopen an earlier join for a participant coming back after a dropped connection (see
        :meth:`resumable`): same row and id, ``left_at`` cleared, name and organisation as given now.
        None if there is no such row or it was removed."""
        name = text_field(name, "name", min_len=1, max_len=NAME_MAX)
        organisation = text_field(organisation or "", "organisation", min_len=0, max_len=ORGANISATION_MAX)
        async with self.db.session() as session:
            participant = await session.get(Participant, participant_id)
            if participant is None or participant.removed:
                return None
            participant.left_at = None
            participant.name, participant.organisation = name, organisation
        return participant

    async def close_open_joins(self, at: datetime, *, room_id: str | None = None,
                               except_rooms: set[str] | frozenset[str] = frozenset()) -> int:
        """At start-up: the joins a previous run left open (it crashed, or was killed) are closed,
        as left at ``at`` (when that run was last seen alive; never before the join itself), so that
        a single-use invite's holder is not refused as "already in use" for good. Their resume keys
        stay good for the usual window. Only ``room_id``'s if given (a node taking over a room
        whose node died), never those of ``except_rooms`` (rooms other nodes hold). Returns how
        many were closed."""
        query = select(Participant).where(Participant.left_at.is_(None))
        if room_id is not None:
            query = query.where(Participant.room_id == room_id)
        if except_rooms:
            query = query.where(Participant.room_id.not_in(sorted(except_rooms)))
        async with self.db.session() as session:
            rows = (await session.execute(query)).scalars().all()
            for participant in rows:
                participant.left_at = max(at, participant.joined_at)
        return len(rows)

    async def record_leave(self, participant_id: str) -> Participant | None:
        """Record that a participant left (idempotent; None if there is no such participant)."""
        async with self.db.session() as session:
            participant = await session.get(Participant, participant_id)
            if participant is not None and participant.left_at is None:
                participant.left_at = self.clock()
        return participant

    async def mark_removed(self, participant_id: str) -> Participant | None:
        """Record that a host or staff member removed this participant: ``removed`` is set and, if
        still open, the join is closed (idempotent; None if there is no such participant)."""
        async with self.db.session() as session:
            participant = await session.get(Participant, participant_id)
            if participant is not None:
                participant.removed = True
                if participant.left_at is None:
                    participant.left_at = self.clock()
        return participant

    async def record_role(self, participant_id: str, role: Role | str) -> Participant | None:
        """Store a participant's role after a promotion or demotion, so that a client coming back
        after a dropped connection gets it again (:meth:`resumable`). None if there is no such row."""
        role = _role(role)
        async with self.db.session() as session:
            participant = await session.get(Participant, participant_id)
            if participant is not None:
                participant.role = role.value
        return participant

    # ---- coming back after a dropped connection ---------------------------------------------------

    def resume_key(self, participant_id: str) -> str:
        """A secret the server gives a joined client, with which it proves on its next ``join``
        (after the connection dropped) that it is this participant: ``<participant id>.<MAC>``."""
        return f"{participant_id}.{self._resume_mac(participant_id)}"

    def _resume_mac(self, participant_id: str) -> str:
        mac = hmac.new(self.secret, _RESUME_CONTEXT + participant_id.encode("utf-8"), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")

    def resume_participant_id(self, key: object) -> str | None:
        """The participant id a genuine resume key names, or None (forged, malformed)."""
        if not isinstance(key, str) or len(key) > RESUME_KEY_MAX or not key.isascii() or key.count(".") != 1:
            return None
        participant_id, mac = key.split(".")
        if not participant_id:
            return None
        return participant_id if hmac.compare_digest(mac, self._resume_mac(participant_id)) else None

    def peek_token(self, token: str) -> tuple[str, str] | None:
        """``(room id, invite id)`` of a token whose signature and expiry verify, without asking
        the database (so without the revocation and use checks of :meth:`verify_token`); None
        otherwise."""
        try:
            claims = tokens.verify(token, self.secret, now=self.clock())
        except TokenError:
            return None
        room_id, invite_id = claims.get("room"), claims.get("inv")
        if not isinstance(room_id, str) or not isinstance(invite_id, str):
            return None
        return room_id, invite_id

    async def resumable(self, participant_id: str, *, room_id: str, invite_id: str | None) -> Participant | None:
        """The earlier join a client comes back from, if it may: the same room and the same invite,
        not removed, and still open or closed less than :data:`RESUME_WINDOW` ago. Its ``role``
        (kept current by :meth:`record_role`) is the role to restore; None if it may not.

        Raises :class:`~rooms.meeting.RemovedFromMeeting` (``forbidden``) when that join was removed
        by a host or staff member less than :data:`RESUME_WINDOW` ago: the key proves it is the
        removed person, whatever device id or link they come back with."""
        async with self.db.session() as session:
            row = await session.get(Participant, participant_id)
        if row is None or row.room_id != room_id:
            return None
        if row.left_at is not None and self.clock() - row.left_at > RESUME_WINDOW:
            return None
        if row.removed:
            raise RemovedFromMeeting()
        return row if row.invite_id == invite_id else None

    async def list_participants(self, room_id: str, present_only: bool = True) -> list[Participant]:
        """The room's participants in join order; only those who have not left by default."""
        query = select(Participant).where(Participant.room_id == room_id)
        if present_only:
            query = query.where(Participant.left_at.is_(None))
        async with self.db.session() as session:
            return list(await session.scalars(query.order_by(Participant.joined_at, Participant.id)))

    async def delegations(self, room_id: str) -> list[Delegation]:
        """A scheduled meeting's delegations in the organiser's order (none for any other room)."""
        async with self.db.session() as session:
            return list(await session.scalars(select(Delegation).where(Delegation.room_id == room_id)
                                              .order_by(Delegation.position, Delegation.id)))
