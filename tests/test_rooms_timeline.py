"""The meeting timeline on a real database, and moderation results persisted through it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, text

from rooms.errors import RoomNotFound, ValidationError
from rooms.meeting import LiveParticipant, LobbyEntry, Meeting
from rooms.models import Participant, Room, TimelineEvent
from rooms.moderation import Moderation, persist
from rooms.timeline import Timeline
from tests.rooms_fixtures import clock, db, service  # noqa: F401 - pytest fixtures


@pytest.fixture
async def timeline(service, clock):
    return Timeline(service.db, clock=clock)


def live(row) -> LiveParticipant:
    return LiveParticipant(id=row.id, name=row.name, organisation=row.organisation, role=row.role,
                           joined_at=row.joined_at)


async def test_record_and_list(service, timeline, clock):
    room, _ = await service.create_room("Council")
    host = LiveParticipant(id="p_host", name="Hal", organisation="", role="host")
    ana = LiveParticipant(id="p_ana", name="Ana", organisation="", role="participant")
    joined = await timeline.record(room.id, "join", ana)
    assert joined == {"id": joined["id"], "kind": "join", "actor_id": "p_ana", "actor_name": "Ana",
                      "target_id": None, "target_name": None, "details": {},
                      "at": clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")}
    clock.advance(timedelta(seconds=3))
    details = {"kind": "audio", "nested": {"list": [1, 2.5, None, True], "text": "ünï <b>"}}
    await timeline.record(room.id, "mute", host, ana, details)
    await timeline.record(room.id, "lock", None, details={"locked": True})  # the system
    await timeline.record(room.id, "lobby_deny", host,
                          LobbyEntry(id="l_1", name="Walk-in", organisation="", role="participant"))
    await timeline.record(room.id, "stage", {"id": "p_host", "name": "Hal"}, None, {"document": "d_1"})
    events = await timeline.list(room.id)
    assert [e["kind"] for e in events] == ["join", "mute", "lock", "lobby_deny", "stage"]
    assert events[1]["details"] == details and events[1]["target_name"] == "Ana"
    assert (events[2]["actor_id"], events[2]["actor_name"]) == (None, None)
    assert (events[3]["target_id"], events[3]["target_name"]) == ("l_1", "Walk-in")
    assert [e["kind"] for e in await timeline.list(room.id, limit=2)] == ["lobby_deny", "stage"]
    assert await timeline.list(room.id, limit=0) == [] and await timeline.list("nosuchroom") == []
    async with service.db.session() as session:
        row = await session.scalar(select(TimelineEvent).where(TimelineEvent.kind == "mute"))
        assert row.details == details and row.created_at == clock.now
        raw = (await session.execute(text("SELECT kind, actor_id, target_id FROM timeline_events "
                                          "WHERE kind = 'mute'"))).one()
    assert tuple(raw) == ("mute", "p_host", "p_ana")


@pytest.mark.parametrize("kind, details", [
    ("", None), ("Join", None), ("x" * 33, None), ("drop table", None), (None, None),
    ("mute", ["not", "an", "object"]), ("mute", {"bad": object()}), ("mute", {"nan": float("nan")}),
    ("mute", {"big": "x" * 5000}),
])
async def test_bad_events_are_refused(service, timeline, kind, details):
    room, _ = await service.create_room("Council")
    with pytest.raises(ValidationError):
        await timeline.record(room.id, kind, None, None, details)
    async with service.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(TimelineEvent)) == 0


async def test_unknown_room_and_cascade(service, timeline):
    with pytest.raises(RoomNotFound):
        await timeline.record("nosuchroom", "join")
    room, _ = await service.create_room("Council")
    await timeline.record(room.id, "join", {"id": "p_x", "name": "X"})
    async with service.db.session() as session:
        await session.execute(delete(Room).where(Room.id == room.id))
        assert await session.scalar(select(func.count()).select_from(TimelineEvent)) == 0


async def test_persist_a_moderation_result(service, timeline, clock):
    room, _ = await service.create_room("Council")
    host = live(await service.record_join(room.id, None, "Hal", "", "host"))
    ana = live(await service.record_join(room.id, None, "Ana", "", "participant"))
    ana.device_id = "browser-aaaa"
    meeting = Meeting.from_room(await service.get_room(room.id))
    meeting.add(host)
    meeting.add(ana)
    mod = Moderation(meeting)

    locked = mod.lock(host, True)
    event = await persist(locked, room.id, service, timeline)
    assert event["kind"] == "lock" and (await service.get_room(room.id)).locked is True
    assert await persist(mod.lock(host, True), room.id, service, timeline) is None  # nothing changed

    muted = await persist(mod.mute(host, ana.id, "audio"), room.id, service, timeline)
    assert (muted["kind"], muted["target_id"], muted["details"]) == ("mute", ana.id, {"kind": "audio"})

    clock.advance(timedelta(minutes=1))
    removed = await persist(mod.remove(host, ana.id), room.id, service, timeline)
    assert removed["details"] == {"device_blocked": True, "invite_blocked": False}
    async with service.db.session() as session:
        row = await session.get(Participant, ana.id)
    assert row.removed is True and row.left_at == clock.now
    assert await service.mark_removed("p_nosuch") is None

    await persist(mod.set_allow_self_unmute(host, False), room.id, service, timeline)
    ended = mod.end(host, at=clock.now)
    await persist(ended, room.id, service, timeline)
    stored = await service.get_room(room.id)
    assert (stored.locked, stored.allow_self_unmute, stored.ended_at) == (True, False, clock.now)
    assert Meeting.from_room(stored).ended  # the next live meeting of this room is ended too
    kinds = [e["kind"] for e in await timeline.list(room.id)]
    assert kinds == ["lock", "mute", "remove", "self_unmute_off", "end"]
    # Raising one's own hand is not timeline material.
    meeting2 = Meeting("x", "x")
    meeting2.add(host)
    assert await persist(Moderation(meeting2).raise_hand(host), room.id, service, timeline) is None


async def test_update_room_settings(service):
    room, _ = await service.create_room("Council")
    assert (room.locked, room.lobby_enabled, room.allow_self_unmute, room.ended_at) == (False, False, True, None)
    updated = await service.update_room(room.id, lobby_enabled=True)
    assert (updated.locked, updated.lobby_enabled) == (False, True)
    await service.update_room(room.id, ended_at=None, allow_self_unmute=False)
    stored = await service.get_room(room.id)
    assert (stored.lobby_enabled, stored.allow_self_unmute, stored.ended_at) == (True, False, None)
    with pytest.raises(ValidationError):
        await service.update_room(room.id, locked="yes")
    with pytest.raises(ValidationError):
        await service.update_room(room.id, ended_at="yesterday")
    with pytest.raises(RoomNotFound):
        await service.update_room("nosuchroom", locked=True)
