"""The grants table: what each role may do."""

from __future__ import annotations

import pytest

from rooms.authorize import GRANTS, Action, Role, can

PARTICIPANT_ACTIONS = {Action.PUBLISH_AUDIO, Action.PUBLISH_VIDEO, Action.SHARE_SCREEN,
                       Action.CHAT, Action.RAISE_HAND, Action.REACT}


def test_every_role_has_a_row():
    assert set(GRANTS) == set(Role)
    assert all(isinstance(actions, frozenset) for actions in GRANTS.values())


def test_host_may_do_everything():
    assert GRANTS[Role.HOST] == frozenset(Action)
    assert all(can(Role.HOST, action) for action in Action)


def test_staff_may_do_everything_but_promote_and_end_meeting():
    assert set(Action) - GRANTS[Role.STAFF] == {Action.PROMOTE, Action.END_MEETING}
    assert can(Role.STAFF, Action.MANAGE_STAGE) and can(Role.STAFF, Action.ADMIT_LOBBY)
    assert not can(Role.STAFF, Action.PROMOTE) and not can(Role.STAFF, Action.END_MEETING)


def test_participant():
    assert GRANTS[Role.PARTICIPANT] == PARTICIPANT_ACTIONS
    for action in (Action.MANAGE_STAGE, Action.MANAGE_PANELS, Action.MUTE_OTHERS,
                   Action.REMOVE_PARTICIPANT, Action.CREATE_INVITES, Action.SEE_LOBBY):
        assert not can(Role.PARTICIPANT, action)


@pytest.mark.parametrize("action", [Action.PUBLISH_AUDIO, Action.PUBLISH_VIDEO, Action.SHARE_SCREEN,
                                    Action.CHAT, Action.RAISE_HAND, Action.MANAGE_STAGE])
def test_viewer_cannot(action):
    assert not can(Role.VIEWER, action)


def test_viewer_may_react_only():
    assert GRANTS[Role.VIEWER] == {Action.REACT}


def test_roles_are_strings_and_can_accepts_them():
    assert str(Role.HOST) == "host" and Role("viewer") is Role.VIEWER
    assert can("participant", "chat") and not can("viewer", "chat")


@pytest.mark.parametrize("role, action", [(None, Action.REACT), ("admin", Action.REACT),
                                          (Role.HOST, "launch_missiles"), ("", "")])
def test_unknown_roles_and_actions_are_never_granted(role, action):
    assert can(role, action) is False
