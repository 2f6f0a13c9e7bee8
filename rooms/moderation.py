"""Moderation: who may mute, remove, promote, lock, admit and end, and what that changes.

:class:`Moderation` wraps one live :class:`~rooms.meeting.Meeting`. Every method takes the acting
:class:`~rooms.meeting.LiveParticipant` and, in this order:

1. refuses with :class:`~rooms.errors.NotJoined` if the actor is not in the meeting, and with
   :class:`~rooms.meeting.MeetingEnded` (``forbidden``) once the meeting has ended (but ``end``);
2. refuses with :class:`~rooms.errors.Forbidden` (``forbidden``) unless the actor's role is granted
   the action (``rooms.authorize.require(actor, action)``);
3. refuses with :class:`~rooms.errors.ValidationError` (``bad_request``) for a missing target (not in
   the meeting, not in the lobby), for acting on oneself, or for a bad argument;
4. refuses with :class:`~rooms.errors.Forbidden` when ``rooms.authorize`` refuses the action on that
   target (its rank rule: staff act on no host; nobody gives a role above their own);
5. only then changes the meeting, and returns a :class:`ModerationResult` describing what changed.

Every permission is decided in ``rooms.authorize``; this module asks it and words nothing itself.

A refusal changes nothing. The methods do no I/O: the server emits events from the result and
persists it (:func:`persist` does the database half: the room's settings, the removal, the timeline).

Which grant each action needs (``rooms.authorize.GRANTS``):

=====================  ========================
mute, mute_all         ``MUTE_OTHERS``
allow_unmute           ``MUTE_OTHERS``
set_allow_self_unmute  ``MUTE_OTHERS``
lower_hand (another's) ``MUTE_OTHERS``
raise_hand             ``RAISE_HAND``
remove                 ``REMOVE_PARTICIPANT``
promote (and demote,   ``PROMOTE``; giving a role above one's own is refused (only a host hands
transfer the host)     over the host role)
lock, set_lobby        ``LOCK_MEETING``
admit, deny            ``ADMIT_LOBBY``
end                    ``END_MEETING``
=====================  ========================

Roles and the host. Handing over the host role (``promote(actor, target, "host")``) makes the target
host and the actor staff, so moderation never adds a host: the number of hosts stays what the host
links made it (usually one). ``mute_all`` mutes everyone with the ``participant`` role (hosts and
staff run the meeting and are left alone). Viewers do not publish and are not in participant lists,
so they cannot be muted, and their hands cannot be raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .authorize import Action, Actor, Party, Role, RoleGrant, rank, require
from .errors import NotJoined, ValidationError
from .meeting import MEDIA_KINDS, LiveParticipant, LobbyEntry, Meeting, MeetingEnded

if TYPE_CHECKING:  # only for persist(): no import of the database layer at run time
    from .service import RoomService
    from .timeline import Timeline


@dataclass(frozen=True, slots=True)
class ModerationResult:
    """What a moderation action changed.

    - ``kind``: the timeline kind (``"mute"``, ``"mute_all"``, ``"allow_unmute"``, ``"remove"``,
      ``"promote"``, ``"demote"``, ``"transfer_host"``, ``"lock"``, ``"unlock"``, ``"lobby_on"``,
      ``"lobby_off"``, ``"lobby_admit"``, ``"lobby_deny"``, ``"lower_hand"``, ``"raise_hand"``,
      ``"self_unmute_on"``, ``"self_unmute_off"``, ``"end"``);
    - ``changed``: False when the action was allowed but there was nothing to do (muting the muted);
    - ``updated``: participants whose protocol object changed (emit ``participant_updated``; for a
      role change to or from ``viewer``, the server joins or hides them instead);
    - ``disconnect``: participants the server must disconnect (the removed one; everyone on end);
    - ``admitted`` / ``denied``: lobby entries to let in (complete their join) or turn away;
    - ``settings``: the meeting's flags after a change of them (``Meeting.settings()``), else None;
    - ``room_changes``: columns of the room's row to store (``RoomService.update_room``);
    - ``record``: whether this belongs in the timeline (raising one's own hand does not);
    - ``details``: extra JSON for the timeline and events.
    """

    kind: str
    actor: LiveParticipant
    target: LiveParticipant | LobbyEntry | None = None
    changed: bool = True
    updated: tuple[LiveParticipant, ...] = ()
    disconnect: tuple[LiveParticipant, ...] = ()
    admitted: tuple[LobbyEntry, ...] = ()
    denied: tuple[LobbyEntry, ...] = ()
    settings: dict[str, bool] | None = None
    room_changes: dict[str, Any] = field(default_factory=dict)
    record: bool = True
    details: dict[str, Any] = field(default_factory=dict)

    def timeline_event(self) -> dict[str, Any]:
        """Keyword arguments for ``Timeline.record(room_id, **result.timeline_event())``."""
        return {"kind": self.kind, "actor": self.actor, "target": self.target, "details": self.details}


class Moderation:
    """The moderation actions on one live meeting (see the module docstring)."""

    def __init__(self, meeting: Meeting):
        self.meeting = meeting

    # ---- checks (no state change) --------------------------------------------------------------

    def _actor(self, actor: LiveParticipant, action: Action) -> LiveParticipant:
        current = self.meeting.get(getattr(actor, "id", None))
        if current is None:
            raise NotJoined()
        if self.meeting.ended and action != Action.END_MEETING:
            raise MeetingEnded()
        require(Actor.of(current), action)
        return current

    def _target(self, actor: LiveParticipant, target_id: object, action: Action, *,
                verb: str) -> LiveParticipant:
        target = self.meeting.get(target_id) if isinstance(target_id, str) else None
        if target is None:
            raise ValidationError(f"participant {str(target_id)[:40]!r} is not in the meeting", "target_id")
        if target.id == actor.id:
            raise ValidationError(f"you cannot {verb} yourself", "target_id")
        require(Actor.of(actor), action, Party.of(target), verb=verb)
        return target

    @staticmethod
    def _kind(kind: object) -> str:
        if kind not in MEDIA_KINDS:
            raise ValidationError("'kind' must be 'audio' or 'video'", "kind")
        return str(kind)

    @staticmethod
    def _flag(value: object, name: str) -> bool:
        if not isinstance(value, bool):
            raise ValidationError(f"'{name}' must be true or false", name)
        return value

    def _lobby_entry(self, lobby_id: object) -> LobbyEntry:
        entry = self.meeting.lobby_entry(lobby_id) if isinstance(lobby_id, str) else None
        if entry is None:
            raise ValidationError(f"nobody is waiting as {str(lobby_id)[:40]!r}", "lobby_id")
        return entry

    # ---- media ----------------------------------------------------------------------------------

    def mute(self, actor: LiveParticipant, target_id: str, kind: str = "audio") -> ModerationResult:
        """Mute someone's microphone (``"audio"``) or camera (``"video"``) and hold it muted."""
        actor = self._actor(actor, Action.MUTE_OTHERS)
        kind = self._kind(kind)
        target = self._target(actor, target_id, Action.MUTE_OTHERS, verb="mute")
        if not target.visible:
            raise ValidationError("viewers do not publish", "target_id")
        changed = self.meeting.force_mute(target.id, kind)
        return ModerationResult("mute", actor, target, changed=changed,
                                updated=(target,) if changed else (), details={"kind": kind})

    def mute_all(self, actor: LiveParticipant, kind: str = "audio") -> ModerationResult:
        """Mute everyone with the participant role (not the actor, hosts, staff or viewers)."""
        actor = self._actor(actor, Action.MUTE_OTHERS)
        kind = self._kind(kind)
        targets = [p for p in self.meeting.list() if p.role == Role.PARTICIPANT and p.id != actor.id]
        updated = tuple(p for p in targets if self.meeting.force_mute(p.id, kind))
        return ModerationResult("mute_all", actor, None, changed=bool(updated), updated=updated,
                                details={"kind": kind, "count": len(updated)})

    def allow_unmute(self, actor: LiveParticipant, target_id: str, kind: str = "audio") -> ModerationResult:
        """Lift a forced mute: the target may unmute themselves again (they are not unmuted)."""
        actor = self._actor(actor, Action.MUTE_OTHERS)
        kind = self._kind(kind)
        target = self._target(actor, target_id, Action.MUTE_OTHERS, verb="allow to unmute")
        changed = self.meeting.allow_unmute(target.id, kind)
        return ModerationResult("allow_unmute", actor, target, changed=changed, details={"kind": kind})

    def set_allow_self_unmute(self, actor: LiveParticipant, allowed: bool) -> ModerationResult:
        """Whether participants a host muted may unmute themselves without asking."""
        actor = self._actor(actor, Action.MUTE_OTHERS)
        allowed = self._flag(allowed, "allowed")
        changed = self.meeting.allow_self_unmute != allowed
        self.meeting.allow_self_unmute = allowed
        return ModerationResult("self_unmute_on" if allowed else "self_unmute_off", actor, None,
                                changed=changed, settings=self.meeting.settings(),
                                room_changes={"allow_self_unmute": allowed} if changed else {})

    # ---- hands ----------------------------------------------------------------------------------

    def raise_hand(self, actor: LiveParticipant) -> ModerationResult:
        """Raise one's own hand; ``details["position"]`` is the 1-based place in the queue."""
        actor = self._actor(actor, Action.RAISE_HAND)
        was_raised = actor.hand_raised
        position = self.meeting.raise_hand(actor.id)
        return ModerationResult("raise_hand", actor, actor, changed=not was_raised,
                                updated=() if was_raised else (actor,), record=False,
                                details={"position": position})

    def lower_hand(self, actor: LiveParticipant, target_id: str | None = None) -> ModerationResult:
        """Lower one's own hand (anyone), or someone else's (``MUTE_OTHERS``)."""
        current = self.meeting.get(getattr(actor, "id", None))
        if current is None:
            raise NotJoined()
        if self.meeting.ended:
            raise MeetingEnded()
        if target_id is None or target_id == current.id:
            changed = self.meeting.lower_hand(current.id)
            return ModerationResult("lower_hand", current, current, changed=changed,
                                    updated=(current,) if changed else (), record=False)
        actor = self._actor(current, Action.MUTE_OTHERS)
        target = self._target(actor, target_id, Action.MUTE_OTHERS, verb="lower the hand of")
        changed = self.meeting.lower_hand(target.id)
        return ModerationResult("lower_hand", actor, target, changed=changed,
                                updated=(target,) if changed else ())

    # ---- people ---------------------------------------------------------------------------------

    def remove(self, actor: LiveParticipant, target_id: str) -> ModerationResult:
        """Remove someone from the meeting; they may not come back with the same device or personal
        invite (see ``rooms.meeting``). The server disconnects them."""
        actor = self._actor(actor, Action.REMOVE_PARTICIPANT)
        target = self._target(actor, target_id, Action.REMOVE_PARTICIPANT, verb="remove")
        self.meeting.remove(target.id)
        self.meeting.remember_removed(target)
        details = {"device_blocked": bool(target.device_id),
                   "invite_blocked": bool(target.invite_id and target.personal_invite)}
        return ModerationResult("remove", actor, target, disconnect=(target,), details=details)

    def promote(self, actor: LiveParticipant, target_id: str, role: Role | str) -> ModerationResult:
        """Change someone's role: up (``promote``), down (``demote``), or hand over the host role
        (``role="host"``: the target becomes host and the actor, who must be the host, staff)."""
        actor = self._actor(actor, Action.PROMOTE)
        try:
            new_role = Role(role)
        except ValueError:
            raise ValidationError(f"unknown role {str(role)[:32]!r}", "role") from None
        target = self._target(actor, target_id, Action.PROMOTE, verb="change the role of")
        require(Actor.of(actor), Action.PROMOTE, RoleGrant(new_role))
        old_role = Role(target.role)
        if new_role == Role.HOST:
            if old_role == Role.HOST:
                return ModerationResult("transfer_host", actor, target, changed=False,
                                        details={"from": old_role.value, "to": new_role.value})
            self.meeting.set_role(target.id, Role.HOST)
            self.meeting.set_role(actor.id, Role.STAFF)
            return ModerationResult("transfer_host", actor, target, updated=(target, actor),
                                    details={"from": old_role.value, "to": Role.HOST.value,
                                             "previous_host_role": Role.STAFF.value})
        kind = "promote" if rank(new_role) >= rank(old_role) else "demote"
        if new_role == old_role:
            return ModerationResult(kind, actor, target, changed=False,
                                    details={"from": old_role.value, "to": new_role.value})
        self.meeting.set_role(target.id, new_role)
        return ModerationResult(kind, actor, target, updated=(target,),
                                details={"from": old_role.value, "to": new_role.value})

    # ---- the meeting ----------------------------------------------------------------------------

    def lock(self, actor: LiveParticipant, locked: bool = True) -> ModerationResult:
        """Lock (nobody new but hosts and staff may join) or unlock the meeting."""
        actor = self._actor(actor, Action.LOCK_MEETING)
        locked = self._flag(locked, "locked")
        changed = self.meeting.locked != locked
        self.meeting.locked = locked
        return ModerationResult("lock" if locked else "unlock", actor, None, changed=changed,
                                settings=self.meeting.settings(),
                                room_changes={"locked": locked} if changed else {})

    def set_lobby(self, actor: LiveParticipant, enabled: bool) -> ModerationResult:
        """Turn the lobby on or off. Turning it off admits everyone waiting, unless the meeting is
        locked (then they keep waiting, and a host or staff member admits or denies them)."""
        actor = self._actor(actor, Action.LOCK_MEETING)
        enabled = self._flag(enabled, "enabled")
        changed = self.meeting.lobby_enabled != enabled
        self.meeting.lobby_enabled = enabled
        admitted: tuple[LobbyEntry, ...] = ()
        if not enabled and not self.meeting.locked:
            admitted = tuple(self.meeting.admit(entry.id) for entry in self.meeting.lobby())
        return ModerationResult("lobby_on" if enabled else "lobby_off", actor, None,
                                changed=changed or bool(admitted), admitted=admitted,
                                settings=self.meeting.settings(),
                                room_changes={"lobby_enabled": enabled} if changed else {},
                                details={"admitted": len(admitted)} if admitted else {})

    def admit(self, actor: LiveParticipant, lobby_id: str) -> ModerationResult:
        """Let someone in from the lobby (the server completes their join)."""
        actor = self._actor(actor, Action.ADMIT_LOBBY)
        entry = self.meeting.admit(self._lobby_entry(lobby_id).id)
        return ModerationResult("lobby_admit", actor, entry, admitted=(entry,))

    def deny(self, actor: LiveParticipant, lobby_id: str) -> ModerationResult:
        """Turn someone in the lobby away."""
        actor = self._actor(actor, Action.ADMIT_LOBBY)
        entry = self.meeting.deny(self._lobby_entry(lobby_id).id)
        return ModerationResult("lobby_deny", actor, entry, denied=(entry,))

    def end(self, actor: LiveParticipant, *, at: datetime | None = None) -> ModerationResult:
        """End the meeting for everyone: nobody may join any more; the server disconnects everyone
        in ``disconnect`` (the actor included) and tells everyone in ``denied`` (the lobby)."""
        actor = self._actor(actor, Action.END_MEETING)
        if self.meeting.ended:
            return ModerationResult("end", actor, None, changed=False, settings=self.meeting.settings())
        connected, waiting = self.meeting.end(at=at)
        return ModerationResult("end", actor, None, disconnect=tuple(connected), denied=tuple(waiting),
                                settings=self.meeting.settings(),
                                room_changes={"ended_at": self.meeting.ended_at},
                                details={"participants": len(connected), "waiting": len(waiting)})


ROLE_CHANGES = ("promote", "demote", "transfer_host")  # results whose updated participants changed role


async def persist(result: ModerationResult, room_id: str, rooms: RoomService | None = None,
                  timeline: Timeline | None = None) -> dict[str, Any] | None:
    """The database half of a moderation action: store the room's changed settings, mark a removed
    participant's row, keep changed roles in the participants' rows (for a client that comes back
    after a dropped connection), and record the event in the timeline (if it changed something and
    belongs there). Returns the timeline event, or None."""
    if not result.changed:
        return None
    if rooms is not None:
        if result.room_changes:
            await rooms.update_room(room_id, **result.room_changes)
        if result.kind == "remove":
            for participant in result.disconnect:
                await rooms.mark_removed(participant.id)
        if result.kind in ROLE_CHANGES:
            for participant in result.updated:
                await rooms.record_role(participant.id, participant.role)
    if timeline is not None and result.record:
        return await timeline.record(room_id, **result.timeline_event())
    return None
