"""Moderation: the grant matrix, refusals that change nothing, and generated action sequences."""

from __future__ import annotations

import copy
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rooms.errors import DomainError, Forbidden, NotJoined, ValidationError
from rooms.authorize import Action, Actor, Party, Role, RoleGrant, authorize
from rooms.meeting import LiveParticipant, LobbyEntry, Meeting, MeetingEnded, RemovedFromMeeting
from rooms.moderation import Moderation, ModerationResult

T0 = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def person(pid: str, role: str, **kw) -> LiveParticipant:
    return LiveParticipant(id=pid, name=f"Name {pid}", organisation="Lisbon", role=role,
                           joined_at=T0, **kw)


def build() -> Meeting:
    """A host, a staff member, two participants, a viewer, and one person in the lobby."""
    meeting = Meeting("demo", "City Situation Room", lobby_enabled=True)
    meeting.add(person("p_host", "host", device_id="dev-host-0001"))
    meeting.add(person("p_staff", "staff"))
    meeting.add(person("p_part", "participant"))
    meeting.add(person("p_part2", "participant", device_id="dev-part2-0001", invite_id="i_shared"))
    meeting.add(person("p_view", "viewer"))
    meeting.enter_lobby(LobbyEntry(id="l_wait", name="Waiting", organisation="", role="participant",
                                   requested_at=T0))
    return meeting


ACTOR_BY_ROLE = {Role.HOST: "p_host", Role.STAFF: "p_staff", Role.PARTICIPANT: "p_part",
                 Role.VIEWER: "p_view"}


def snapshot(meeting: Meeting) -> dict:
    """Everything a moderation action could change."""
    return {
        "participants": [asdict(p) for p in meeting.list(include_viewers=True)],
        "hands": meeting.hands(),
        "lobby": [asdict(e) for e in meeting.lobby()],
        "settings": meeting.settings(),
        "ended_at": meeting.ended_at,
        "removed_invites": set(meeting.removed_invites),
        "removed_devices": set(meeting.removed_devices),
        "unmute_requests": meeting.unmute_requests(),
    }


PART = Party(Role.PARTICIPANT)

# (method name, arguments after the actor, grant needed, what it is done to as rooms.authorize sees it)
MATRIX = [
    ("mute", ("p_part2", "audio"), Action.MUTE_OTHERS, (PART,)),
    ("mute", ("p_part2", "video"), Action.MUTE_OTHERS, (PART,)),
    ("mute_all", (), Action.MUTE_OTHERS, ()),
    ("allow_unmute", ("p_part2", "audio"), Action.MUTE_OTHERS, (PART,)),
    ("set_allow_self_unmute", (False,), Action.MUTE_OTHERS, ()),
    ("lower_hand", ("p_part2",), Action.MUTE_OTHERS, (PART,)),
    ("remove", ("p_part2",), Action.REMOVE_PARTICIPANT, (PART,)),
    ("promote", ("p_part2", "staff"), Action.PROMOTE, (PART, RoleGrant(Role.STAFF))),
    ("promote", ("p_staff", "participant"), Action.PROMOTE, (Party(Role.STAFF), RoleGrant(Role.PARTICIPANT))),
    ("promote", ("p_part2", "host"), Action.PROMOTE, (PART, RoleGrant(Role.HOST))),
    ("lock", (True,), Action.LOCK_MEETING, ()),
    ("set_lobby", (False,), Action.LOCK_MEETING, ()),
    ("admit", ("l_wait",), Action.ADMIT_LOBBY, ()),
    ("deny", ("l_wait",), Action.ADMIT_LOBBY, ()),
    ("end", (), Action.END_MEETING, ()),
    ("raise_hand", (), Action.RAISE_HAND, ()),
]


def authorized(role: Role, action: Action, targets: tuple) -> bool:
    """What rooms.authorize says of ``role`` doing ``action`` to every one of ``targets``."""
    return all(authorize(Actor(role), action, target) for target in targets or (None,))


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("method, args, action, targets", MATRIX,
                         ids=[f"{m}{'-' + '-'.join(map(str, a)) if a else ''}" for m, a, _, _ in MATRIX])
def test_grant_matrix(role, method, args, action, targets):
    meeting = build()
    meeting.raise_hand("p_part2")
    if method == "allow_unmute":
        meeting.force_mute("p_part2", "audio")
    actor = meeting.get(ACTOR_BY_ROLE[role])
    before = snapshot(meeting)
    call = getattr(Moderation(meeting), method)
    if authorized(role, action, targets):
        result = call(actor, *args)
        assert isinstance(result, ModerationResult) and result.actor is actor
        assert result.changed, (role, method, args)
        assert snapshot(meeting) != before
    else:
        with pytest.raises(Forbidden) as info:
            call(actor, *args)
        assert info.value.code == "forbidden"
        assert snapshot(meeting) == before


def test_the_matrix_covers_every_moderation_grant():
    covered = {action for _, _, action, _ in MATRIX}
    assert covered >= {Action.MUTE_OTHERS, Action.REMOVE_PARTICIPANT, Action.PROMOTE, Action.LOCK_MEETING,
                       Action.ADMIT_LOBBY, Action.END_MEETING}


# Every action on someone, by every role, on someone of every rank (a second host and a second staff
# member: acting on oneself is a bad request). What to do to each, and the role a role change gives:
ON_SOMEONE = [("mute", Action.MUTE_OTHERS), ("allow_unmute", Action.MUTE_OTHERS),
              ("lower_hand", Action.MUTE_OTHERS), ("remove", Action.REMOVE_PARTICIPANT),
              ("promote", Action.PROMOTE)]
TARGET_BY_ROLE = {Role.HOST: "p_host2", Role.STAFF: "p_staff2", Role.PARTICIPANT: "p_part2"}
NEW_ROLE = {Role.HOST: Role.STAFF, Role.STAFF: Role.PARTICIPANT, Role.PARTICIPANT: Role.STAFF}
RANK_CASES = [(role, method, action, target_role) for role in Role for method, action in ON_SOMEONE
              for target_role in TARGET_BY_ROLE]


@pytest.mark.parametrize("role, method, action, target_role", RANK_CASES,
                         ids=[f"{r}-{m}-{t}" for r, m, _, t in RANK_CASES])
def test_rank_matrix(role, method, action, target_role):
    meeting = build()
    meeting.add(person("p_host2", "host"))
    meeting.add(person("p_staff2", "staff"))
    target = TARGET_BY_ROLE[target_role]
    meeting.raise_hand(target)
    meeting.force_mute(target, "audio")
    args = {"mute": (target, "video"), "allow_unmute": (target, "audio"),
            "promote": (target, NEW_ROLE[target_role])}.get(method, (target,))
    targets = (Party(target_role),) + ((RoleGrant(args[1]),) if method == "promote" else ())
    actor = meeting.get(ACTOR_BY_ROLE[role])
    before = snapshot(meeting)
    call = getattr(Moderation(meeting), method)
    if authorized(role, action, targets):
        result = call(actor, *args)
        assert result.changed and result.target.id == target
        assert snapshot(meeting) != before
    else:
        with pytest.raises(Forbidden) as info:
            call(actor, *args)
        assert info.value.code == "forbidden"
        assert snapshot(meeting) == before


def test_the_rank_matrix_covers_every_action_on_someone():
    assert {action for _, action in ON_SOMEONE} == {Action.MUTE_OTHERS, Action.REMOVE_PARTICIPANT,
                                                    Action.PROMOTE}
    assert set(TARGET_BY_ROLE) == set(Role) - {Role.VIEWER}  # viewers: not muted, no hands (bad_request)


@pytest.mark.parametrize("method, args", [
    ("mute", ("p_host", "audio")), ("remove", ("p_host",)), ("allow_unmute", ("p_host", "audio")),
    ("lower_hand", ("p_host",)),
])
def test_staff_cannot_act_on_the_host(method, args):
    meeting = build()
    meeting.raise_hand("p_host")
    before = snapshot(meeting)
    with pytest.raises(Forbidden):
        getattr(Moderation(meeting), method)(meeting.get("p_staff"), *args)
    assert snapshot(meeting) == before


@pytest.mark.parametrize("method, args", [
    ("mute", ("p_nobody", "audio")), ("mute", ("p_host", "audio")), ("mute", ("p_part", "screen")),
    ("mute", ("p_view", "audio")), ("remove", ("p_nobody",)), ("remove", ("p_host",)),
    ("remove", (None,)), ("promote", ("p_nobody", "staff")), ("promote", ("p_part", "emperor")),
    ("promote", ("p_host", "staff")), ("admit", ("l_nobody",)), ("deny", ("l_nobody",)),
    ("admit", (5,)), ("lock", ("yes",)), ("set_lobby", (1,)), ("mute_all", ("screen",)),
    ("allow_unmute", ("p_nobody", "audio")), ("lower_hand", ("p_nobody",)),
])
def test_missing_targets_and_bad_arguments_are_bad_requests(method, args):
    meeting = build()  # the actor is the host: "p_host" as a target is the host acting on itself
    before = snapshot(meeting)
    with pytest.raises(ValidationError) as info:
        getattr(Moderation(meeting), method)(meeting.get("p_host"), *args)
    assert info.value.code == "bad_request"
    assert snapshot(meeting) == before


def test_an_actor_who_is_not_in_the_meeting_is_refused():
    meeting = build()
    ghost = person("p_ghost", "host")
    before = snapshot(meeting)
    for method, args in (("mute", ("p_part", "audio")), ("end", ()), ("lock", (True,))):
        with pytest.raises(NotJoined):
            getattr(Moderation(meeting), method)(ghost, *args)
    assert snapshot(meeting) == before


def test_mute_holds_the_participant_muted_until_allowed():
    meeting = build()
    meeting.allow_self_unmute = False
    host, target = meeting.get("p_host"), meeting.get("p_part")
    result = Moderation(meeting).mute(host, "p_part", "audio")
    assert (result.kind, result.target, result.updated, result.details) == ("mute", target, (target,),
                                                                          {"kind": "audio"})
    assert target.audio_muted and target.force_muted_audio and target.to_dict()["audio_muted"] is True
    with pytest.raises(Forbidden):
        meeting.update_media_state("p_part", audio_muted=False)
    assert target.audio_muted
    meeting.update_media_state("p_part", audio_muted=True, video_muted=True)  # muting is always fine
    again = Moderation(meeting).mute(host, "p_part", "audio")
    assert again.changed is False and again.updated == ()
    # The participant asks; the host lets them; they unmute themselves.
    assert meeting.request_unmute("p_part", "audio") is True
    assert meeting.request_unmute("p_part", "audio") is False
    assert meeting.unmute_requests() == [("p_part", "audio")]
    allowed = Moderation(meeting).allow_unmute(host, "p_part", "audio")
    assert allowed.changed and not target.force_muted_audio and target.audio_muted
    assert meeting.unmute_requests() == []
    meeting.update_media_state("p_part", audio_muted=False)
    assert not target.audio_muted


def test_self_unmute_allowed_lifts_the_hold():
    meeting = build()
    assert meeting.allow_self_unmute is True
    Moderation(meeting).mute(meeting.get("p_host"), "p_part", "video")
    with pytest.raises(ValidationError):
        meeting.request_unmute("p_part", "video")  # nothing to ask for
    p = meeting.update_media_state("p_part", video_muted=False)
    assert not p.video_muted and not p.force_muted_video


def test_staff_muted_by_the_host_may_unmute_themselves():
    meeting = build()
    meeting.allow_self_unmute = False
    Moderation(meeting).mute(meeting.get("p_host"), "p_staff", "audio")
    assert meeting.update_media_state("p_staff", audio_muted=False).audio_muted is False


def test_mute_all_mutes_participants_only():
    meeting = build()
    meeting.update_media_state("p_part", audio_muted=True)
    result = Moderation(meeting).mute_all(meeting.get("p_staff"))
    assert {p.id for p in result.updated} == {"p_part", "p_part2"}  # p_part was muted but not held
    assert result.details == {"kind": "audio", "count": 2}
    assert not meeting.get("p_host").audio_muted and not meeting.get("p_staff").audio_muted
    assert not meeting.get("p_view").force_muted_audio
    assert Moderation(meeting).mute_all(meeting.get("p_host")).changed is False


def test_remove_blocks_the_device_and_a_personal_invite_only():
    meeting = build()
    meeting.add(person("p_solo", "participant", invite_id="i_personal", personal_invite=True))
    host = meeting.get("p_host")
    shared = Moderation(meeting).remove(host, "p_part2")  # came with the shared participant link
    assert shared.kind == "remove" and shared.disconnect == (shared.target,) and "p_part2" not in meeting
    assert shared.details == {"device_blocked": True, "invite_blocked": False}
    assert meeting.hands() == []
    with pytest.raises(RemovedFromMeeting) as info:
        meeting.admission("participant", invite_id="i_shared", device_id="dev-part2-0001")
    assert info.value.code == "forbidden"
    # Others holding the same shared link still get in.
    assert meeting.admission("participant", invite_id="i_shared", device_id="dev-other-001") == "lobby"
    personal = Moderation(meeting).remove(host, "p_solo")
    assert personal.details == {"device_blocked": False, "invite_blocked": True}
    with pytest.raises(RemovedFromMeeting):
        meeting.admission("participant", invite_id="i_personal", device_id=None)


def test_promote_demote_and_transfer_the_host():
    meeting = build()
    host = meeting.get("p_host")
    mod = Moderation(meeting)
    up = mod.promote(host, "p_part", "staff")
    assert (up.kind, up.details, meeting.get("p_part").role) == ("promote", {"from": "participant", "to": "staff"},
                                                                  "staff")
    down = mod.promote(host, "p_staff", Role.PARTICIPANT)
    assert (down.kind, meeting.get("p_staff").role) == ("demote", "participant")
    same = mod.promote(host, "p_staff", "participant")
    assert same.changed is False and same.updated == ()
    meeting.raise_hand("p_part2")
    to_viewer = mod.promote(host, "p_part2", "viewer")
    assert to_viewer.kind == "demote" and meeting.hands() == []  # viewers do not raise hands
    transfer = mod.promote(host, "p_part", "host")
    assert transfer.kind == "transfer_host" and transfer.updated == (meeting.get("p_part"), host)
    assert meeting.get("p_part").role == "host" and host.role == "staff"
    assert [p.id for p in meeting.list(include_viewers=True) if p.role == "host"] == ["p_part"]
    # The former host, now staff, can no longer promote nor act on the new host.
    with pytest.raises(Forbidden):
        mod.promote(host, "p_staff", "staff")
    with pytest.raises(Forbidden):
        mod.mute(host, "p_part")


def test_lock_and_lobby_settings():
    meeting = build()
    staff = meeting.get("p_staff")
    mod = Moderation(meeting)
    locked = mod.lock(staff, True)
    assert (locked.kind, locked.changed, locked.room_changes) == ("lock", True, {"locked": True})
    assert locked.settings == {"locked": True, "lobby_enabled": True, "allow_self_unmute": True, "ended": False}
    assert mod.lock(staff, True).changed is False and mod.lock(staff, True).room_changes == {}
    # Turning the lobby off while locked keeps people waiting.
    off = mod.set_lobby(staff, False)
    assert off.admitted == () and [e.id for e in meeting.lobby()] == ["l_wait"]
    assert off.room_changes == {"lobby_enabled": False}
    assert mod.lock(staff, False).kind == "unlock"
    # Turning it on and off again, unlocked, admits everyone waiting.
    mod.set_lobby(staff, True)
    off = mod.set_lobby(staff, False)
    assert [e.id for e in off.admitted] == ["l_wait"] and meeting.lobby() == []


def test_admit_and_deny():
    meeting = build()
    meeting.enter_lobby(LobbyEntry(id="l_two", name="Two", organisation="", role="viewer", requested_at=T0))
    mod = Moderation(meeting)
    admitted = mod.admit(meeting.get("p_staff"), "l_wait")
    assert admitted.kind == "lobby_admit" and admitted.admitted == (admitted.target,)
    assert admitted.target.id == "l_wait"
    denied = mod.deny(meeting.get("p_host"), "l_two")
    assert denied.kind == "lobby_deny" and [e.id for e in denied.denied] == ["l_two"]
    assert meeting.lobby() == []
    with pytest.raises(ValidationError):
        mod.admit(meeting.get("p_host"), "l_wait")


def test_end():
    meeting = build()
    meeting.raise_hand("p_part")
    at = T0 + timedelta(hours=1)
    result = Moderation(meeting).end(meeting.get("p_host"), at=at)
    assert result.kind == "end" and result.room_changes == {"ended_at": at}
    assert {p.id for p in result.disconnect} == {"p_host", "p_staff", "p_part", "p_part2", "p_view"}
    assert [e.id for e in result.denied] == ["l_wait"]
    assert meeting.ended and meeting.lobby() == [] and meeting.hands() == []
    assert not meeting.get("p_part").hand_raised
    assert Moderation(meeting).end(meeting.get("p_host")).changed is False
    with pytest.raises(Forbidden):
        meeting.admission("host")
    # Nothing else happens in an ended meeting.
    before = snapshot(meeting)
    for method, args in (("mute", ("p_part",)), ("lock", (True,)), ("raise_hand", ()), ("lower_hand", ()),
                         ("promote", ("p_part", "staff"))):
        with pytest.raises(MeetingEnded):
            getattr(Moderation(meeting), method)(meeting.get("p_host"), *args)
    with pytest.raises(MeetingEnded):
        meeting.raise_hand("p_part")
    with pytest.raises(MeetingEnded):
        meeting.enter_lobby(LobbyEntry.new("Late", "", "participant"))
    assert snapshot(meeting) == before


def test_hands_through_moderation():
    meeting = build()
    mod = Moderation(meeting)
    first = mod.raise_hand(meeting.get("p_part"))
    assert first.details == {"position": 1} and first.record is False and first.changed
    assert mod.raise_hand(meeting.get("p_staff")).details == {"position": 2}
    assert mod.raise_hand(meeting.get("p_part")).changed is False
    with pytest.raises(Forbidden):
        mod.raise_hand(meeting.get("p_view"))
    own = mod.lower_hand(meeting.get("p_part"))
    assert own.changed and own.record is False
    with pytest.raises(Forbidden):
        mod.lower_hand(meeting.get("p_part"), "p_staff")
    by_host = mod.lower_hand(meeting.get("p_host"), "p_staff")
    assert by_host.changed and by_host.record and meeting.hands() == []


def test_timeline_event_of_a_result():
    meeting = build()
    result = Moderation(meeting).mute(meeting.get("p_host"), "p_part", "audio")
    assert result.timeline_event() == {"kind": "mute", "actor": meeting.get("p_host"),
                                       "target": meeting.get("p_part"), "details": {"kind": "audio"}}


# ---- generated sequences ------------------------------------------------------------------------

PEOPLE = ["p_host", "p_staff", "p_part", "p_part2", "p_view", "p_nobody"]
LOBBY_IDS = ["l_wait", "l_nobody"]

# Actors lean towards the host and staff, who are the ones allowed to do most things.
actors = st.sampled_from(["p_host"] * 4 + ["p_staff"] * 2 + PEOPLE)
targets = st.sampled_from(PEOPLE)
kinds = st.sampled_from(["audio", "video"])

actions = st.one_of(
    st.tuples(st.just("mute"), actors, targets, kinds),
    st.tuples(st.just("mute_all"), actors, kinds),
    st.tuples(st.just("allow_unmute"), actors, targets, kinds),
    st.tuples(st.just("set_allow_self_unmute"), actors, st.booleans()),
    st.tuples(st.just("remove"), actors, targets),
    st.tuples(st.just("promote"), actors, targets, st.sampled_from(list(Role))),
    st.tuples(st.just("lock"), actors, st.booleans()),
    st.tuples(st.just("set_lobby"), actors, st.booleans()),
    st.tuples(st.just("admit"), actors, st.sampled_from(LOBBY_IDS)),
    st.tuples(st.just("deny"), actors, st.sampled_from(LOBBY_IDS)),
    # Ending stops everything: tried in one step out of about 80.
    st.tuples(st.just("end"), actors, st.integers(0, 4)).map(
        lambda step: step[:2] if step[2] == 0 else ("raise_hand", step[1])),
    st.tuples(st.just("raise_hand"), targets),
    st.tuples(st.just("lower_hand"), actors, st.sampled_from(PEOPLE + [None])),
    # The participants' own requests.
    st.tuples(st.just("self_media"), targets, kinds, st.booleans()),
    st.tuples(st.just("request_unmute"), targets, kinds),
)


def apply(meeting: Meeting, step: tuple):
    name, who, *args = step
    if name == "self_media":
        kind, muted = args
        return meeting.update_media_state(who, **{f"{kind}_muted": muted})
    if name == "request_unmute":
        return meeting.request_unmute(who, *args)
    actor = meeting.get(who) or person(who, "host")  # an absent actor (even claiming host) is refused
    return getattr(Moderation(meeting), name)(actor, *args)


def check_invariants(meeting: Meeting, removed: set[str]) -> None:
    everyone = meeting.list(include_viewers=True)
    hosts = [p for p in everyone if p.role == Role.HOST]
    assert len(hosts) == 1  # the host cannot be removed (not by staff, not by itself)
    assert set(meeting.hands()) <= {p.id for p in everyone}
    for p in everyone:
        assert p.hand_raised == (p.id in meeting.hands())
        if p.hand_raised:
            assert authorize(Actor.of(p.role), Action.RAISE_HAND).allowed
        assert not p.force_muted_audio or p.audio_muted
        assert not p.force_muted_video or p.video_muted
    assert not removed & {p.id for p in everyone}
    if meeting.ended:
        assert meeting.lobby() == [] and meeting.hands() == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(actions, max_size=25))
def test_generated_sequences_keep_the_invariants(steps):
    meeting = build()
    removed: set[str] = set()
    for step in steps:
        before = snapshot(meeting)
        state_before = copy.deepcopy(before)
        try:
            result = apply(meeting, step)
        except DomainError as exc:
            assert exc.code in ("forbidden", "bad_request", "not_joined")
            assert snapshot(meeting) == state_before, step  # a refusal changes nothing
        else:
            if isinstance(result, ModerationResult):
                if not result.changed:
                    assert snapshot(meeting) == state_before, step
                if result.kind == "remove":
                    removed.add(result.target.id)
        check_invariants(meeting, removed)
