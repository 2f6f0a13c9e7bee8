"""Scheduled meetings (issue "records", Scheduling): the domain half, no HTTP.

An organiser schedules a meeting: a title, an agenda, a start given as a date and a wall-clock time
in an IANA time zone (the organiser's), a duration, and delegations ("Lisbon City Hall": a city, the
IANA zone its people live in, a role and a number of seats). The meeting is a room with
``starts_at``/``ends_at`` in UTC; each delegation gets its own invite: its role, ``max_uses`` = its
seats, valid from :data:`OPENS_BEFORE` before the start (``not_before``; a join before it is refused
with ``not_yet_open`` unless a host has opened the room) until the end (``expires_at``). For each
delegation there is an .ics file (RFC 5545, made with ``icalendar``: the event in the delegation's
zone, with the VTIMEZONE the library derives from zoneinfo) and an invitation text giving the time
in the delegation's own zone.

Every time here is an aware datetime; the database keeps UTC.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from icalendar import Calendar, Event, Timezone
from sqlalchemy import delete, func, select

from .authorize import Role
from .db import Database
from .errors import RoomNotFound, ValidationError
from .models import (
    DELEGATION_CITY_MAX,
    DELEGATION_NAME_MAX,
    Delegation,
    Invite,
    Room,
    utcnow,
)
from .panels.cities import CITIES
from .service import ROOM_ID_RE, RoomService, retention_days, text_field

OPENS_BEFORE = timedelta(minutes=30)  # a delegation's invite lets people in this long before the start
MIN_DURATION_MINUTES = 5
MAX_DURATION_MINUTES = 24 * 60
MAX_DELEGATIONS = 50
MAX_SEATS = 500
AGENDA_MAX = 4000
LIST_LIMIT = 200  # rooms per group of the organiser's list
PRODID = "-//Sitroom//Scheduled meeting//EN"

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def zone(name: object, field_name: str = "time_zone") -> ZoneInfo:
    """The IANA zone ``name`` (``Asia/Seoul``), or :class:`ValidationError` naming the field."""
    if not isinstance(name, str) or not name or len(name) > 64 or name not in _zone_names():
        raise ValidationError(f"'{field_name}': unknown IANA time zone {str(name)[:64]!r} "
                              "(a name such as Europe/Lisbon or Asia/Seoul)", field_name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationError(f"'{field_name}': unknown IANA time zone {name[:64]!r}", field_name) from None


def local_to_utc(day: object, clock: object, tz: ZoneInfo) -> datetime:
    """The UTC instant of the wall-clock ``clock`` (``"09:30"``) on ``day`` (``"2027-03-10"``) in
    ``tz``. A time the clocks skip (spring forward) is refused; one they pass twice (fall back) is
    the first of the two."""
    if not isinstance(day, str) or len(day) > 10:
        raise ValidationError("'start.date' must be a date such as 2027-03-10", "start.date")
    if not isinstance(clock, str) or len(clock) > 8:
        raise ValidationError("'start.time' must be a time such as 09:30", "start.time")
    try:
        local_day = date.fromisoformat(day)
    except ValueError:
        raise ValidationError("'start.date' must be a date such as 2027-03-10", "start.date") from None
    try:
        local_time = time.fromisoformat(clock)
    except ValueError:
        raise ValidationError("'start.time' must be a time such as 09:30", "start.time") from None
    if local_time.tzinfo is not None:
        raise ValidationError("'start.time' is a wall-clock time: give the zone in 'start.time_zone'",
                              "start.time")
    wall = datetime.combine(local_day, local_time).replace(tzinfo=tz, fold=0)
    instant = wall.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) != wall.replace(tzinfo=None):
        raise ValidationError(f"{day} {clock} does not exist in {tz.key} (the clocks skip it)", "start.time")
    return instant


@dataclass(frozen=True, slots=True)
class DelegationSpec:
    """A delegation as the organiser gives it, checked."""

    name: str
    city: str
    time_zone: str
    role: Role
    seats: int

    @classmethod
    def parse(cls, value: object, index: int) -> "DelegationSpec":
        where = f"delegations[{index}]"
        if not isinstance(value, dict):
            raise ValidationError(f"'{where}' must be an object", where)
        name = _text(value.get("name"), f"{where}.name", DELEGATION_NAME_MAX, min_len=1)
        city = _text(value.get("city", ""), f"{where}.city", DELEGATION_CITY_MAX, min_len=0)
        tz = zone(value.get("time_zone"), f"{where}.time_zone")
        try:
            role = Role(value.get("role", "participant"))
        except ValueError:
            raise ValidationError(f"'{where}.role' must be one of host, staff, participant, viewer",
                                  f"{where}.role") from None
        seats = value.get("seats")
        if isinstance(seats, bool) or not isinstance(seats, int) or not 1 <= seats <= MAX_SEATS:
            raise ValidationError(f"'{where}.seats' must be a whole number from 1 to {MAX_SEATS}", f"{where}.seats")
        return cls(name=name, city=city, time_zone=tz.key, role=role, seats=seats)


def _text(value: object, field_name: str, max_len: int, *, min_len: int) -> str:
    """``RoomService``'s text check, a missing field taken as empty."""
    return text_field("" if value is None else value, field_name, min_len=min_len, max_len=max_len)


@dataclass(frozen=True, slots=True)
class MeetingRequest:
    """What an organiser asks for, checked: :meth:`parse` raises :class:`ValidationError`."""

    title: str
    agenda: str
    time_zone: str
    starts_at: datetime  # UTC
    ends_at: datetime  # UTC
    city: str | None
    delegations: tuple[DelegationSpec, ...]
    record_retention_days: int | None = None  # None: the record is kept for ever

    @classmethod
    def parse(cls, *, title: object, agenda: object, start: object, duration_minutes: object,
              delegations: object, city: object = None,
              record_retention_days: object = None) -> "MeetingRequest":
        title = _text(title, "title", 120, min_len=1)
        agenda = _text(agenda, "agenda", AGENDA_MAX, min_len=0)
        if not isinstance(start, dict):
            raise ValidationError("'start' must be an object: {\"date\", \"time\", \"time_zone\"}", "start")
        tz = zone(start.get("time_zone"), "start.time_zone")
        starts_at = local_to_utc(start.get("date"), start.get("time"), tz)
        if (isinstance(duration_minutes, bool) or not isinstance(duration_minutes, int)
                or not MIN_DURATION_MINUTES <= duration_minutes <= MAX_DURATION_MINUTES):
            raise ValidationError(f"'duration_minutes' must be a whole number from {MIN_DURATION_MINUTES} "
                                  f"to {MAX_DURATION_MINUTES}", "duration_minutes")
        if delegations is None:
            delegations = []
        if not isinstance(delegations, list):
            raise ValidationError("'delegations' must be a list", "delegations")
        if len(delegations) > MAX_DELEGATIONS:
            raise ValidationError(f"a meeting has at most {MAX_DELEGATIONS} delegations "
                                  f"({len(delegations)} given)", "delegations")
        specs = tuple(DelegationSpec.parse(item, i) for i, item in enumerate(delegations))
        names = [spec.name.casefold() for spec in specs]
        if len(set(names)) != len(names):
            raise ValidationError("two delegations have the same name", "delegations")
        return cls(title=title, agenda=agenda, time_zone=tz.key, starts_at=starts_at,
                   ends_at=starts_at + timedelta(minutes=duration_minutes),
                   city=city if city else None, delegations=specs,
                   record_retention_days=retention_days(record_retention_days))


@dataclass(slots=True)
class DelegationView:
    """A delegation with its invite and a fresh token for it."""

    delegation: Delegation
    invite: Invite | None
    token: str | None


@dataclass(slots=True)
class MeetingView:
    room: Room
    delegations: list[DelegationView] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)  # the room's host and participant links' tokens


class Scheduler:
    """Schedule meetings and read them back (the organiser console's domain)."""

    def __init__(self, rooms: RoomService, *, clock: Callable[[], datetime] | None = None):
        self.rooms = rooms
        self.db: Database = rooms.db
        self.clock = clock or rooms.clock

    async def schedule(self, request: MeetingRequest) -> MeetingView:
        """Create the meeting's room (with its host and participant invites) and each delegation
        with its own invite. The room's participant link opens when the delegations' do."""
        opens_at = request.starts_at - OPENS_BEFORE
        room, _tokens = await self.rooms.create_room(request.title, city=request.city,
                                                    starts_at=request.starts_at, ends_at=request.ends_at,
                                                    record_retention_days=request.record_retention_days)
        try:
            async with self.db.session() as session:
                row = await session.get(Room, room.id)
                row.agenda = request.agenda or None
                row.time_zone = request.time_zone
                for invite in await session.scalars(select(Invite).where(
                        Invite.room_id == room.id, Invite.role == Role.PARTICIPANT.value)):
                    invite.not_before = opens_at
                now = self.clock()
                for position, spec in enumerate(request.delegations):
                    invite = Invite(room_id=room.id, role=spec.role.value, label=spec.name, created_at=now,
                                    max_uses=spec.seats, not_before=opens_at,
                                    expires_at=request.ends_at.replace(microsecond=0))
                    session.add(invite)
                    await session.flush()
                    session.add(Delegation(room_id=room.id, position=position, name=spec.name, city=spec.city,
                                           time_zone=spec.time_zone, role=spec.role.value, seats=spec.seats,
                                           invite_id=invite.id, created_at=now))
        except BaseException:
            async with self.db.session() as session:  # no half-scheduled meeting is left behind
                await session.execute(delete(Room).where(Room.id == room.id))
            raise
        return await self.meeting(room.id)

    async def meeting(self, room_id: str) -> MeetingView:
        """A room with its delegations, their invites and tokens; :class:`RoomNotFound` otherwise."""
        async with self.db.session() as session:
            room = await session.get(Room, room_id) if isinstance(room_id, str) and ROOM_ID_RE.fullmatch(room_id) \
                else None
            if room is None:
                raise RoomNotFound(f"room {str(room_id)[:64]!r} does not exist")
            rows = (await session.execute(
                select(Delegation, Invite).outerjoin(Invite, Invite.id == Delegation.invite_id)
                .where(Delegation.room_id == room_id).order_by(Delegation.position, Delegation.id))).all()
            defaults = {}
            for role in (Role.HOST, Role.PARTICIPANT):  # the room's own links (see RoomService)
                defaults[role.value] = await session.scalar(
                    select(Invite).where(Invite.room_id == room_id, Invite.role == role.value,
                                         Invite.revoked_at.is_(None), Invite.max_uses.is_(None),
                                         Invite.expires_at.is_(None))
                    .order_by(Invite.created_at, Invite.id).limit(1))
        views = [DelegationView(delegation, invite,
                                self.rooms.invite_token(invite) if invite is not None and invite.revoked_at is None
                                else None)
                 for delegation, invite in rows]
        tokens = {role: self.rooms.invite_token(invite) for role, invite in defaults.items() if invite is not None}
        return MeetingView(room=room, delegations=views, tokens=tokens)

    async def delegation(self, room_id: str, delegation_id: str) -> tuple[Room, DelegationView]:
        view = await self.meeting(room_id)
        for item in view.delegations:
            if item.delegation.id == delegation_id:
                return view.room, item
        raise RoomNotFound(f"meeting {room_id!r} has no delegation {str(delegation_id)[:40]!r}")

    async def list_meetings(self) -> dict[str, list[tuple[Room, int]]]:
        """The organisation's rooms, each with its number of delegations: ``upcoming`` (not ended
        yet, soonest first; a meeting under way is upcoming until its end), ``past`` (most recent
        first) and ``unscheduled`` (no planned start; newest first). At most :data:`LIST_LIMIT` each."""
        now = self.clock()
        counts = (select(Delegation.room_id, func.count(Delegation.id).label("n"))
                  .group_by(Delegation.room_id).subquery())
        base = select(Room, func.coalesce(counts.c.n, 0)).outerjoin(counts, counts.c.room_id == Room.id)
        end = func.coalesce(Room.ends_at, Room.starts_at)
        async with self.db.session() as session:
            upcoming = (await session.execute(base.where(Room.starts_at.is_not(None), end > now)
                                              .order_by(Room.starts_at, Room.id).limit(LIST_LIMIT))).all()
            past = (await session.execute(base.where(Room.starts_at.is_not(None), end <= now)
                                          .order_by(Room.starts_at.desc(), Room.id).limit(LIST_LIMIT))).all()
            unscheduled = (await session.execute(base.where(Room.starts_at.is_(None))
                                                 .order_by(Room.created_at.desc(), Room.id).limit(LIST_LIMIT))).all()
        return {"upcoming": [tuple(r) for r in upcoming], "past": [tuple(r) for r in past],
                "unscheduled": [tuple(r) for r in unscheduled]}

    async def open_early(self, room_id: str) -> Room:
        """A host opens the meeting before its invites' ``not_before``: they let people in from now."""
        return await self.rooms.open_room(room_id)


# ---- the meeting's city clocks ------------------------------------------------------------------

def meeting_clocks(room_title: str, room_city: str | None, delegations: list[Delegation]) -> list[dict[str, str]]:
    """The cities a meeting's clock strip shows (issue "records"): the room's own built-in city if
    it has one, then each delegation's, in the organiser's order, as ``{"name", "city",
    "time_zone"}``; one clock per (zone, city): two delegations from one city share it."""
    clocks, seen = [], set()
    entries = []
    if room_city in CITIES:
        entries.append((room_title, CITIES[room_city].name, CITIES[room_city].time_zone))
    entries += [(d.name, d.city or "", d.time_zone) for d in delegations]
    for name, city, time_zone in entries:
        key = (time_zone, city.casefold())
        if key not in seen:
            seen.add(key)
            clocks.append({"name": name, "city": city, "time_zone": time_zone})
    return clocks


# ---- the invitation: text and .ics ---------------------------------------------------------------

def _offset(value: datetime) -> str:
    offset = value.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _day(value: datetime) -> str:
    return f"{_WEEKDAYS[value.weekday()]} {value.day} {_MONTHS[value.month - 1]} {value.year}"


def local_when(starts_at: datetime, ends_at: datetime | None, time_zone: str) -> str:
    """``Wednesday 10 March 2027, 12:30-14:00 (Europe/Lisbon, UTC+00:00)`` in ``time_zone``: the
    same words in every language's invitation (English day and month names, 24-hour clock)."""
    tz = zone(time_zone)
    start = starts_at.astimezone(tz)
    text = f"{_day(start)}, {start:%H:%M}"
    if ends_at is not None:
        end = ends_at.astimezone(tz)
        text += f"-{end:%H:%M}" if end.date() == start.date() else f" to {_day(end)}, {end:%H:%M}"
    return f"{text} ({tz.key}, {_offset(start)})"


def invitation_text(room: Room, delegation: Delegation, link: str) -> str:
    """The ready invitation for one delegation: the time in its own zone, the agenda and its link."""
    lines = [f"You are invited to a Sitroom video meeting: {room.title}",
             f"Delegation: {delegation.name}" + (f" ({delegation.city})" if delegation.city else ""),
             "",
             f"When: {local_when(room.starts_at, room.ends_at, delegation.time_zone)}"]
    if room.time_zone and room.time_zone != delegation.time_zone:
        lines.append(f"      (the organiser's time: {local_when(room.starts_at, room.ends_at, room.time_zone)})")
    if room.agenda:
        lines += ["", "Agenda:", room.agenda]
    seats = "1 person" if delegation.seats == 1 else f"{delegation.seats} people"
    lines += ["",
              "Join from the browser on your phone or computer; there is nothing to install:",
              link,
              "",
              f"This link is for {seats} of your delegation, as {delegation.role}. It opens "
              f"{int(OPENS_BEFORE.total_seconds() // 60)} minutes before the start."]
    return "\n".join(lines)


@functools.lru_cache(maxsize=256)
def _vtimezone(key: str, first_year: int, last_year: int) -> Timezone:
    """The VTIMEZONE of IANA zone ``key`` for whole years (the library walks the zone's transitions,
    tens of milliseconds on the event loop: made once per zone and years). Never changed after."""
    return Timezone.from_tzinfo(ZoneInfo(key), tzid=key, first_date=date(first_year, 1, 1),
                                last_date=date(last_year + 1, 1, 1))


def ics(room: Room, delegation: Delegation, link: str, *, domain: str, now: datetime | None = None) -> bytes:
    """The delegation's calendar file (RFC 5545): one VEVENT whose DTSTART and DTEND are in the
    delegation's zone (TZID), with the VTIMEZONE ``icalendar`` makes from zoneinfo for the years
    around the meeting."""
    if room.starts_at is None:
        raise ValidationError(f"room {room.id!r} has no planned start", "starts_at")
    tz = zone(delegation.time_zone)
    start = room.starts_at.astimezone(tz)
    end = (room.ends_at or room.starts_at + timedelta(hours=1)).astimezone(tz)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add_component(_vtimezone(tz.key, start.year - 1, end.year + 1))
    event = Event()
    event.add("uid", f"{room.id}.{delegation.id}@{domain}")
    event.add("dtstamp", (now or utcnow()).astimezone(UTC).replace(microsecond=0))
    event.add("dtstart", start.replace(microsecond=0))
    event.add("dtend", end.replace(microsecond=0))
    event.add("summary", room.title)
    description = [f"Delegation: {delegation.name}" + (f" ({delegation.city})" if delegation.city else "")]
    if room.agenda:
        description += ["", "Agenda:", room.agenda]
    description += ["", "Join:", link]
    event.add("description", "\n".join(description))
    event.add("url", link)
    event.add("location", link)
    calendar.add_component(event)
    return calendar.to_ical()


def schedule_view(room: Room, not_before: datetime | None, now: datetime) -> dict[str, Any]:
    """What the waiting page shows an invite holder: the planned start and end (UTC), when its
    invite opens, whether a host has opened the meeting, and whether a join would be let in now."""
    def iso(value: datetime | None) -> str | None:
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None

    return {"starts_at": iso(room.starts_at), "ends_at": iso(room.ends_at), "opens_at": iso(not_before),
            "time_zone": room.time_zone, "opened": room.opened_at is not None, "opened_at": iso(room.opened_at),
            "open_now": room.opened_at is not None or not_before is None or now >= not_before,
            "now": iso(now)}
