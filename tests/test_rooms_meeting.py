"""Live meeting state: in memory, protocol-shaped, viewers hidden."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from rooms.errors import DomainError
from rooms.meeting import LiveParticipant, Meeting, MeetingRegistry

JOINED = datetime(2026, 11, 23, 9, 30, 0, 123456, tzinfo=UTC)


def person(pid: str, role: str = "participant", **kw) -> LiveParticipant:
    return LiveParticipant(id=pid, name=f"Name {pid}", organisation="Lisbon", role=role,
                           joined_at=JOINED, **kw)


def test_to_dict_is_the_protocol_participant():
    p = person("p_8f3a", connection="sid-1")
    assert p.to_dict() == {
        "id": "p_8f3a", "name": "Name p_8f3a", "organisation": "Lisbon", "role": "participant",
        "audio_muted": False, "video_muted": False, "joined_at": "2026-11-23T09:30:00Z",
        "hand_raised": False,
    }
    # a delegate (came through a scheduled meeting's delegation invite) also has its city and zone
    delegate = person("p_9c1d", city="Seoul", time_zone="Asia/Seoul")
    assert delegate.to_dict() == {**person("p_9c1d").to_dict(), "city": "Seoul", "time_zone": "Asia/Seoul"}


def test_joined_at_is_given_in_utc():
    lisbon_winter = timezone(timedelta(hours=2))
    p = LiveParticipant(id="p_1", name="A", organisation="", role="host",
                        joined_at=datetime(2026, 11, 23, 11, 30, tzinfo=lisbon_winter))
    assert p.to_dict()["joined_at"] == "2026-11-23T09:30:00Z"
    assert LiveParticipant(id="p_2", name="B", organisation="", role="host").joined_at.tzinfo is not None


def test_add_get_remove_and_order():
    meeting = Meeting("demo", "City Situation Room")
    a, b, c = meeting.add(person("p_a")), meeting.add(person("p_b", "host")), meeting.add(person("p_c"))
    assert [p.id for p in meeting.list()] == ["p_a", "p_b", "p_c"]
    assert meeting.get("p_b") is b and "p_b" in meeting and len(meeting) == 3
    assert meeting.remove("p_b") is b
    assert meeting.remove("p_b") is None and meeting.get("p_b") is None
    assert meeting.list() == [a, c]
    assert meeting.room_dict() == {"id": "demo", "title": "City Situation Room", "city": None,
                                   "starts_at": None, "ends_at": None}


def test_adding_the_same_id_twice_is_refused():
    meeting = Meeting("demo", "t")
    meeting.add(person("p_a"))
    with pytest.raises(ValueError):
        meeting.add(person("p_a"))


def test_viewers_are_hidden_from_lists_but_still_connected():
    meeting = Meeting("demo", "t")
    meeting.add(person("p_a"))
    meeting.add(person("p_v", "viewer"))
    meeting.add(person("p_s", "staff"))
    assert [p.id for p in meeting.list()] == ["p_a", "p_s"]
    assert [p.id for p in meeting.list(include_viewers=True)] == ["p_a", "p_v", "p_s"]
    assert meeting.get("p_v") is not None and not meeting.is_empty
    assert meeting.counts() == {"participants": 2, "viewers": 1}


def test_update_media_state():
    meeting = Meeting("demo", "t")
    meeting.add(person("p_a"))
    p = meeting.update_media_state("p_a", True, False)
    assert (p.audio_muted, p.video_muted) == (True, False)
    p = meeting.update_media_state("p_a", video_muted=True)
    assert (p.audio_muted, p.video_muted) == (True, True)
    assert p.to_dict()["audio_muted"] is True and p.to_dict()["video_muted"] is True
    with pytest.raises(DomainError) as info:
        meeting.update_media_state("p_gone", True, True)
    assert info.value.code == "not_joined"


def test_set_role():
    meeting = Meeting("demo", "t")
    meeting.add(person("p_a", "viewer"))
    assert meeting.list() == []
    assert meeting.set_role("p_a", "staff").to_dict()["role"] == "staff"
    assert [p.id for p in meeting.list()] == ["p_a"]
    with pytest.raises(ValueError):
        meeting.set_role("p_a", "emperor")


def test_registry_get_or_create_and_drop_if_empty():
    registry = MeetingRegistry()
    assert registry.get("demo") is None
    meeting = registry.get_or_create("demo", "City Situation Room")
    assert registry.get_or_create("demo", "ignored") is meeting and meeting.title == "City Situation Room"
    meeting.add(person("p_a"))
    meeting.add(person("p_v", "viewer"))
    registry.get_or_create("other", "Other")
    assert registry.stats() == {"meetings": 2, "participants": 1, "viewers": 1}
    assert registry.drop_if_empty("demo") is False and registry.get("demo") is meeting
    meeting.remove("p_a")
    assert registry.drop_if_empty("demo") is False  # the viewer is still connected
    meeting.remove("p_v")
    assert registry.drop_if_empty("demo") is True and registry.get("demo") is None
    assert registry.drop_if_empty("demo") is False
    assert [m.room_id for m in registry] == ["other"] and len(registry) == 1


# ---- what outlives the server process (issue 15) -------------------------------------------------

def test_a_snapshot_keeps_hands_in_order_and_every_held_mute():
    meeting = Meeting("demo", "t", allow_self_unmute=False)
    for pid in ("p_a", "p_b", "p_c"):
        meeting.add(person(pid, device_id=f"device-{pid}"))
    meeting.raise_hand("p_c", at=JOINED)
    meeting.raise_hand("p_a", at=JOINED + timedelta(microseconds=5))  # the same second, later
    meeting.force_mute("p_b", "audio")
    meeting.force_mute("p_c", "video")
    meeting.remove("p_c")  # left while held: the hold is kept for their return
    snapshot = meeting.snapshot()
    assert [pid for pid, _ in snapshot["hands"]] == ["p_a"]  # p_c's hand went down as they left
    held = {tuple(h["keys"]): (h["audio"], h["video"]) for h in snapshot["held"]}
    assert held == {("p:p_b", "d:device-p_b"): (True, False), ("p:p_c", "d:device-p_c"): (False, True)}


def test_a_restored_meeting_gives_back_hands_in_their_places_and_holds_on_return():
    before = Meeting("demo", "t", allow_self_unmute=False)
    for pid in ("p_a", "p_b", "p_c"):
        before.add(person(pid, device_id=f"device-{pid}"))
    before.raise_hand("p_b", at=JOINED)
    before.raise_hand("p_a", at=JOINED + timedelta(microseconds=5))
    before.raise_hand("p_c", at=JOINED + timedelta(seconds=3))
    before.force_mute("p_a", "audio")

    after = Meeting("demo", "t", allow_self_unmute=False)
    after.restore(before.snapshot())
    assert after.started_at == before.started_at == JOINED  # the meeting's clock goes on
    assert after.hands() == []  # nobody is back yet
    a = after.add(person("p_a", device_id="device-p_a"))
    c = after.add(person("p_c"))
    assert after.hands() == ["p_a", "p_c"] and a.hand_raised and c.hand_raised
    assert a.force_muted_audio and a.audio_muted and after.held_kinds(a) == ["audio"]
    assert after.held_muted(a, "audio")  # self-unmute is off: it may not lift it
    b = after.add(person("p_b"))
    assert after.hands() == ["p_b", "p_a", "p_c"] and b.hand_raised  # first raised, first in the queue
    # a second restart before everyone came back loses nothing
    again = Meeting("demo", "t")
    again.restore(after.snapshot())
    assert again.add(person("p_x", device_id="device-p_a")).force_muted_audio  # the same device


def test_restore_skips_what_does_not_read_as_a_snapshot():
    meeting = Meeting("demo", "t")
    meeting.restore({"hands": [["p_a", "yesterday"], "p_b", [1, 2], ["p_c", "2026-11-23T09:30:00Z"]],
                     "held": [{"keys": ["x:evil"], "audio": True}, "no", {"keys": ["p:p_d"], "audio": "yes"}]})
    meeting.restore(None)
    assert not meeting.add(person("p_a")).hand_raised
    assert meeting.add(person("p_c")).hand_raised
    assert not meeting.add(person("p_d")).force_muted_audio
