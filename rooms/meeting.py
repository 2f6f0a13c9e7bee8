"""The live state of meetings: who is connected, with which role and mute state, raised hands, the
lobby and the moderation flags. In memory, no I/O.

Admission (:meth:`Meeting.admission`), in this order:

1. an ended meeting admits nobody (:class:`MeetingEnded`); a room whose row has ``ended_at`` set
   stays ended (:meth:`Meeting.from_room`) until ``RoomService.update_room(room_id, ended_at=None)``;
2. a removed person is refused (:class:`RemovedFromMeeting`), see "Removal" below;
3. hosts and staff always join, even when the meeting is locked or has a lobby (the roles granted
   ``BYPASS_LOCK_AND_LOBBY`` in ``rooms.authorize``), and so does someone coming back (below);
4. a locked meeting admits nobody else (:class:`MeetingLocked`);
5. with the lobby on, everyone else waits in the lobby until a host or staff member admits them;
6. otherwise they join.

Removal. Participant links are shared by many people, so a removed person cannot be blocked by
their invite alone without locking out everyone else who holds the same link. A removal therefore
blocks, for the life of this live meeting:

- the removed person's **device id**, an optional opaque string (8-64 characters of ``A-Za-z0-9_-``)
  the client sends in ``join`` as ``device_id`` (the browser client keeps a random one in
  ``localStorage``); and
- the removed person's **invite**, only when it is a personal invite (``max_uses == 1``), which is
  nobody else's to use.

A device id is chosen by the client and can be changed (clearing the browser's storage), so this is
a deterrent against reconnecting with the same link, not a security boundary: to shut a person out
for good, give them a personal invite and revoke it (``RoomService.revoke_invite``), or lock the
meeting. The blocks live as long as the :class:`Meeting` (until everyone has left and the registry
drops it); ``participants.removed`` keeps the record in the database.

Forced mute. When a host or staff member mutes someone (:meth:`Meeting.force_mute`), the
participant's ``force_muted_audio``/``force_muted_video`` flag is set: that participant may then not
unmute themselves (:meth:`Meeting.update_media_state` raises :class:`Forbidden`) unless the meeting's
``allow_self_unmute`` is on, or a host or staff member lifts the flag (:meth:`Meeting.allow_unmute`),
typically after the participant asked (:meth:`Meeting.request_unmute`). Nobody is ever unmuted
remotely: lifting the flag lets the participant unmute themselves. Hosts and staff are never held
muted (they could lift the flag themselves). Who may unmute is decided by ``rooms.authorize``
(``LIFT_OWN_MUTE`` on an ``OwnMute``: :meth:`Meeting.own_mute`); this module keeps the flags.

Coming back. A client whose connection dropped joins again on a new connection. If it proves it
is the same person (the server's ``resume_key``, see ``RoomService.resumable``), it keeps its id
(``RoomService.record_return`` reopens its row) and gets back the role it had in this meeting,
promoted or demoted, not the invite's, and :meth:`Meeting.admission` lets it straight in (``returning``): it was admitted
before, so neither the lobby nor a lock made meanwhile keeps it out. An ended meeting and a
removal still do.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Hashable

from .authorize import Action, Actor, OwnMute, Role, authorize, require
from .errors import Forbidden, NotJoined, ValidationError

MEDIA_KINDS = ("audio", "video")
MAX_LOBBY = 1000
MAX_HELD_ON_LEAVE = 10_000  # remembered held mutes of people who left (oldest forgotten first)
DEVICE_ID_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")


class Refusal(Forbidden):
    """Why someone may not join (code ``forbidden``): ``reason`` is a stable word for the client,
    ``default_message`` what a person reads."""

    reason = "forbidden"
    default_message = "you may not join this meeting"

    def __init__(self, message: str | None = None):
        super().__init__(message or self.default_message)


class RemovedFromMeeting(Refusal):
    """This person was removed from the meeting and may not come back."""

    reason, default_message = "removed", "you were removed from this meeting"


class MeetingLocked(Refusal):
    """The meeting is locked: nobody new may join."""

    reason, default_message = "locked", "this meeting is locked"


class MeetingEnded(Refusal):
    """The host ended the meeting."""

    reason, default_message = "ended", "this meeting has ended"


class LobbyFull(Refusal):
    """Too many people are waiting in the lobby."""

    reason, default_message = "lobby_full", "the lobby is full; try again later"


def new_lobby_id() -> str:
    return "l_" + secrets.token_hex(8)


def normalize_device_id(value: object) -> str | None:
    """The optional ``device_id`` join field: None if absent, else 8-64 characters of
    ``A-Za-z0-9_-``; anything else is a :class:`ValidationError`."""
    if value is None:
        return None
    if not isinstance(value, str) or not DEVICE_ID_RE.fullmatch(value):
        raise ValidationError("'device_id' must be 8-64 characters of A-Z, a-z, 0-9, '-' and '_'",
                              "device_id")
    return value


def _media_kind(kind: object) -> str:
    if kind not in MEDIA_KINDS:
        raise ValidationError("'kind' must be 'audio' or 'video'", "kind")
    return str(kind)


def iso_utc(value: datetime) -> str:
    """``2026-11-23T09:30:00Z`` (naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> datetime | None:
    """An aware time from ISO 8601 text (as :meth:`Meeting.snapshot` and :func:`iso_utc` write it; a
    naive one is UTC), or None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def room_object(room_id: str, title: str, city: str | None = None, starts_at: datetime | None = None,
                ends_at: datetime | None = None) -> dict[str, Any]:
    """The protocol's Room object: ``{"id", "title", "city", "starts_at", "ends_at"}``."""
    return {"id": room_id, "title": title, "city": city,
            "starts_at": iso_utc(starts_at) if starts_at else None,
            "ends_at": iso_utc(ends_at) if ends_at else None}


@dataclass(slots=True)
class LiveParticipant:
    id: str
    name: str
    organisation: str
    role: str
    audio_muted: bool = False
    video_muted: bool = False
    joined_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # the server's handle of the live connection, if any: opaque here (rooms/ knows no Socket.IO)
    connection: Hashable | None = None
    hand_raised_at: datetime | None = None
    # Set when a host or staff member muted this participant (see the module docstring).
    force_muted_audio: bool = False
    force_muted_video: bool = False
    # Who this is, for removal (see the module docstring): not part of the protocol object.
    invite_id: str | None = None
    personal_invite: bool = False  # the invite has max_uses == 1
    device_id: str | None = None
    # Came through a scheduled meeting's delegation's invite: that delegation's city and IANA zone.
    city: str | None = None
    time_zone: str | None = None

    @property
    def visible(self) -> bool:
        """Viewers never appear in participant lists."""
        return self.role != Role.VIEWER

    @property
    def hand_raised(self) -> bool:
        return self.hand_raised_at is not None

    def force_muted(self, kind: str) -> bool:
        return self.force_muted_audio if kind == "audio" else self.force_muted_video

    def to_dict(self) -> dict[str, Any]:
        """The protocol's Participant object (``city`` and ``time_zone`` only for a delegate)."""
        data = {
            "id": self.id,
            "name": self.name,
            "organisation": self.organisation,
            "role": str(self.role),
            "audio_muted": self.audio_muted,
            "video_muted": self.video_muted,
            "joined_at": iso_utc(self.joined_at),
            "hand_raised": self.hand_raised,
        }
        if self.time_zone:
            data["city"] = self.city or ""
            data["time_zone"] = self.time_zone
        return data


@dataclass(slots=True)
class LobbyEntry:
    """Someone waiting in the lobby to be admitted."""

    id: str
    name: str
    organisation: str
    role: str
    requested_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    connection: Hashable | None = None  # the server's handle of the waiting connection (opaque)
    invite_id: str | None = None
    personal_invite: bool = False
    device_id: str | None = None

    @classmethod
    def new(cls, name: str, organisation: str, role: Role | str, *, connection: Hashable | None = None,
            invite_id: str | None = None, personal_invite: bool = False, device_id: str | None = None,
            requested_at: datetime | None = None) -> LobbyEntry:
        """A lobby entry with a fresh id (``l_...``)."""
        return cls(id=new_lobby_id(), name=name, organisation=organisation, role=Role(role).value,
                   requested_at=requested_at or datetime.now(UTC), connection=connection, invite_id=invite_id,
                   personal_invite=personal_invite, device_id=device_id)

    def to_dict(self) -> dict[str, Any]:
        """The lobby entry as hosts and staff see it."""
        return {
            "id": self.id,
            "name": self.name,
            "organisation": self.organisation,
            "role": str(self.role),
            "requested_at": iso_utc(self.requested_at),
        }


class Meeting:
    """One room's live meeting. Participants are kept in join order, raised hands and the lobby in
    the order of asking."""

    def __init__(self, room_id: str, title: str, *, locked: bool = False, lobby_enabled: bool = False,
                 allow_self_unmute: bool = True, ended_at: datetime | None = None,
                 city: str | None = None, starts_at: datetime | None = None, ends_at: datetime | None = None):
        self.room_id = room_id
        self.title = title
        self.city = city
        self.starts_at, self.ends_at = starts_at, ends_at  # planned, if the organiser said so
        self.started_at: datetime | None = None  # when the first participant was admitted
        self.locked = bool(locked)
        self.lobby_enabled = bool(lobby_enabled)
        self.allow_self_unmute = bool(allow_self_unmute)
        # An ended meeting stays ended: a room whose row has ``ended_at`` refuses joins until
        # ``RoomService.update_room(room_id, ended_at=None)`` reopens it.
        self.ended = ended_at is not None
        self.ended_at: datetime | None = ended_at
        self._participants: dict[str, LiveParticipant] = {}
        self._hands: dict[str, datetime] = {}  # participant id -> raised at, in raising order
        self._lobby: dict[str, LobbyEntry] = {}
        self._unmute_requests: dict[str, set[str]] = {}  # participant id -> {"audio", "video"}
        self.removed_invites: set[str] = set()
        self.removed_devices: set[str] = set()
        # Held mutes of people who left, by participant id and by device: leaving and joining
        # again (a dropped connection, a reload) must not be a way out of a host's mute.
        self._held_on_leave: dict[str, tuple[tuple[bool, bool], tuple[str, ...]]] = {}
        # Hands raised before the server restarted, by participant id: each comes back, in its
        # place in the queue, when its participant does (see restore).
        self._returning_hands: dict[str, datetime] = {}

    @classmethod
    def from_room(cls, room: Any) -> Meeting:
        """A new live meeting for a ``rooms.models.Room`` row (its title, moderation settings, and
        whether it was ended)."""
        return cls(room.id, room.title, locked=bool(room.locked), lobby_enabled=bool(room.lobby_enabled),
                   allow_self_unmute=bool(getattr(room, "allow_self_unmute", True)),
                   ended_at=getattr(room, "ended_at", None), city=getattr(room, "city", None),
                   starts_at=getattr(room, "starts_at", None), ends_at=getattr(room, "ends_at", None))

    def __repr__(self) -> str:
        return f"Meeting({self.room_id!r}, {len(self._participants)} connected)"

    def __len__(self) -> int:
        return len(self._participants)

    def __contains__(self, participant_id: object) -> bool:
        return participant_id in self._participants

    @property
    def is_empty(self) -> bool:
        """Nobody connected and nobody waiting in the lobby."""
        return not self._participants and not self._lobby

    def settings(self) -> dict[str, bool]:
        """The moderation flags, for hosts and staff."""
        return {"locked": self.locked, "lobby_enabled": self.lobby_enabled,
                "allow_self_unmute": self.allow_self_unmute, "ended": self.ended}

    def room_dict(self) -> dict[str, Any]:
        """The protocol's Room object."""
        return room_object(self.room_id, self.title, self.city, self.starts_at, self.ends_at)

    def meeting_dict(self) -> dict[str, Any]:
        """When this meeting began (its clock), for the join ack."""
        return {"started_at": iso_utc(self.started_at) if self.started_at else None}

    def add(self, participant: LiveParticipant) -> LiveParticipant:
        """Add someone who joined. If the same participant (id) or device left while held muted,
        the hold comes back with them (they join muted; see :meth:`held_kinds`)."""
        if participant.id in self._participants:
            raise ValueError(f"participant {participant.id!r} is already in the meeting")
        held = None
        for key in self._hold_keys(participant):
            entry = self._held_on_leave.get(key)
            if entry is not None:
                held, stored_keys = entry
                for stored in stored_keys:  # one hold, whichever way it comes back
                    self._held_on_leave.pop(stored, None)
        if held is not None and not authorize(Actor.of(participant), Action.LIFT_OWN_MUTE):
            for kind, on in zip(MEDIA_KINDS, held):
                if on:
                    setattr(participant, f"force_muted_{kind}", True)
                    setattr(participant, f"{kind}_muted", True)
        self._participants[participant.id] = participant
        raised_at = self._returning_hands.pop(participant.id, None)
        if raised_at is not None and not self.ended:
            participant.hand_raised_at = raised_at
            self._hands[participant.id] = raised_at
            self._hands = dict(sorted(self._hands.items(), key=lambda item: item[1]))
        if self.started_at is None:
            self.started_at = participant.joined_at
        return participant

    @staticmethod
    def _hold_keys(participant: LiveParticipant) -> list[str]:
        keys = ["p:" + participant.id]
        if participant.device_id:
            keys.append("d:" + participant.device_id)
        return keys

    def held_kinds(self, participant: LiveParticipant) -> list[str]:
        """The kinds (``audio``, ``video``) a participant is held muted in."""
        return [kind for kind in MEDIA_KINDS if participant.force_muted(kind)]

    def remove(self, participant_id: str) -> LiveParticipant | None:
        """Take a participant out of the meeting (left, disconnected or removed); lowers their hand."""
        participant = self._participants.pop(participant_id, None)
        if participant is not None:
            held = (participant.force_muted_audio, participant.force_muted_video)
            if any(held):
                while len(self._held_on_leave) >= MAX_HELD_ON_LEAVE:
                    self._held_on_leave.pop(next(iter(self._held_on_leave)))
                keys = tuple(self._hold_keys(participant))
                for key in keys:
                    self._held_on_leave[key] = (held, keys)
            self._hands.pop(participant_id, None)
            participant.hand_raised_at = None
            self._unmute_requests.pop(participant_id, None)
        return participant

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

    def require(self, participant_id: str) -> LiveParticipant:
        """The participant, or :class:`NotJoined`."""
        return self._require(participant_id)

    def own_mute(self, participant: LiveParticipant, kind: str) -> OwnMute:
        """``participant``'s microphone or camera as ``rooms.authorize`` sees it: whether a host's
        mute holds it, and whether this meeting lets participants lift that themselves."""
        return OwnMute(kind, participant.force_muted(kind), self.allow_self_unmute)

    def held_muted(self, participant: LiveParticipant, kind: str) -> bool:
        """Whether ``participant`` may not unmute ``kind`` themselves (see the module docstring)."""
        return not authorize(Actor.of(participant), Action.LIFT_OWN_MUTE, self.own_mute(participant, kind))

    def update_media_state(self, participant_id: str, audio_muted: bool | None = None,
                           video_muted: bool | None = None) -> LiveParticipant:
        """Set the mute flags that are given (None leaves one unchanged): the participant's own
        request. Unmuting what a host or staff member muted raises :class:`Forbidden` unless self
        unmuting is allowed (and then lifts the forced mute); nothing changes on refusal."""
        participant = self._require(participant_id)
        wanted = {"audio": audio_muted, "video": video_muted}
        for kind, muted in wanted.items():
            if muted is not None and not muted:
                require(Actor.of(participant), Action.LIFT_OWN_MUTE, self.own_mute(participant, kind))
        for kind, muted in wanted.items():
            if muted is None:
                continue
            setattr(participant, f"{kind}_muted", bool(muted))
            if not muted:
                setattr(participant, f"force_muted_{kind}", False)
                self._unmute_requests.get(participant_id, set()).discard(kind)
        return participant

    def force_mute(self, participant_id: str, kind: str = "audio") -> bool:
        """Mute a participant on a host's or staff member's behalf and hold them muted; True if
        anything changed. The server also stops forwarding their track (or asks the client to)."""
        kind = _media_kind(kind)
        participant = self._require(participant_id)
        before = (getattr(participant, f"{kind}_muted"), participant.force_muted(kind))
        setattr(participant, f"{kind}_muted", True)
        setattr(participant, f"force_muted_{kind}", True)
        return before != (True, True)

    def allow_unmute(self, participant_id: str, kind: str = "audio") -> bool:
        """Lift a forced mute: the participant may unmute themselves again (they stay muted until
        they do). True if a flag was lifted."""
        kind = _media_kind(kind)
        participant = self._require(participant_id)
        requests = self._unmute_requests.get(participant_id)
        if requests is not None:
            requests.discard(kind)
            if not requests:
                del self._unmute_requests[participant_id]
        if not participant.force_muted(kind):
            return False
        setattr(participant, f"force_muted_{kind}", False)
        return True

    def request_unmute(self, participant_id: str, kind: str = "audio") -> bool:
        """A held-muted participant asks to unmute; True if the request is new (the server tells the
        hosts and staff). Asking when not held muted is a :class:`ValidationError`."""
        kind = _media_kind(kind)
        participant = self._require(participant_id)
        if not self.held_muted(participant, kind):
            raise ValidationError(f"your {kind} is not held muted; unmute it yourself", "kind")
        requests = self._unmute_requests.setdefault(participant_id, set())
        if kind in requests:
            return False
        requests.add(kind)
        return True

    def unmute_requests(self) -> list[tuple[str, str]]:
        """Pending ``(participant id, kind)`` unmute requests, in join order."""
        return [(pid, kind) for pid in self._participants for kind in MEDIA_KINDS
                if kind in self._unmute_requests.get(pid, ())]

    # ---- raised hands ---------------------------------------------------------------------------

    def raise_hand(self, participant_id: str, *, at: datetime | None = None) -> int:
        """Raise a hand; returns its 1-based place in the queue (raising twice keeps the place).
        Refused (:class:`MeetingEnded`) once the meeting has ended."""
        participant = self._require(participant_id)
        if self.ended:
            raise MeetingEnded()
        if participant_id not in self._hands:
            participant.hand_raised_at = at or datetime.now(UTC)
            self._hands[participant_id] = participant.hand_raised_at
        return list(self._hands).index(participant_id) + 1

    def lower_hand(self, participant_id: str) -> bool:
        """Lower a hand; True if it was raised."""
        participant = self._require(participant_id)
        participant.hand_raised_at = None
        return self._hands.pop(participant_id, None) is not None

    def hands(self) -> list[str]:
        """The ids of participants with a raised hand, first raised first."""
        return list(self._hands)

    def hand_position(self, participant_id: str) -> int | None:
        """1-based place in the queue, or None."""
        try:
            return list(self._hands).index(participant_id) + 1
        except ValueError:
            return None

    # ---- what outlives the server process --------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """What this meeting decided that a restart of the server must not undo, as plain JSON:
        the raised hands, first raised first (``[participant id, raised at]``, also those of
        participants not back yet after a restart), the held mutes of those here and of those
        who left (``{"keys": ["p:<id>", "d:<device>"], "audio": bool, "video": bool}``), and when
        the meeting began (its clock)."""
        hands = {**self._returning_hands, **self._hands}
        held = []
        for participant in self._participants.values():
            if participant.force_muted_audio or participant.force_muted_video:
                held.append({"keys": self._hold_keys(participant), "audio": participant.force_muted_audio,
                             "video": participant.force_muted_video})
        seen: set[tuple[str, ...]] = set()
        for (audio, video), keys in self._held_on_leave.values():
            if keys not in seen:
                seen.add(keys)
                held.append({"keys": list(keys), "audio": audio, "video": video})
        # (to the microsecond: two hands raised in one second keep their order)
        return {"hands": [[pid, at.astimezone(UTC).isoformat()]
                          for pid, at in sorted(hands.items(), key=lambda item: item[1])],
                "held": held,
                "started_at": self.started_at.astimezone(UTC).isoformat() if self.started_at else None}

    def restore(self, snapshot: Any) -> None:
        """Take back a :meth:`snapshot` (the first meeting of a room after the server restarted,
        before anyone is in it): each raised hand comes back, in its place, when its participant
        does; each held mute as if its holder had just left (it applies when they join again).
        Entries that do not read as a snapshot's are skipped."""
        if not isinstance(snapshot, dict):
            return
        if self.started_at is None:  # the meeting's clock goes on from when it began
            self.started_at = parse_time(snapshot.get("started_at"))
        for item in snapshot.get("hands") or []:
            if (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
                    and (at := parse_time(item[1])) is not None):
                self._returning_hands[item[0]] = at
        for item in (snapshot.get("held") or [])[:MAX_HELD_ON_LEAVE]:
            if not isinstance(item, dict):
                continue
            keys = tuple(k for k in item.get("keys") or [] if isinstance(k, str) and k[:2] in ("p:", "d:"))
            held = (item.get("audio") is True, item.get("video") is True)
            if keys and any(held):
                for key in keys:
                    self._held_on_leave[key] = (held, keys)

    # ---- admission and the lobby ----------------------------------------------------------------

    def is_removed(self, invite_id: str | None = None, device_id: str | None = None) -> bool:
        return (invite_id is not None and invite_id in self.removed_invites) or \
            (device_id is not None and device_id in self.removed_devices)

    def admission(self, role: Role | str, *, invite_id: str | None = None,
                  device_id: str | None = None, returning: bool = False) -> str:
        """``"join"`` or ``"lobby"`` for someone asking to join with ``role``; raises
        :class:`MeetingEnded`, :class:`RemovedFromMeeting` or :class:`MeetingLocked` (all code
        ``forbidden``). See the module docstring for the rules. ``returning``: a participant
        coming back after a dropped connection (see "Coming back"), already admitted once."""
        role = Role(role)
        if self.ended:
            raise MeetingEnded()
        if self.is_removed(invite_id, device_id):
            raise RemovedFromMeeting()
        if returning or authorize(Actor(role), Action.BYPASS_LOCK_AND_LOBBY):
            return "join"
        if self.locked:
            raise MeetingLocked()
        return "lobby" if self.lobby_enabled else "join"

    def remember_removed(self, person: LiveParticipant | LobbyEntry) -> None:
        """Block this person from coming back: their device id, and their invite if personal."""
        if person.device_id:
            self.removed_devices.add(person.device_id)
        if person.invite_id and person.personal_invite:
            self.removed_invites.add(person.invite_id)

    def enter_lobby(self, entry: LobbyEntry) -> LobbyEntry:
        """Put someone in the lobby (the server asked :meth:`admission` first)."""
        if self.ended:
            raise MeetingEnded()
        if entry.id in self._lobby:
            raise ValueError(f"lobby entry {entry.id!r} is already waiting")
        if len(self._lobby) >= MAX_LOBBY:
            raise LobbyFull()
        self._lobby[entry.id] = entry
        return entry

    def leave_lobby(self, entry_id: str) -> LobbyEntry | None:
        """Someone stopped waiting (disconnected)."""
        return self._lobby.pop(entry_id, None)

    def lobby_entry(self, entry_id: str) -> LobbyEntry | None:
        return self._lobby.get(entry_id)

    def _require_lobby(self, entry_id: str) -> LobbyEntry:
        entry = self._lobby.get(entry_id)
        if entry is None:
            raise ValidationError(f"nobody is waiting as {str(entry_id)[:40]!r}", "id")
        return entry

    def admit(self, entry_id: str) -> LobbyEntry:
        """Let someone in: the entry leaves the lobby and the server completes their join."""
        self._require_lobby(entry_id)
        return self._lobby.pop(entry_id)

    def deny(self, entry_id: str) -> LobbyEntry:
        """Turn someone away: the entry leaves the lobby and the server tells them."""
        self._require_lobby(entry_id)
        return self._lobby.pop(entry_id)

    def lobby(self) -> list[LobbyEntry]:
        """Everyone waiting, first come first."""
        return list(self._lobby.values())

    def end(self, *, at: datetime | None = None) -> tuple[list[LiveParticipant], list[LobbyEntry]]:
        """End the meeting: nobody may join any more. Returns who is connected (including viewers)
        and who was waiting, for the server to tell and disconnect; the lobby and hands are cleared,
        the participants are left for the server to remove as it disconnects them."""
        self.ended = True
        self.ended_at = at or datetime.now(UTC)
        waiting = list(self._lobby.values())
        self._lobby.clear()
        for pid in self._hands:
            self._participants[pid].hand_raised_at = None
        self._hands.clear()
        self._unmute_requests.clear()
        return list(self._participants.values()), waiting

    def set_role(self, participant_id: str, role: Role | str) -> LiveParticipant:
        """Change a role (no grant check: see ``rooms.moderation``). A role that may not raise a
        hand (a viewer) has its hand lowered."""
        participant = self._require(participant_id)
        participant.role = Role(role).value
        if not authorize(Actor.of(participant), Action.RAISE_HAND) and participant_id in self._hands:
            self.lower_hand(participant_id)
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

    def get_or_create(self, room_id: str, title: str, *, locked: bool = False, lobby_enabled: bool = False,
                      allow_self_unmute: bool = True, ended_at: datetime | None = None) -> Meeting:
        """The live meeting; a new one is given the settings (an existing one keeps its own)."""
        meeting = self._meetings.get(room_id)
        if meeting is None:
            meeting = self._meetings[room_id] = Meeting(
                room_id, title, locked=locked, lobby_enabled=lobby_enabled,
                allow_self_unmute=allow_self_unmute, ended_at=ended_at)
        return meeting

    def get_or_create_for(self, room: Any) -> Meeting:
        """The live meeting of a ``rooms.models.Room`` row, created from its settings if need be."""
        meeting = self._meetings.get(room.id)
        if meeting is None:
            meeting = self._meetings[room.id] = Meeting.from_room(room)
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
