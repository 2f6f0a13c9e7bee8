"""RoomService's half of coming back after a dropped connection: resume keys, the role kept in the
participant's row, and the window within which an earlier join may be resumed (SQLite and, when
available, PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rooms.meeting import Meeting, MeetingLocked, RemovedFromMeeting
from rooms.service import RESUME_WINDOW, RoomService
from tests.rooms_fixtures import clock, db, service  # noqa: F401 - pytest fixtures


async def joined(service, role: str = "participant"):
    room, tokens = await service.create_room("Council")
    claims = await service.verify_token(tokens["participant"])
    row = await service.record_join(room.id, claims.invite_id, "Ana", "Lisbon", role)
    return room, claims, row


async def test_a_resume_key_names_its_participant_and_cannot_be_forged(service):
    _, _, row = await joined(service)
    key = service.resume_key(row.id)
    assert service.resume_participant_id(key) == row.id
    participant_id, mac = key.split(".")
    other = RoomService(service.db, b"another-secret")
    # A MAC changed in its last character: to one that differs in the bits that character carries
    # (its low 2 bits are padding), and never to itself (the old "...A" equalled the key 1 time in 64).
    tampered = mac[:-1] + ("g" if mac[-1] in "ABCD" else "A")
    for bad in (other.resume_key(row.id), f"{participant_id}.{tampered}", f"p_other.{mac}", f".{mac}",
                key + ".x", "", "é" * 10, None, 42, key + "A" * 200):
        assert service.resume_participant_id(bad) is None, bad


async def test_the_role_kept_in_the_row_is_given_back_within_the_window(service, clock):
    room, claims, row = await joined(service)
    await service.record_role(row.id, "staff")
    resumed = await service.resumable(row.id, room_id=room.id, invite_id=claims.invite_id)
    assert resumed is not None and resumed.role == "staff"  # still open (the drop not noticed yet)

    await service.record_leave(row.id)
    clock.advance(RESUME_WINDOW - timedelta(seconds=1))
    assert (await service.resumable(row.id, room_id=room.id, invite_id=claims.invite_id)).role == "staff"
    clock.advance(timedelta(seconds=2))
    assert await service.resumable(row.id, room_id=room.id, invite_id=claims.invite_id) is None


async def test_another_room_another_invite_or_no_such_join_is_not_resumed(service):
    room, claims, row = await joined(service)
    other_room, other_tokens = await service.create_room("Elsewhere")
    other_claims = await service.verify_token(other_tokens["participant"])
    assert await service.resumable(row.id, room_id=other_room.id, invite_id=other_claims.invite_id) is None
    host_invite = (await service.verify_token((await service.ensure_room(room.id, "Council"))[1]["host"])).invite_id
    assert await service.resumable(row.id, room_id=room.id, invite_id=host_invite) is None
    assert await service.resumable("p_nobody", room_id=room.id, invite_id=claims.invite_id) is None


async def test_a_removed_participant_is_refused(service):
    room, claims, row = await joined(service)
    await service.mark_removed(row.id)
    with pytest.raises(RemovedFromMeeting):
        await service.resumable(row.id, room_id=room.id, invite_id=claims.invite_id)


def test_a_returning_participant_skips_the_lobby_and_the_lock_but_not_a_removal():
    meeting = Meeting("r", "Council", lobby_enabled=True)
    assert meeting.admission("participant") == "lobby"
    assert meeting.admission("participant", returning=True) == "join"
    meeting.locked = True
    with pytest.raises(MeetingLocked):
        meeting.admission("participant")
    assert meeting.admission("participant", returning=True) == "join"
    meeting.removed_devices.add("device-ana-0001")
    with pytest.raises(RemovedFromMeeting):
        meeting.admission("participant", device_id="device-ana-0001", returning=True)
