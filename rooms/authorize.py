"""Who may do what: the one place where a permission is decided.

``authorize(actor, action, target=None)`` answers every permission question of ``rooms/`` and
``server/`` with a :class:`Decision`; :func:`require` raises :class:`~rooms.errors.Forbidden` (code
``forbidden``, the decision's message) when the answer is no. Nothing else compares roles to decide
whether someone may act, and the grant tests are generated from this module.

``actor`` is an :class:`Actor` (a role; ``Actor.of(participant)``). ``target`` is what the action is
done to, when that matters:

- a :class:`Party`, the participant acted on (mute, allow to unmute, lower a hand, remove, change
  the role of), by its role;
- a :class:`RoleGrant`, the role an invite gives (creating or revoking it) or a role change gives;
- an :class:`OwnMute`, one's own microphone or camera and whether a host's mute holds it;
- None: the role table alone.

The rules, in the order they are applied:

1. **Nobody unknown**: an actor without a known role, or an action that does not exist, is refused.
2. **Own mute** (``LIFT_OWN_MUTE`` on an :class:`OwnMute`): anyone may unmute themselves unless a
   host or staff member muted them, has not lifted it, and the meeting does not let participants
   lift it themselves (``allow_self_unmute`` off); then only roles granted ``LIFT_OWN_MUTE`` may
   (hosts and staff, who could lift it anyway: they are never held muted).
3. **The role table** (:data:`GRANTS`): the action must be in the actor's role's row.
4. **Rank** (:data:`RANK`: host > staff > participant > viewer): nobody acts on a participant of a
   higher rank than their own (staff may not mute, allow to unmute, lower the hand of, remove or
   demote a host; a host may act on another host), and nobody gives a role above their own (only a
   host invites hosts, revokes host invites or hands over the host role).

Which target kinds an action takes is :data:`TARGETS`; any other target is a bug in the caller
(``TypeError``), not a refusal.

Not decided here: whether a request is well formed (acting on oneself, on someone who is not in the
meeting, muting a viewer, who does not publish, are ``bad_request`` in ``rooms.moderation``); the
state of a meeting (ended, a removal: ``rooms.meeting.Meeting.admission``); whom ``mute_all`` means
(everyone with the participant role: what "all" is, not who may); and what an allowed action
causes (a held mute also pauses the participant's tracks in the SFU: ``server/signaling.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .errors import Forbidden


class Role(StrEnum):
    HOST = "host"
    STAFF = "staff"
    PARTICIPANT = "participant"
    VIEWER = "viewer"


class Action(StrEnum):
    PUBLISH_AUDIO = "publish_audio"
    PUBLISH_VIDEO = "publish_video"
    SHARE_SCREEN = "share_screen"
    CHAT = "chat"
    RAISE_HAND = "raise_hand"
    REACT = "react"
    MANAGE_STAGE = "manage_stage"
    MANAGE_PANELS = "manage_panels"
    MANAGE_DOCUMENTS = "manage_documents"
    ADMIT_LOBBY = "admit_lobby"
    MUTE_OTHERS = "mute_others"
    REMOVE_PARTICIPANT = "remove_participant"
    PROMOTE = "promote"
    LOCK_MEETING = "lock_meeting"
    END_MEETING = "end_meeting"
    CREATE_INVITES = "create_invites"
    SEE_LOBBY = "see_lobby"
    DOWNLOAD_RECORD = "download_record"  # the meeting record (rooms/record.py), with an invite of the room
    RECORD = "record"  # start and stop recording the meeting's tracks
    # Not requests of their own: what a role may do past a rule that holds everyone else.
    BYPASS_LOCK_AND_LOBBY = "bypass_lock_and_lobby"  # join at once, into a locked meeting too
    LIFT_OWN_MUTE = "lift_own_mute"  # unmute oneself although a host or staff member holds the mute


_PARTICIPANT = frozenset({
    Action.PUBLISH_AUDIO, Action.PUBLISH_VIDEO, Action.SHARE_SCREEN,
    Action.CHAT, Action.RAISE_HAND, Action.REACT,
})

GRANTS: dict[Role, frozenset[Action]] = {
    Role.HOST: frozenset(Action),
    # Staff run the meeting with the host but cannot hand over the host role, end the meeting or
    # download its record (attendance and chat of everyone: the organiser's and the hosts' alone).
    Role.STAFF: frozenset(Action) - {Action.PROMOTE, Action.END_MEETING, Action.DOWNLOAD_RECORD},
    Role.PARTICIPANT: _PARTICIPANT,
    # Viewers watch: they never publish and do not chat.
    Role.VIEWER: frozenset({Action.REACT}),
}

RANK: dict[Role, int] = {Role.VIEWER: 0, Role.PARTICIPANT: 1, Role.STAFF: 2, Role.HOST: 3}


def rank(role: Role | str) -> int:
    """The rank of a role (``ValueError`` for an unknown one)."""
    return RANK[Role(role)]


def _known_role(value: object) -> Role | None:
    try:
        return Role(value)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks: a role, or None for nobody (never granted anything)."""

    role: Role | None

    @classmethod
    def of(cls, who: object) -> Actor:
        """The actor for a role (a :class:`Role` or its name) or for anything with a ``role`` (a
        ``LiveParticipant``, a ``LobbyEntry``); an unknown or missing role is nobody."""
        role = who if who is None or isinstance(who, str) else getattr(who, "role", None)
        return cls(_known_role(role))


@dataclass(frozen=True, slots=True)
class Party:
    """The participant an action is done to."""

    role: Role

    @classmethod
    def of(cls, participant: Any) -> Party:
        """The party for anything with a ``role`` (a ``LiveParticipant``)."""
        return cls(Role(participant.role))


@dataclass(frozen=True, slots=True)
class RoleGrant:
    """A role being given: by an invite (created or revoked) or by a role change."""

    role: Role


@dataclass(frozen=True, slots=True)
class OwnMute:
    """The actor's own microphone (``kind="audio"``) or camera (``"video"``), to unmute.

    ``held``: a host or staff member muted it and has not lifted that (``force_muted_<kind>``);
    ``self_unmute_allowed``: the meeting lets participants lift such a mute themselves."""

    kind: str
    held: bool
    self_unmute_allowed: bool


Target = Party | RoleGrant | OwnMute

# Which actions take which kind of target (and so which rule beyond the table applies to them).
TARGETS: dict[type, frozenset[Action]] = {
    Party: frozenset({Action.MUTE_OTHERS, Action.REMOVE_PARTICIPANT, Action.PROMOTE}),
    RoleGrant: frozenset({Action.CREATE_INVITES, Action.PROMOTE}),
    OwnMute: frozenset({Action.LIFT_OWN_MUTE}),
}


@dataclass(frozen=True, slots=True)
class Decision:
    """An answer: ``allowed`` (also the decision's truth value), the ``rule`` that gave it
    (``"unknown"``, ``"own_mute"``, ``"grants"`` or ``"rank"``) and, when refused, a ``message``
    for the person refused."""

    allowed: bool
    rule: str
    message: str = ""

    def __bool__(self) -> bool:
        return self.allowed


def _at_least(role: Role) -> str:
    return "a host" if role == Role.HOST else f"a {role} or above"


def authorize(actor: Actor, action: Action | str, target: Target | None = None, *,
              verb: str | None = None) -> Decision:
    """Whether ``actor`` may do ``action`` (to ``target``): see the module docstring for the rules.
    ``verb`` words the refusal ("upload documents", "lower the hand of", ...); by default the
    action's name."""
    role = actor.role
    try:
        action = Action(action)
    except ValueError:
        return Decision(False, "unknown", f"unknown action {str(action)[:40]!r}")
    if target is not None and action not in TARGETS.get(type(target), ()):
        raise TypeError(f"{action.value} does not take a {type(target).__name__} target")
    if role is None:
        return Decision(False, "unknown", "your role does not allow this")
    if isinstance(target, OwnMute):
        if not target.held or target.self_unmute_allowed:
            return Decision(True, "own_mute")
        if action not in GRANTS[role]:
            return Decision(False, "own_mute", f"a host muted your {target.kind}; ask to unmute")
        return Decision(True, "grants")
    if action not in GRANTS[role]:
        return Decision(False, "grants", f"a {role} may not {verb or action.value.replace('_', ' ')}")
    if isinstance(target, Party) and RANK[target.role] > RANK[role]:
        return Decision(False, "rank",
                        f"only {_at_least(target.role)} may {verb or 'act on'} a {target.role}")
    if isinstance(target, RoleGrant) and RANK[target.role] > RANK[role]:
        return Decision(False, "rank",
                        f"only {_at_least(target.role)} may {verb or f'give the {target.role} role'}")
    return Decision(True, "grants")


def require(actor: Actor, action: Action | str, target: Target | None = None, *,
            verb: str | None = None) -> Decision:
    """:func:`authorize`, raising :class:`~rooms.errors.Forbidden` with its message when refused."""
    decision = authorize(actor, action, target, verb=verb)
    if not decision:
        raise Forbidden(decision.message)
    return decision
