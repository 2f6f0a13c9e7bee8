"""The grants table: what each role may do."""

from __future__ import annotations

import pytest

from rooms.authorize import GRANTS, Action, Actor, Role, authorize

PARTICIPANT_ACTIONS = {Action.PUBLISH_AUDIO, Action.PUBLISH_VIDEO, Action.SHARE_SCREEN,
                       Action.CHAT, Action.RAISE_HAND, Action.REACT}


def test_every_role_has_a_row():
    assert set(GRANTS) == set(Role)
    assert all(isinstance(actions, frozenset) for actions in GRANTS.values())


def test_host_may_do_everything():
    assert GRANTS[Role.HOST] == frozenset(Action)
    assert all(authorize(Actor.of(Role.HOST), action).allowed for action in Action)


def test_staff_may_do_everything_but_promote_and_end_meeting():
    assert set(Action) - GRANTS[Role.STAFF] == {Action.PROMOTE, Action.END_MEETING}
    assert authorize(Actor.of(Role.STAFF), Action.MANAGE_STAGE).allowed and authorize(Actor.of(Role.STAFF), Action.ADMIT_LOBBY).allowed
    assert not authorize(Actor.of(Role.STAFF), Action.PROMOTE).allowed and not authorize(Actor.of(Role.STAFF), Action.END_MEETING).allowed


def test_participant():
    assert GRANTS[Role.PARTICIPANT] == PARTICIPANT_ACTIONS
    for action in (Action.MANAGE_STAGE, Action.MANAGE_PANELS, Action.MUTE_OTHERS,
                   Action.REMOVE_PARTICIPANT, Action.CREATE_INVITES, Action.SEE_LOBBY):
        assert not authorize(Actor.of(Role.PARTICIPANT), action).allowed


@pytest.mark.parametrize("action", [Action.PUBLISH_AUDIO, Action.PUBLISH_VIDEO, Action.SHARE_SCREEN,
                                    Action.CHAT, Action.RAISE_HAND, Action.MANAGE_STAGE])
def test_viewer_cannot(action):
    assert not authorize(Actor.of(Role.VIEWER), action).allowed


def test_viewer_may_react_only():
    assert GRANTS[Role.VIEWER] == {Action.REACT}


def test_roles_are_strings_and_can_accepts_them():
    assert str(Role.HOST) == "host" and Role("viewer") is Role.VIEWER
    assert authorize(Actor.of("participant"), "chat").allowed and not authorize(Actor.of("viewer"), "chat").allowed


@pytest.mark.parametrize("role, action", [(None, Action.REACT), ("admin", Action.REACT),
                                          (Role.HOST, "launch_missiles"), ("", "")])
def test_unknown_roles_and_actions_are_never_granted(role, action):
    assert authorize(Actor.of(role), action).allowed is False
