"""Admission, the lobby, removal blocks, raised hands and meeting flags: live state, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from rooms.errors import Forbidden, NotJoined, ValidationError
from rooms.meeting import (
    MAX_LOBBY,
    LiveParticipant,
    LobbyEntry,
    LobbyFull,
    Meeting,
    MeetingEnded,
    MeetingLocked,
    MeetingRegistry,
    RemovedFromMeeting,
    normalize_device_id,
)

T0 = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def person(pid: str, role: str = "participant", **kw) -> LiveParticipant:
    return LiveParticipant(id=pid, name=f"Name {pid}", organisation="", role=role, joined_at=T0, **kw)


# ---- admission ----------------------------------------------------------------------------------

@pytest.mark.parametrize("locked, lobby, expected", [
    (False, False, {"host": "join", "staff": "join", "participant": "join", "viewer": "join"}),
    (False, True, {"host": "join", "staff": "join", "participant": "lobby", "viewer": "lobby"}),
    (True, False, {"host": "join", "staff": "join", "participant": MeetingLocked, "viewer": MeetingLocked}),
    (True, True, {"host": "join", "staff": "join", "participant": MeetingLocked, "viewer": MeetingLocked}),
])
def test_admission_rules(locked, lobby, expected):
    meeting = Meeting("demo", "t", locked=locked, lobby_enabled=lobby)
    for role, outcome in expected.items():
        if isinstance(outcome, str):
            assert meeting.admission(role) == outcome
        else:
            with pytest.raises(outcome) as info:
                meeting.admission(role)
            assert info.value.code == "forbidden" and info.value.reason == "locked"


def test_an_ended_meeting_admits_nobody():
    meeting = Meeting("demo", "t")
    meeting.add(person("p_a"))
    connected, waiting = meeting.end(at=T0)
    assert [p.id for p in connected] == ["p_a"] and waiting == []
    assert meeting.ended and meeting.ended_at == T0 and meeting.settings()["ended"] is True
    for role in ("host", "staff", "participant", "viewer"):
        with pytest.raises(MeetingEnded):
            meeting.admission(role)


def test_removed_people_are_refused_by_device_or_personal_invite():
    meeting = Meeting("demo", "t")
    shared = meeting.add(person("p_a", invite_id="i_shared", device_id="browser-aaaa"))
    personal = meeting.add(person("p_b", invite_id="i_mine", personal_invite=True))
    meeting.remove(shared.id)
    meeting.remember_removed(shared)
    meeting.remove(personal.id)
    meeting.remember_removed(personal)
    assert meeting.removed_devices == {"browser-aaaa"} and meeting.removed_invites == {"i_mine"}
    with pytest.raises(RemovedFromMeeting) as info:
        meeting.admission("participant", invite_id="i_shared", device_id="browser-aaaa")
    assert info.value.code == "forbidden" and info.value.reason == "removed"
    with pytest.raises(RemovedFromMeeting):  # the same browser with another link, even as host
        meeting.admission("host", invite_id="i_host", device_id="browser-aaaa")
    with pytest.raises(RemovedFromMeeting):
        meeting.admission("participant", invite_id="i_mine", device_id="browser-new1")
    # Someone else with the shared link is let in.
    assert meeting.admission("participant", invite_id="i_shared", device_id="browser-bbbb") == "join"
    assert meeting.admission("participant", invite_id="i_shared") == "join"


def test_removal_blocks_last_as_long_as_the_meeting():
    registry = MeetingRegistry()
    meeting = registry.get_or_create("demo", "t")
    p = meeting.add(person("p_a", device_id="browser-aaaa"))
    meeting.remove(p.id)
    meeting.remember_removed(p)
    assert registry.drop_if_empty("demo") is True
    assert registry.get_or_create("demo", "t").admission("participant", device_id="browser-aaaa") == "join"


@pytest.mark.parametrize("value", ["abcdefgh", "A" * 64, "dev_1234-XYZ", None])
def test_device_ids_accepted(value):
    assert normalize_device_id(value) == value


@pytest.mark.parametrize("value", ["short", "a" * 65, "has space1", "dévice-123", 12345678, "", "a/b/c/d/e"])
def test_device_ids_refused(value):
    with pytest.raises(ValidationError) as info:
        normalize_device_id(value)
    assert info.value.code == "bad_request"


# ---- the lobby ----------------------------------------------------------------------------------

def test_lobby_queue_admit_deny_and_leave():
    meeting = Meeting("demo", "t", lobby_enabled=True)
    a = meeting.enter_lobby(LobbyEntry.new("Ana", "Lisbon", "participant", connection="s1", requested_at=T0))
    b = meeting.enter_lobby(LobbyEntry.new("Bob", "", "viewer", connection="s2", device_id="browser-bbbb",
                                           requested_at=T0 + timedelta(seconds=1)))
    c = meeting.enter_lobby(LobbyEntry.new("Cy", "", "participant", connection="s3"))
    assert a.id.startswith("l_") and len({a.id, b.id, c.id}) == 3
    assert [e.id for e in meeting.lobby()] == [a.id, b.id, c.id]
    assert a.to_dict() == {"id": a.id, "name": "Ana", "organisation": "Lisbon", "role": "participant",
                           "requested_at": "2026-11-23T09:30:00Z"}
    assert not meeting.is_empty  # people waiting keep the meeting alive
    assert meeting.admit(b.id) is b
    assert meeting.deny(a.id) is a
    for gone in (a.id, b.id, "l_nobody"):
        with pytest.raises(ValidationError):
            meeting.admit(gone)
        with pytest.raises(ValidationError):
            meeting.deny(gone)
    assert meeting.leave_lobby(c.id) is c and meeting.leave_lobby(c.id) is None
    assert meeting.lobby() == [] and meeting.is_empty
    with pytest.raises(ValueError):
        meeting.enter_lobby(a)
        meeting.enter_lobby(a)


def test_lobby_is_bounded(monkeypatch):
    import rooms.meeting

    monkeypatch.setattr(rooms.meeting, "MAX_LOBBY", 3)
    meeting = Meeting("demo", "t", lobby_enabled=True)
    for i in range(3):
        meeting.enter_lobby(LobbyEntry.new(f"P{i}", "", "participant"))
    with pytest.raises(LobbyFull) as info:
        meeting.enter_lobby(LobbyEntry.new("One too many", "", "participant"))
    assert info.value.code == "forbidden" and len(meeting.lobby()) == 3
    assert MAX_LOBBY >= 100


def test_ending_clears_the_lobby_and_hands():
    meeting = Meeting("demo", "t", lobby_enabled=True)
    meeting.add(person("p_a"))
    meeting.raise_hand("p_a")
    waiting = meeting.enter_lobby(LobbyEntry.new("W", "", "participant"))
    connected, denied = meeting.end()
    assert denied == [waiting] and meeting.lobby() == [] and meeting.hands() == []
    assert connected[0].to_dict()["hand_raised"] is False


def test_meeting_settings_from_a_room_row():
    room = SimpleNamespace(id="demo", title="Council", locked=True, lobby_enabled=True, allow_self_unmute=False)
    meeting = Meeting.from_room(room)
    assert (meeting.room_id, meeting.title) == ("demo", "Council")
    assert meeting.settings() == {"locked": True, "lobby_enabled": True, "allow_self_unmute": False,
                                  "ended": False}
    registry = MeetingRegistry()
    assert registry.get_or_create_for(room).settings()["locked"] is True
    assert registry.get_or_create_for(SimpleNamespace(id="demo", title="x", locked=False, lobby_enabled=False,
                                                      allow_self_unmute=True)).locked is True
    other = registry.get_or_create("other", "Other", lobby_enabled=True)
    assert other.lobby_enabled and not other.locked and other.allow_self_unmute
    assert not other.ended


def test_an_ended_room_stays_ended():
    room = SimpleNamespace(id="demo", title="Council", locked=False, lobby_enabled=False, allow_self_unmute=True,
                           ended_at=T0)
    meeting = Meeting.from_room(room)
    assert meeting.ended and meeting.ended_at == T0 and meeting.settings()["ended"] is True
    with pytest.raises(MeetingEnded):
        meeting.admission("host")
    room.ended_at = None
    assert Meeting.from_room(room).admission("participant") == "join"
    assert MeetingRegistry().get_or_create("x", "x", ended_at=T0).ended


# ---- raised hands -------------------------------------------------------------------------------

def test_hands_are_a_queue():
    meeting = Meeting("demo", "t")
    for pid in ("p_a", "p_b", "p_c"):
        meeting.add(person(pid))
    assert meeting.raise_hand("p_b", at=T0) == 1
    assert meeting.raise_hand("p_a") == 2
    assert meeting.raise_hand("p_c") == 3
    assert meeting.raise_hand("p_b") == 1  # raising again keeps the place
    assert meeting.get("p_b").hand_raised_at == T0
    assert meeting.hands() == ["p_b", "p_a", "p_c"]
    assert meeting.get("p_a").to_dict()["hand_raised"] is True
    assert meeting.lower_hand("p_b") is True and meeting.lower_hand("p_b") is False
    assert meeting.hands() == ["p_a", "p_c"] and meeting.hand_position("p_c") == 2
    assert meeting.hand_position("p_b") is None
    assert meeting.raise_hand("p_b") == 3  # back of the queue
    meeting.remove("p_a")  # leaving lowers the hand
    assert meeting.hands() == ["p_c", "p_b"]
    with pytest.raises(NotJoined):
        meeting.raise_hand("p_a")
    with pytest.raises(NotJoined):
        meeting.lower_hand("p_a")


# ---- forced mute --------------------------------------------------------------------------------

def test_forced_mute_rules():
    meeting = Meeting("demo", "t", allow_self_unmute=False)
    p = meeting.add(person("p_a"))
    assert meeting.force_mute("p_a", "audio") is True
    assert meeting.force_mute("p_a", "audio") is False
    assert meeting.held_muted(p, "audio") and not meeting.held_muted(p, "video")
    with pytest.raises(Forbidden):
        meeting.update_media_state("p_a", audio_muted=False, video_muted=True)
    assert (p.audio_muted, p.video_muted) == (True, False)  # refused as a whole: nothing changed
    meeting.update_media_state("p_a", video_muted=False)  # video was never held
    with pytest.raises(ValidationError):
        meeting.force_mute("p_a", "screen")
    with pytest.raises(ValidationError):
        meeting.request_unmute("p_a", "video")
    assert meeting.request_unmute("p_a", "audio") is True
    # The host lets everyone unmute themselves: the hold no longer applies.
    meeting.allow_self_unmute = True
    assert not meeting.held_muted(p, "audio")
    meeting.update_media_state("p_a", audio_muted=False)
    assert not p.audio_muted and not p.force_muted_audio and meeting.unmute_requests() == []
    assert meeting.allow_unmute("p_a", "audio") is False
