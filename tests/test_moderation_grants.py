"""Integration: every grant-checked request, from every role, on a target of every rank (or giving a
role of every rank), over real Socket.IO against the server process. What is allowed comes from
``rooms.authorize.authorize`` (so this table follows it: a rule added there is tried here at once);
a refusal is ``forbidden`` and changes nothing (checked with a fresh observer's view of the meeting,
the database, or what the refused action would have made possible).
"""

from __future__ import annotations

import pytest

from rooms.authorize import TARGETS, Action, Actor, OwnMute, Party, Role, RoleGrant, authorize
from server.handlers import HANDLERS, chat, moderation
from tests.room_harness import (Client, Room, db_count, disconnected, end_meeting, module_server, refused,
                                room_fixture, token_of)

ROLES = [Role.HOST, Role.STAFF, Role.PARTICIPANT, Role.VIEWER]

# request (as tested) -> the grant it needs (see rooms/moderation.py and server/handlers/)
REQUESTS: dict[str, Action] = {
    "mute": Action.MUTE_OTHERS,
    "mute_all": Action.MUTE_OTHERS,
    "allow_unmute": Action.MUTE_OTHERS,
    "set_allow_self_unmute": Action.MUTE_OTHERS,
    "remove": Action.REMOVE_PARTICIPANT,
    "set_role": Action.PROMOTE,
    "lock": Action.LOCK_MEETING,
    "lobby_enable": Action.LOCK_MEETING,
    "lobby_admit": Action.ADMIT_LOBBY,
    "lobby_deny": Action.ADMIT_LOBBY,
    "end_meeting": Action.END_MEETING,
    "invite_create": Action.CREATE_INVITES,
    "invite_revoke": Action.CREATE_INVITES,
    "timeline": Action.SEE_LOBBY,
    "chat_send": Action.CHAT,
    "hand_raise": Action.RAISE_HAND,
    "hand_lower_other": Action.MUTE_OTHERS,
    "react": Action.REACT,
}
# Handlers of the moderation and chat mixins that any joined participant may use.
UNGATED = {"request_unmute"}


# What a request is done to, as rooms.authorize sees it: the target participant (joined with each
# visible role: viewers cannot be muted and raise no hand, a bad request), the role a role change
# gives, the role of an invite. Requests not listed act on nobody in particular.
TARGET_ROLES = [Role.HOST, Role.STAFF, Role.PARTICIPANT]
SET_ROLES = [Role.HOST, Role.STAFF, Role.PARTICIPANT]  # what set_role accepts
ON_TARGET = {"mute", "allow_unmute", "remove", "hand_lower_other"}
GIVE_ROLE = {"invite_create", "invite_revoke"}


def targets_of(request: str) -> list[tuple]:
    """Each way ``request`` is tried: the rooms.authorize targets it meets."""
    if request in ON_TARGET:
        return [(Party(role),) for role in TARGET_ROLES]
    if request == "set_role":
        return [(Party(old), RoleGrant(new)) for old in TARGET_ROLES for new in SET_ROLES if new != old]
    if request in GIVE_ROLE:
        return [(RoleGrant(role),) for role in Role]
    return [()]


def allowed(role: Role, request: str, targets: tuple = ()) -> bool:
    """What rooms.authorize says of ``role`` making ``request`` on every one of ``targets``."""
    return all(authorize(Actor(role), REQUESTS[request], target) for target in targets or (None,))


def _case_id(request: str, targets: tuple) -> str:
    return "-".join([request, *(f"{type(t).__name__.lower()}_{t.role}" for t in targets)])


GRANT_CASES = [(request, targets) for request in REQUESTS for targets in targets_of(request)]


server = module_server("grants")
room = room_fixture()


def test_table_covers_every_moderation_and_chat_request():
    """A new grant-checked handler in the moderation or chat modules must be added to REQUESTS."""
    handlers = {event for event, handler in HANDLERS.items() if handler.fn.__module__ in
                (moderation.__name__, chat.__name__)}
    tested = {"hand" if name.startswith("hand_") else name for name in REQUESTS}
    assert handlers - UNGATED == tested


def test_every_rule_on_a_target_is_tried():
    """A new action that rooms.authorize decides on a participant or on a role given must be tried
    here by some request (own mutes: test_unmuting_oneself_follows_authorize)."""
    tried = {(type(target), REQUESTS[request]) for request, targets in GRANT_CASES for target in targets}
    assert tried == {(kind, action) for kind, actions in TARGETS.items() if kind is not OwnMute
                     for action in actions}


# ---- one case per request -------------------------------------------------------------------------

async def case_mute(r: Room, ok: bool) -> None:
    before = await r.snapshot()
    ack = await r.actor.request("mute", {"participant_id": r.target.self_id, "kind": "audio"})
    if ok:
        assert ack == {"ok": True, "changed": True}
        moderated = await r.target.next_event("moderated")
        assert moderated == {"action": "mute", "kind": "audio", "by": r.actor.name}
        updated = await r.host.until("participant_updated", lambda p: p["id"] == r.target.self_id)
        assert updated["audio_muted"] is True
        after = await r.snapshot()
        assert next(p for p in after["participants"] if p["id"] == r.target.self_id)["audio_muted"]
    else:
        assert refused(ack), ack
        await r.target.barrier()
        assert r.target.drain("moderated") == []
        assert await r.snapshot() == before


async def case_mute_all(r: Room, ok: bool) -> None:
    before = await r.snapshot()
    ack = await r.actor.request("mute_all", {"kind": "audio"})
    if ok:
        assert ack == {"ok": True, "changed": True, "muted": [r.target.self_id]}
        assert (await r.target.next_event("moderated"))["action"] == "mute"
        after = await r.snapshot()
        for p in after["participants"]:
            assert p["audio_muted"] is (p["id"] == r.target.self_id), p  # hosts and staff left alone
    else:
        assert refused(ack), ack
        await r.target.barrier()
        assert r.target.drain("moderated") == []
        assert await r.snapshot() == before


def _held(r: Room) -> bool:
    """Whether the target, muted by a host while self-unmute is off, may not unmute itself."""
    own = OwnMute("audio", held=True, self_unmute_allowed=False)
    return not authorize(Actor(r.target_role), Action.LIFT_OWN_MUTE, own)


async def case_allow_unmute(r: Room, ok: bool) -> None:
    assert (await r.host.request("set_allow_self_unmute", {"allowed": False}))["ok"]
    assert (await r.host.request("mute", {"participant_id": r.target.self_id, "kind": "audio"}))["changed"]
    await r.target.next_event("moderated")
    held = {"audio_muted": False, "video_muted": False}
    if _held(r):  # (hosts and staff could lift it themselves, and so leave nothing to allow)
        assert refused(await r.target.request("media_state", held))
    before = await r.snapshot()
    ack = await r.actor.request("allow_unmute", {"participant_id": r.target.self_id, "kind": "audio"})
    if ok:
        assert ack == {"ok": True, "changed": True}
        assert (await r.target.next_event("moderated"))["action"] == "allow_unmute"
        ack = await r.target.request("media_state", held)
        assert ack["ok"] and ack["self"]["audio_muted"] is False, ack
    else:
        assert refused(ack), ack
        await r.target.barrier()
        assert r.target.drain("moderated") == []
        if _held(r):
            assert refused(await r.target.request("media_state", held))  # still held muted
        assert await r.snapshot() == before


async def case_set_allow_self_unmute(r: Room, ok: bool) -> None:
    before = await r.snapshot()
    assert before["settings"]["allow_self_unmute"] is True
    ack = await r.actor.request("set_allow_self_unmute", {"allowed": False})
    if ok:
        assert ack == {"ok": True, "changed": True}
        settings = await r.target.next_event("meeting_settings")
        assert settings["allow_self_unmute"] is False
        assert (await r.snapshot())["settings"]["allow_self_unmute"] is False
    else:
        assert refused(ack), ack
        await r.target.barrier()
        assert r.target.drain("meeting_settings") == []
        assert await r.snapshot() == before


async def case_remove(r: Room, ok: bool) -> None:
    before = await r.snapshot()
    ack = await r.actor.request("remove", {"participant_id": r.target.self_id})
    if ok:
        assert ack == {"ok": True, "changed": True}
        assert await r.target.next_event("removed") == {"by": r.actor.name}
        await r.host.until("participant_left", lambda d: d["id"] == r.target.self_id)
        assert await disconnected(r.target)
        after = await r.snapshot()
        assert r.target.self_id not in {p["id"] for p in after["participants"]}
    else:
        assert refused(ack), ack
        await r.target.barrier()
        assert r.target.drain("removed") == [] and r.target.sio.connected
        ack = await r.target.request("hand", {"raised": False})
        assert ack["ok"], ack  # still a joined participant
        assert await r.snapshot() == before


async def case_set_role(r: Room, ok: bool) -> None:
    new = r.given_role.value
    before = await r.snapshot()
    ack = await r.actor.request("set_role", {"participant_id": r.target.self_id, "role": new})
    if ok:
        assert ack == {"ok": True, "changed": True}
        updated = await r.host.until("participant_updated", lambda p: p["id"] == r.target.self_id)
        assert updated["role"] == new
        after = await r.snapshot()
        assert next(p for p in after["participants"] if p["id"] == r.target.self_id)["role"] == new
    else:
        assert refused(ack), ack
        assert await r.snapshot() == before


async def case_lock(r: Room, ok: bool) -> None:
    ack = await r.actor.request("lock", {"locked": True})
    newcomer, join_ack = await r.join("participant", "Nia Newcomer")
    if ok:
        assert ack == {"ok": True, "changed": True}
        assert (await r.target.next_event("meeting_settings"))["locked"] is True
        assert refused(join_ack), join_ack
        staff, staff_ack = await r.join("staff", "Sam Staff")
        assert staff_ack["ok"] and "self" in staff_ack, staff_ack  # staff still get in
    else:
        assert refused(ack), ack
        assert join_ack["ok"] and "self" in join_ack, join_ack
        assert join_ack["settings"]["locked"] is False


async def case_lobby_enable(r: Room, ok: bool) -> None:
    ack = await r.actor.request("lobby_enable", {"enabled": True})
    newcomer, join_ack = await r.join("participant", "Nia Newcomer")
    if ok:
        assert ack == {"ok": True, "changed": True}
        assert join_ack["ok"] and "lobby" in join_ack and "self" not in join_ack, join_ack
    else:
        assert refused(ack), ack
        assert join_ack["ok"] and "self" in join_ack, join_ack
        assert join_ack["settings"]["lobby_enabled"] is False


async def _waiting(r: Room) -> tuple[Client, str]:
    assert (await r.host.request("lobby_enable", {"enabled": True}))["ok"]
    waiter, ack = await r.join("participant", "Wanda Waiting")
    assert ack["ok"] and "lobby" in ack, ack
    lobby = await r.host.until("lobby", lambda d: any(e["id"] == ack["lobby"]["id"] for e in d["entries"]))
    assert lobby["entries"][-1]["name"] == "Wanda Waiting"
    return waiter, ack["lobby"]["id"]


async def _lobby_case(r: Room, ok: bool, request: str) -> None:
    waiter, entry = await _waiting(r)
    ack = await r.actor.request(request, {"id": entry})
    if ok:
        assert ack == {"ok": True, "changed": True}
        if request == "lobby_admit":
            joined = await waiter.next_event("joined")
            assert joined["self"]["name"] == "Wanda Waiting" and "ok" not in joined
        else:
            assert await waiter.next_event("lobby_denied") == {"reason": "denied"}
    else:
        assert refused(ack), ack
        await waiter.barrier()
        assert waiter.drain("joined") == [] and waiter.drain("lobby_denied") == []
        # The entry is still waiting: the host can still act on it.
        assert (await r.host.request(request, {"id": entry}))["changed"] is True


async def case_lobby_admit(r: Room, ok: bool) -> None:
    await _lobby_case(r, ok, "lobby_admit")


async def case_lobby_deny(r: Room, ok: bool) -> None:
    await _lobby_case(r, ok, "lobby_deny")


async def case_end_meeting(r: Room, ok: bool) -> None:
    before = await r.snapshot()
    if ok:
        await end_meeting(r.actor)
        assert await r.target.next_event("meeting_ended") == {"by": r.actor.name}
        _, join_ack = await r.join("host", "Late Host")
        assert refused(join_ack), join_ack  # an ended meeting refuses everyone
    else:
        ack = await r.actor.request("end_meeting", {})
        assert refused(ack), ack
        await r.target.barrier()
        assert r.target.drain("meeting_ended") == []
        after = await r.snapshot()
        assert after == before and after["settings"]["ended"] is False


def _invites(r: Room) -> int:
    return db_count(r.server, "SELECT count(*) FROM invites WHERE room_id = ?", r.id)


async def case_invite_create(r: Room, ok: bool) -> None:
    role = r.given_role.value
    before = _invites(r)
    ack = await r.actor.request("invite_create", {"role": role, "label": "Paris delegation"})
    if ok:
        assert ack["ok"] and ack["invite"]["role"] == role, ack
        assert ack["invite"]["label"] == "Paris delegation"
        assert _invites(r) == before + 1
        _, join_ack = await r.join(token=token_of(ack["link"]), name="Paris")
        assert join_ack["ok"] and join_ack["self"]["role"] == role, join_ack
    else:
        assert refused(ack), ack
        assert _invites(r) == before


async def case_invite_revoke(r: Room, ok: bool) -> None:
    created = await r.host.request("invite_create", {"role": r.given_role.value, "label": "Lisbon"})
    token = token_of(created["link"])
    ack = await r.actor.request("invite_revoke", {"invite_id": created["invite"]["id"]})
    _, join_ack = await r.join(token=token, name="Lisbon")
    if ok:
        assert ack["ok"] and ack["invite"]["revoked_at"], ack
        assert refused(join_ack, "invalid_token"), join_ack
    else:
        assert refused(ack), ack
        assert join_ack["ok"], join_ack  # the link still works


async def case_timeline(r: Room, ok: bool) -> None:
    ack = await r.actor.request("timeline", {})
    if ok:
        assert ack["ok"], ack
        kinds = [e["kind"] for e in ack["events"]]
        assert "join" in kinds and "invite_create" in kinds
    else:
        assert refused(ack), ack


def _chat_rows(r: Room) -> int:
    return db_count(r.server, "SELECT count(*) FROM chat_messages WHERE room_id = ?", r.id)


async def case_chat_send(r: Room, ok: bool) -> None:
    ack = await r.actor.request("chat_send", {"text": "Status update from the port"})
    if ok:
        assert ack["ok"] and ack["message"]["text"] == "Status update from the port", ack
        assert (await r.target.next_event("chat_message"))["id"] == ack["message"]["id"]
        assert _chat_rows(r) == 1
    else:
        assert refused(ack), ack
        await r.target.barrier()
        assert r.target.drain("chat_message") == []
        assert _chat_rows(r) == 0


async def case_hand_raise(r: Room, ok: bool) -> None:
    before = await r.snapshot()
    ack = await r.actor.request("hand", {"raised": True})
    if ok:
        assert ack == {"ok": True, "queue": [r.actor.self_id]}
        assert await r.target.next_event("hands") == {"queue": [r.actor.self_id]}
    else:
        assert refused(ack), ack
        await r.target.barrier()
        assert r.target.drain("hands") == []
        assert await r.snapshot() == before


async def case_hand_lower_other(r: Room, ok: bool) -> None:
    assert (await r.target.request("hand", {"raised": True}))["queue"] == [r.target.self_id]
    await r.target.next_event("hands")
    before = await r.snapshot()
    ack = await r.actor.request("hand", {"raised": False, "participant_id": r.target.self_id})
    if ok:
        assert ack == {"ok": True, "queue": []}
        assert await r.target.next_event("hands") == {"queue": []}
    else:
        assert refused(ack), ack
        await r.target.barrier()
        assert r.target.drain("hands") == []
        assert await r.snapshot() == before and before["hands"] == [r.target.self_id]


async def case_react(r: Room, ok: bool) -> None:
    ack = await r.actor.request("react", {"emoji": "👏"})
    if ok:
        assert ack == {"ok": True}
        reaction = await r.target.next_event("reaction")
        assert reaction == {"participant_id": r.actor.self_id, "name": r.actor.name, "emoji": "👏"}
    else:
        assert refused(ack), ack


CASES = {name: globals()[f"case_{name}"] for name in REQUESTS}


@pytest.mark.parametrize("role", ROLES, ids=str)
@pytest.mark.parametrize("request_name, targets", GRANT_CASES,
                         ids=[_case_id(request, targets) for request, targets in GRANT_CASES])
async def test_grant(room, role, request_name, targets):
    parties = [t.role for t in targets if isinstance(t, Party)]
    given = [t.role for t in targets if isinstance(t, RoleGrant)]
    await room.setup(role, parties[0] if parties else Role.PARTICIPANT)
    room.given_role = given[0] if given else None
    await CASES[request_name](room, allowed(role, request_name, targets))


# ---- staff and the host -------------------------------------------------------------------------

STAFF_ON_HOST = {
    "mute": {"kind": "audio"},
    "allow_unmute": {"kind": "audio"},
    "remove": {},
    "set_role": {"role": "participant"},
    "hand": {"raised": False},
}


@pytest.mark.parametrize("request_name", list(STAFF_ON_HOST))
async def test_staff_cannot_act_on_the_host(room, request_name):
    await room.setup(Role.STAFF)
    if request_name == "hand":
        assert (await room.host.request("hand", {"raised": True}))["ok"]
    before = await room.snapshot()
    ack = await room.actor.request(request_name, {"participant_id": room.host.self_id,
                                                   **STAFF_ON_HOST[request_name]})
    assert refused(ack), ack
    await room.host.barrier()
    assert room.host.drain("moderated") == [] and room.host.drain("removed") == []
    assert room.host.sio.connected
    assert await room.snapshot() == before
    # ...while the same request on a participant is allowed (but set_role: staff may not promote).
    ack = await room.actor.request(request_name, {"participant_id": room.target.self_id,
                                                   **STAFF_ON_HOST[request_name]})
    if request_name == "set_role":
        assert refused(ack), ack
    else:
        assert ack["ok"], ack


async def test_only_a_host_invites_hosts(room):
    await room.setup(Role.STAFF)
    assert refused(await room.actor.request("invite_create", {"role": "host"}))
    ack = await room.host.request("invite_create", {"role": "host", "max_uses": 1})
    assert ack["ok"] and ack["invite"]["role"] == "host" and ack["invite"]["max_uses"] == 1, ack


async def test_only_the_host_hands_over_the_host_role(room):
    await room.setup(Role.STAFF)
    assert refused(await room.actor.request("set_role", {"participant_id": room.target.self_id,
                                                         "role": "host"}))
    ack = await room.host.request("set_role", {"participant_id": room.target.self_id, "role": "host"})
    assert ack == {"ok": True, "changed": True}
    after = await room.snapshot()
    roles = {p["id"]: p["role"] for p in after["participants"]}
    assert roles[room.target.self_id] == "host" and roles[room.host.self_id] == "staff"
    # The old host is staff now: it may no longer end the meeting, the new host may.
    assert refused(await room.host.request("end_meeting", {}))
    await end_meeting(room.target)
    assert await room.host.until("meeting_ended") == {"by": "Tariq Target"}


async def test_only_a_host_revokes_host_invites(room):
    """Regression (fixed in what is now server/handlers/moderation.py): staff could revoke the room's host link."""
    await room.setup(Role.STAFF)
    created = await room.host.request("invite_create", {"role": "host", "label": "Deputy mayor"})
    ack = await room.actor.request("invite_revoke", {"invite_id": created["invite"]["id"]})
    assert refused(ack), ack
    _, join_ack = await room.join(token=token_of(created["link"]), name="Deputy")
    assert join_ack["ok"] and join_ack["self"]["role"] == "host", join_ack
    # Staff may still revoke the invites they may create.
    created = await room.host.request("invite_create", {"role": "staff"})
    assert (await room.actor.request("invite_revoke", {"invite_id": created["invite"]["id"]}))["ok"]
    ack = await room.host.request("invite_revoke", {"invite_id": created["invite"]["id"]})
    assert ack["ok"]  # revoking twice keeps the first time


async def test_moderated_is_sent_only_when_something_changed(room):
    """Regression (fixed in what is now server/handlers/moderation.py): ``moderated`` went out for no-op actions,
    e.g. "the host allows you to unmute" to someone who was never muted."""
    await room.setup(Role.HOST)
    target = {"participant_id": room.target.self_id, "kind": "audio"}
    assert await room.host.request("allow_unmute", target) == {"ok": True, "changed": False}
    assert await room.host.request("mute", target) == {"ok": True, "changed": True}
    assert (await room.target.next_event("moderated"))["action"] == "mute"
    assert await room.host.request("mute", target) == {"ok": True, "changed": False}
    await room.target.barrier()
    assert room.target.drain("moderated") == []
    assert await room.host.request("allow_unmute", target) == {"ok": True, "changed": True}
    assert (await room.target.next_event("moderated"))["action"] == "allow_unmute"


# ---- the rules beyond requests, through the server, from rooms.authorize ----------------------------

@pytest.mark.parametrize("self_unmute", [False, True], ids=["held", "self_unmute_allowed"])
@pytest.mark.parametrize("target_role", TARGET_ROLES, ids=str)
async def test_unmuting_oneself_follows_authorize(room, target_role, self_unmute):
    await room.setup(Role.HOST, target_role)
    unmute = {"audio_muted": False, "video_muted": False}
    own = OwnMute("audio", held=False, self_unmute_allowed=self_unmute)
    assert authorize(Actor(target_role), Action.LIFT_OWN_MUTE, own)  # nothing held yet
    assert (await room.target.request("media_state", unmute))["ok"]
    await room.host.request("set_allow_self_unmute", {"allowed": self_unmute})
    target = {"participant_id": room.target.self_id, "kind": "audio"}
    assert await room.host.request("mute", target) == {"ok": True, "changed": True}
    assert (await room.target.next_event("moderated"))["action"] == "mute"
    own = OwnMute("audio", held=True, self_unmute_allowed=self_unmute)
    ack = await room.target.request("media_state", unmute)
    if authorize(Actor(target_role), Action.LIFT_OWN_MUTE, own):
        assert ack["ok"] and ack["self"]["audio_muted"] is False, ack
    else:
        assert refused(ack) and ack["error"]["message"] == "a host muted your audio; ask to unmute", ack
        assert (await room.target.request("request_unmute", {"kind": "audio"}))["ok"]
        asked = await room.host.next_event("unmute_requested")
        assert asked == {"participant_id": room.target.self_id, "name": "Tariq Target", "kind": "audio"}
        assert await room.host.request("allow_unmute", target) == {"ok": True, "changed": True}
        assert (await room.target.request("media_state", unmute))["ok"]


@pytest.mark.parametrize("role", ROLES, ids=str)
async def test_unmute_requests_go_to_whoever_may_allow_them(room, role):
    await room.setup(role)
    await room.host.request("set_allow_self_unmute", {"allowed": False})
    assert (await room.host.request("mute", {"participant_id": room.target.self_id}))["changed"]
    assert (await room.target.request("request_unmute", {"kind": "audio"}))["ok"]
    assert (await room.host.next_event("unmute_requested"))["participant_id"] == room.target.self_id
    await room.actor.barrier()
    heard = room.actor.drain("unmute_requested") if room.actor is not room.host else ["host"]
    assert bool(heard) is bool(authorize(Actor(role), Action.MUTE_OTHERS, Party(Role.PARTICIPANT))), heard


@pytest.mark.parametrize("setting", ["locked", "lobby_enabled"])
@pytest.mark.parametrize("role", ROLES, ids=str)
async def test_lock_and_lobby_follow_authorize(room, role, setting):
    await room.setup(Role.HOST)
    request, field = ("lock", "locked") if setting == "locked" else ("lobby_enable", "enabled")
    assert (await room.host.request(request, {field: True}))["changed"]
    _, ack = await room.join(role.value, "Nadia Newcomer")
    if authorize(Actor(role), Action.BYPASS_LOCK_AND_LOBBY):
        assert ack["ok"] and ack["self"]["role"] == role.value, ack
    elif setting == "locked":
        assert refused(ack) and "locked" in ack["error"]["message"], ack
    else:
        assert ack["ok"] and "lobby" in ack and "self" not in ack, ack


@pytest.mark.parametrize("role", ROLES, ids=str)
async def test_the_lobby_is_shown_to_whoever_may_see_it(room, role):
    await room.setup(Role.HOST)
    watcher, ack = await room.join(role.value, "Wes Watcher")
    sees = bool(authorize(Actor(role), Action.SEE_LOBBY))
    assert ack["ok"] and ("lobby" in ack) is sees, ack
    assert (await room.host.request("lobby_enable", {"enabled": True}))["changed"]
    _, waiting = await room.join("participant", "Wanda Waiting")
    assert "lobby" in waiting, waiting
    await room.host.until("lobby", lambda d: len(d["entries"]) == 1)
    await watcher.barrier()
    shown = watcher.drain("lobby")
    assert bool(shown) is sees and all(len(d["entries"]) == 1 for d in shown), shown
