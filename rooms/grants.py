"""Roles and what each may do: the one table every event handler asks."""

from __future__ import annotations

from enum import StrEnum


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


_PARTICIPANT = frozenset({
    Action.PUBLISH_AUDIO, Action.PUBLISH_VIDEO, Action.SHARE_SCREEN,
    Action.CHAT, Action.RAISE_HAND, Action.REACT,
})

GRANTS: dict[Role, frozenset[Action]] = {
    Role.HOST: frozenset(Action),
    # Staff run the meeting with the host but cannot hand over the host role or end the meeting.
    Role.STAFF: frozenset(Action) - {Action.PROMOTE, Action.END_MEETING},
    Role.PARTICIPANT: _PARTICIPANT,
    # Viewers watch: they never publish and do not chat.
    Role.VIEWER: frozenset({Action.REACT}),
}


def can(role: Role | str | None, action: Action | str) -> bool:
    """Whether ``role`` may perform ``action``. Unknown roles or actions are never granted."""
    try:
        return Action(action) in GRANTS[Role(role)]
    except (ValueError, KeyError):
        return False
