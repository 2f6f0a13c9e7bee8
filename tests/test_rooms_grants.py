"""rooms.authorize: the role table, and every role x action x target combination it decides.

The combinations are generated from ``rooms.authorize`` itself (its roles, actions and ``TARGETS``),
so a new action, role or target-taking action is enumerated here without touching this file; each
is checked against the rules as the module's docstring states them (``expected`` below). The rank,
role-giving and own-mute rules also have cases of their own, with their messages.
"""

from __future__ import annotations

import pytest

from rooms.authorize import (GRANTS, RANK, TARGETS, Action, Actor, Decision, OwnMute, Party, Role, RoleGrant,
                             authorize, rank, require)
from rooms.errors import Forbidden

PARTICIPANT_ACTIONS = {Action.PUBLISH_AUDIO, Action.PUBLISH_VIDEO, Action.SHARE_SCREEN,
                       Action.CHAT, Action.RAISE_HAND, Action.REACT}


def allowed(role, action, target=None) -> bool:
    return authorize(Actor.of(role), action, target).allowed


# ---- the role table ---------------------------------------------------------------------------------

def test_every_role_has_a_row():
    assert set(GRANTS) == set(Role)
    assert all(isinstance(actions, frozenset) for actions in GRANTS.values())


def test_host_may_do_everything():
    assert GRANTS[Role.HOST] == frozenset(Action)
    assert all(allowed(Role.HOST, action) for action in Action)


def test_staff_may_do_everything_but_promote_end_meeting_and_download_the_record():
    assert set(Action) - GRANTS[Role.STAFF] == {Action.PROMOTE, Action.END_MEETING, Action.DOWNLOAD_RECORD}
    assert allowed(Role.STAFF, Action.MANAGE_STAGE) and allowed(Role.STAFF, Action.ADMIT_LOBBY)
    assert not allowed(Role.STAFF, Action.PROMOTE) and not allowed(Role.STAFF, Action.END_MEETING)


def test_participant():
    assert GRANTS[Role.PARTICIPANT] == PARTICIPANT_ACTIONS
    for action in (Action.MANAGE_STAGE, Action.MANAGE_PANELS, Action.MUTE_OTHERS,
                   Action.REMOVE_PARTICIPANT, Action.CREATE_INVITES, Action.SEE_LOBBY, Action.RECORD):
        assert not allowed(Role.PARTICIPANT, action)


@pytest.mark.parametrize("action", [Action.PUBLISH_AUDIO, Action.PUBLISH_VIDEO, Action.SHARE_SCREEN,
                                    Action.CHAT, Action.RAISE_HAND, Action.MANAGE_STAGE])
def test_viewer_cannot(action):
    assert not allowed(Role.VIEWER, action)


def test_viewer_may_react_only():
    assert GRANTS[Role.VIEWER] == {Action.REACT}


def test_roles_are_strings_and_authorize_accepts_them():
    assert str(Role.HOST) == "host" and Role("viewer") is Role.VIEWER
    assert allowed("participant", "chat") and not allowed("viewer", "chat")


@pytest.mark.parametrize("role, action", [(None, Action.REACT), ("admin", Action.REACT),
                                          (Role.HOST, "launch_missiles"), ("", "")])
def test_unknown_roles_and_actions_are_never_granted(role, action):
    assert allowed(role, action) is False
    assert authorize(Actor.of(role), action).rule == "unknown"


def test_only_hosts_and_staff_pass_lock_and_lobby_or_lift_their_own_held_mute():
    for action in (Action.BYPASS_LOCK_AND_LOBBY, Action.LIFT_OWN_MUTE):
        assert {role for role in Role if allowed(role, action)} == {Role.HOST, Role.STAFF}


def test_ranks():
    assert sorted(Role, key=rank) == [Role.VIEWER, Role.PARTICIPANT, Role.STAFF, Role.HOST]
    assert set(RANK) == set(Role) and rank("staff") == RANK[Role.STAFF]


# ---- every combination, generated --------------------------------------------------------------------

def targets_of(action: Action) -> list:
    """None, and every target ``TARGETS`` says ``action`` takes: a party and a role given of each
    rank, one's own mute in every state."""
    targets: list = [None]
    if action in TARGETS[Party]:
        targets += [Party(role) for role in Role]
    if action in TARGETS[RoleGrant]:
        targets += [RoleGrant(role) for role in Role]
    if action in TARGETS[OwnMute]:
        targets += [OwnMute(kind, held, self_unmute_allowed) for kind in ("audio", "video")
                    for held in (False, True) for self_unmute_allowed in (False, True)]
    return targets


COMBINATIONS = [(role, action, target) for role in Role for action in Action for target in targets_of(action)]


def expected(role: Role, action: Action, target) -> bool:
    """The rules of rooms/authorize.py's docstring, stated once more."""
    if isinstance(target, OwnMute) and (not target.held or target.self_unmute_allowed):
        return True  # nothing holds the actor muted
    if action not in GRANTS[role]:
        return False
    if isinstance(target, (Party, RoleGrant)):
        return RANK[target.role] <= RANK[role]  # no acting on, or giving, a higher rank
    return True


def test_the_combinations_cover_every_target_kind():
    assert set(TARGETS) == {Party, RoleGrant, OwnMute}
    kinds = {type(target) for _, _, target in COMBINATIONS}
    assert kinds == {type(None), Party, RoleGrant, OwnMute}


@pytest.mark.parametrize("role, action, target", COMBINATIONS,
                         ids=[f"{r}-{a}-{t}" for r, a, t in COMBINATIONS])
def test_every_combination(role, action, target):
    decision = authorize(Actor(role), action, target)
    assert isinstance(decision, Decision) and bool(decision) is decision.allowed
    assert decision.allowed is expected(role, action, target)
    assert decision.rule in ("grants", "rank", "own_mute")
    assert bool(decision.message) is not decision.allowed  # a refusal says why
    if decision.allowed:
        assert require(Actor(role), action, target) == decision
    else:
        with pytest.raises(Forbidden) as info:
            require(Actor(role), action, target)
        assert (info.value.code, info.value.message) == ("forbidden", decision.message)


@pytest.mark.parametrize("action", list(Action))
def test_a_target_an_action_does_not_take_is_a_bug_not_a_refusal(action):
    for target in (Party(Role.PARTICIPANT), RoleGrant(Role.PARTICIPANT), OwnMute("audio", True, False)):
        if action not in TARGETS[type(target)]:
            with pytest.raises(TypeError):
                authorize(Actor(Role.HOST), action, target)


# ---- the rules beyond the table, directly ----------------------------------------------------------

ON_PARTY = [Action.MUTE_OTHERS, Action.REMOVE_PARTICIPANT, Action.PROMOTE]


@pytest.mark.parametrize("action", ON_PARTY)
def test_rank_nobody_acts_on_a_higher_rank(action):
    assert TARGETS[Party] == set(ON_PARTY)
    host, staff = Actor(Role.HOST), Actor(Role.STAFF)
    for role in Role:  # a host acts on anyone, another host included
        assert authorize(host, action, Party(role)).allowed
    if action in GRANTS[Role.STAFF]:  # staff act on staff and below, never on a host
        assert [role for role in Role if authorize(staff, action, Party(role))] == [
            Role.STAFF, Role.PARTICIPANT, Role.VIEWER]
        refusal = authorize(staff, action, Party(Role.HOST), verb="mute")
        assert (refusal.rule, refusal.message) == ("rank", "only a host may mute a host")
    else:  # promote: refused by the table before the rank
        assert authorize(staff, action, Party(Role.PARTICIPANT)).rule == "grants"
    # Who lacks the grant is refused by the table, whatever the target.
    refusal = authorize(Actor(Role.PARTICIPANT), action, Party(Role.VIEWER))
    assert (refusal.rule, refusal.message) == ("grants", f"a participant may not {action.value.replace('_', ' ')}")


def test_rank_the_verb_words_the_refusal():
    staff = Actor(Role.STAFF)
    for verb in ("allow to unmute", "lower the hand of", "remove"):
        action = Action.REMOVE_PARTICIPANT if verb == "remove" else Action.MUTE_OTHERS
        assert authorize(staff, action, Party(Role.HOST), verb=verb).message == f"only a host may {verb} a host"
    assert authorize(staff, Action.MUTE_OTHERS, Party(Role.HOST)).message == "only a host may act on a host"


def test_invites_nobody_gives_a_role_above_their_own():
    host, staff = Actor(Role.HOST), Actor(Role.STAFF)
    assert all(authorize(host, Action.CREATE_INVITES, RoleGrant(role)) for role in Role)
    assert [role for role in Role if authorize(staff, Action.CREATE_INVITES, RoleGrant(role))] == [
        Role.STAFF, Role.PARTICIPANT, Role.VIEWER]
    refusal = authorize(staff, Action.CREATE_INVITES, RoleGrant(Role.HOST), verb="invite another host")
    assert (refusal.rule, refusal.message) == ("rank", "only a host may invite another host")
    refusal = authorize(staff, Action.CREATE_INVITES, RoleGrant(Role.HOST), verb="revoke a host invite")
    assert refusal.message == "only a host may revoke a host invite"
    for role in (Role.PARTICIPANT, Role.VIEWER):  # no invites at all
        assert not any(authorize(Actor(role), Action.CREATE_INVITES, RoleGrant(r)) for r in Role)
        assert authorize(Actor(role), Action.CREATE_INVITES, RoleGrant(Role.VIEWER)).rule == "grants"


def test_role_changes_only_a_host_gives_the_host_role():
    assert all(authorize(Actor(Role.HOST), Action.PROMOTE, RoleGrant(role)) for role in Role)
    for role in (Role.STAFF, Role.PARTICIPANT, Role.VIEWER):  # PROMOTE is the host's alone
        assert not any(authorize(Actor(role), Action.PROMOTE, RoleGrant(r)) for r in Role)


@pytest.mark.parametrize("kind", ["audio", "video"])
def test_own_mute_held_by_a_host(kind):
    held = OwnMute(kind, held=True, self_unmute_allowed=False)
    for role in (Role.PARTICIPANT, Role.VIEWER):
        refusal = authorize(Actor(role), Action.LIFT_OWN_MUTE, held)
        assert (refusal.allowed, refusal.rule) == (False, "own_mute")
        assert refusal.message == f"a host muted your {kind}; ask to unmute"
    for role in (Role.HOST, Role.STAFF):  # they could lift it themselves anyway
        assert authorize(Actor(role), Action.LIFT_OWN_MUTE, held).allowed


@pytest.mark.parametrize("role", list(Role))
def test_own_mute_not_held_or_allowed_by_the_meeting(role):
    for target in (OwnMute("audio", held=False, self_unmute_allowed=False),
                   OwnMute("audio", held=False, self_unmute_allowed=True),
                   OwnMute("video", held=True, self_unmute_allowed=True)):
        decision = authorize(Actor(role), Action.LIFT_OWN_MUTE, target)
        assert decision.allowed and decision.rule == "own_mute"
    assert not authorize(Actor(None), Action.LIFT_OWN_MUTE, OwnMute("audio", False, True))  # nobody


def test_actor_of_a_participant_or_a_role():
    class Someone:
        role = "staff"

    assert Actor.of(Someone()) == Actor(Role.STAFF) == Actor.of("staff") == Actor.of(Role.STAFF)
    assert Actor.of(object()) == Actor.of("admin") == Actor.of(None) == Actor(None)
    assert Party.of(Someone()) == Party(Role.STAFF)


def test_hosts_and_staff_record():
    assert [role for role in Role if allowed(role, Action.RECORD)] == [Role.HOST, Role.STAFF]
