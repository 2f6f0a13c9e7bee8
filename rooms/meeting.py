"""The live state of meetings: who is connected, with which role and mute state. In memory, no I/O."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import NotJoined
from .grants import Role


def iso_utc(value: datetime) -> str:
    """``2026-11-23T09:30:00Z`` (naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class LiveParticipant:
    id: str
    name: str
    organisation: str
    role: str
    audio_muted: bool = False
    video_muted: bool = False
    joined_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    sid: str | None = None  # the Socket.IO connection, if any

    @property
    def visible(self) -> bool:
        """Viewers never appear in participant lists."""
        return self.role != Role.VIEWER

    def to_dict(self) -> dict[str, Any]:
        """The protocol's Participant object."""
        return {
            "id": self.id,
            "name": self.name,
            "organisation": self.organisation,
            "role": str(self.role),
            "audio_muted": self.audio_muted,
            "video_muted": self.video_muted,
            "joined_at": iso_utc(self.joined_at),
        }


class Meeting:
    """One room's live meeting. Participants are kept in join order."""

    def __init__(self, room_id: str, title: str):
        self.room_id = room_id
        self.title = title
        self._participants: dict[str, LiveParticipant] = {}

    def __repr__(self) -> str:
        return f"Meeting({self.room_id!r}, {len(self._participants)} connected)"

    def __len__(self) -> int:
        return len(self._participants)

    def __contains__(self, participant_id: object) -> bool:
        return participant_id in self._participants

    @property
    def is_empty(self) -> bool:
        return not self._participants

    def room_dict(self) -> dict[str, str]:
        """The protocol's Room object."""
        return {"id": self.room_id, "title": self.title}

    def add(self, participant: LiveParticipant) -> LiveParticipant:
        if participant.id in self._participants:
            raise ValueError(f"participant {participant.id!r} is already in the meeting")
        self._participants[participant.id] = participant
        return participant

    def remove(self, participant_id: str) -> LiveParticipant | None:
        return self._participants.pop(participant_id, None)

    def get(self, participant_id: str) -> LiveParticipant | None:
        return self._participants.get(participant_id)

    def list(self, include_viewers: bool = False) -> list[LiveParticipant]:
        """Everyone in join order; viewers only if asked for."""
        return [p for p in self._participants.values() if include_viewers or p.visible]

    def _require(self, participant_id: str) -> LiveParticipant:
        participant = self._participants.get(participant_id)
        if participant is None:
            raise NotJoined(f"participant {participant_id!r} is not in the meeting")
        return participant

    def update_media_state(self, participant_id: str, audio_muted: bool | None = None,
                           video_muted: bool | None = None) -> LiveParticipant:
        """Set the mute flags that are given (None leaves one unchanged)."""
        participant = self._require(participant_id)
        if audio_muted is not None:
            participant.audio_muted = bool(audio_muted)
        if video_muted is not None:
            participant.video_muted = bool(video_muted)
        return participant

    def set_role(self, participant_id: str, role: Role | str) -> LiveParticipant:
        participant = self._require(participant_id)
        participant.role = Role(role).value
        return participant

    def counts(self) -> dict[str, int]:
        viewers = sum(1 for p in self._participants.values() if not p.visible)
        return {"participants": len(self._participants) - viewers, "viewers": viewers}


class MeetingRegistry:
    """The live meetings of this process, by room id."""

    def __init__(self) -> None:
        self._meetings: dict[str, Meeting] = {}

    def __len__(self) -> int:
        return len(self._meetings)

    def __iter__(self) -> Iterator[Meeting]:
        return iter(list(self._meetings.values()))

    def get(self, room_id: str) -> Meeting | None:
        return self._meetings.get(room_id)

    def get_or_create(self, room_id: str, title: str) -> Meeting:
        meeting = self._meetings.get(room_id)
        if meeting is None:
            meeting = self._meetings[room_id] = Meeting(room_id, title)
        return meeting

    def drop_if_empty(self, room_id: str) -> bool:
        """Forget the meeting if nobody is connected; True if it was dropped."""
        meeting = self._meetings.get(room_id)
        if meeting is not None and meeting.is_empty:
            del self._meetings[room_id]
            return True
        return False

    def stats(self) -> dict[str, int]:
        totals = {"meetings": len(self._meetings), "participants": 0, "viewers": 0}
        for meeting in self._meetings.values():
            for key, value in meeting.counts().items():
                totals[key] += value
        return totals
