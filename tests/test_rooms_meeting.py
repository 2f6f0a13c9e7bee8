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
