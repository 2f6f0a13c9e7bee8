"""Integration: joining through the lobby, locked and ended meetings, removal and invites, over real
Socket.IO against the server process (one server for the module, a fresh room per test)."""

from __future__ import annotations

import sqlite3
from contextlib import closing

from rooms.authorize import Role
from tests.room_harness import Room, disconnected, end_meeting, module_server, refused, room_fixture, token_of

ADMITTED_KEYS = {"self", "room", "participants", "ice_servers", "settings", "hands", "chat",
                 "session_key", "resume_key", "resumed", "held", "stage", "panels", "panel_data", "documents",
                 "meeting", "simulcast", "recording", "clocks"}


server = module_server("lobby")
room = room_fixture(Role.HOST)  # Hana Host and Tariq Target


async def lobby_on(room: Room) -> None:
    ack = await room.host.request("lobby_enable", {"enabled": True})
    assert ack == {"ok": True, "changed": True}
    await room.host.until("meeting_settings", lambda s: s["lobby_enabled"])


async def wait(room: Room, name: str, organisation: str | None = None, role: str = "participant"):
    client, ack = await room.join(role, name)
    assert ack["ok"] and set(ack) == {"ok", "lobby", "room"}, ack
    assert ack["room"] == {"id": room.id, "title": "Grants", "city": None, "starts_at": None, "ends_at": None}
    return client, ack["lobby"]


async def test_lobby_wait_admit_and_joined_payload(room):
    await lobby_on(room)
    waiter, entry = await wait(room, "Wanda Waiting")
    assert entry["position"] == 1 and entry["id"].startswith("l_")
    lobby = await room.host.until("lobby", lambda d: d["entries"])
    assert len(lobby["entries"]) == 1
    shown = lobby["entries"][0]
    assert shown["id"] == entry["id"] and shown["name"] == "Wanda Waiting"
    assert shown["organisation"] == "Wanda Waiting City" and shown["role"] == "participant"
    assert shown["requested_at"].endswith("Z")

    second, entry2 = await wait(room, "Omar Second")
    assert entry2["position"] == 2
    lobby = await room.host.until("lobby", lambda d: len(d["entries"]) == 2)
    assert [e["name"] for e in lobby["entries"]] == ["Wanda Waiting", "Omar Second"]

    # Someone waiting is not in the meeting yet.
    assert refused(await waiter.request("chat_send", {"text": "hello?"}), "not_joined")
    assert refused(await waiter.request("join", {"token": room.tokens["participant"], "name": "x"}),
                   "already_joined")

    assert (await room.host.request("lobby_admit", {"id": entry["id"]}))["changed"] is True
    joined = await waiter.next_event("joined")
    assert set(joined) == ADMITTED_KEYS, set(joined) ^ ADMITTED_KEYS  # the admitted ack, without ok
    assert joined["self"]["name"] == "Wanda Waiting" and joined["self"]["role"] == "participant"
    assert {p["name"] for p in joined["participants"]} == {"Hana Host", "Tariq Target"}
    assert joined["settings"]["lobby_enabled"] is True and joined["room"]["id"] == room.id
    # Everyone else is told; the lobby list shrinks.
    for other in (room.host, room.target):
        seen = await other.until("participant_joined", lambda p: p["name"] == "Wanda Waiting")
        assert seen["id"] == joined["self"]["id"]
    lobby = await room.host.until("lobby", lambda d: len(d["entries"]) == 1)
    assert lobby["entries"][0]["id"] == entry2["id"]
    # The admitted client is a full participant now.
    ack = await waiter.request("chat_send", {"text": "thanks for letting me in"})
    assert ack["ok"], ack


async def test_lobby_deny_and_retry(room):
    await lobby_on(room)
    waiter, entry = await wait(room, "Wanda Waiting")
    assert (await room.host.request("lobby_deny", {"id": entry["id"]}))["changed"] is True
    assert await waiter.next_event("lobby_denied") == {"reason": "denied"}
    await room.host.until("lobby", lambda d: d["entries"] == [])
    # Denying twice is a bad request; the denied client is nobody again and may ask once more.
    assert refused(await room.host.request("lobby_deny", {"id": entry["id"]}), "bad_request")
    assert refused(await waiter.request("leave", {}), "not_joined")
    ack = await waiter.request("join", {"token": room.tokens["participant"], "name": "Wanda Again"})
    assert ack["ok"] and ack["lobby"]["position"] == 1, ack


async def test_waiting_client_leaves_or_disconnects(room):
    await lobby_on(room)
    room.host.drain("participant_joined")
    leaver, entry = await wait(room, "Lee Leaver")
    dropper, entry2 = await wait(room, "Dee Dropper")
    await room.host.until("lobby", lambda d: len(d["entries"]) == 2)
    assert (await leaver.request("leave", {})) == {"ok": True}
    lobby = await room.host.until("lobby", lambda d: len(d["entries"]) == 1)
    assert lobby["entries"][0]["id"] == entry2["id"]
    await dropper.close()
    await room.host.until("lobby", lambda d: d["entries"] == [])
    # Nobody is waiting any more: admitting them is a bad request, and nobody joined.
    assert refused(await room.host.request("lobby_admit", {"id": entry["id"]}), "bad_request")
    await room.host.barrier()
    assert room.host.drain("participant_joined") == []


async def test_hosts_and_staff_skip_the_lobby_viewers_wait(room):
    await lobby_on(room)
    staff, ack = await room.join("staff", "Sam Staff")
    assert ack["ok"] and "self" in ack, ack
    assert ack["lobby"] == []  # hosts and staff see the lobby in their ack
    host2, ack = await room.join("host", "Second Host")
    assert ack["ok"] and "self" in ack, ack
    viewer, entry = await wait(room, "Vic Viewer", role="viewer")
    lobby = await staff.until("lobby", lambda d: d["entries"])  # staff see the lobby too
    assert lobby["entries"][0]["role"] == "viewer"
    assert (await staff.request("lobby_admit", {"id": entry["id"]}))["ok"]
    joined = await viewer.next_event("joined")
    assert joined["self"]["role"] == "viewer" and "lobby" not in joined


async def test_lobby_off_admits_everyone_waiting(room):
    await lobby_on(room)
    first, _ = await wait(room, "First")
    second, _ = await wait(room, "Second")
    ack = await room.host.request("lobby_enable", {"enabled": False})
    assert ack == {"ok": True, "changed": True}
    for client, name in ((first, "First"), (second, "Second")):
        assert (await client.next_event("joined"))["self"]["name"] == name


async def test_locked_meeting_refuses_participants_not_staff(room):
    assert (await room.host.request("lock", {"locked": True}))["changed"] is True
    for role in ("participant", "viewer"):
        _, ack = await room.join(role, f"Late {role}")
        assert refused(ack), ack
        assert "locked" in ack["error"]["message"]
    _, ack = await room.join("staff", "Sam Staff")
    assert ack["ok"] and ack["self"]["role"] == "staff" and ack["settings"]["locked"] is True
    _, ack = await room.join("host", "Second Host")
    assert ack["ok"] and ack["self"]["role"] == "host"
    # With the lobby on too, a locked meeting still refuses rather than queueing.
    await lobby_on(room)
    _, ack = await room.join("participant", "Later")
    assert refused(ack), ack
    assert (await room.host.request("lock", {"locked": False}))["changed"] is True
    _, ack = await room.join("participant", "Latest")
    assert ack["ok"] and "lobby" in ack, ack


async def test_ended_meeting_refuses_everyone_and_tells_the_lobby(room):
    await lobby_on(room)
    waiter, _ = await wait(room, "Wanda Waiting")
    await end_meeting(room.host)
    assert await waiter.next_event("lobby_denied") == {"reason": "ended"}
    assert await room.target.next_event("meeting_ended") == {"by": "Hana Host"}
    assert await disconnected(room.target) and await disconnected(room.host)
    for role in ("host", "staff", "participant", "viewer"):
        _, ack = await room.join(role, f"Late {role}")
        assert refused(ack), (role, ack)
        assert "ended" in ack["error"]["message"]


async def test_removed_participant_is_kept_out_by_device(room):
    device = "device-removed-0001"
    guest, ack = await room.join("participant", "Rex Removed", device_id=device)
    assert ack["ok"], ack
    assert (await room.host.request("remove", {"participant_id": guest.self_id}))["changed"] is True
    assert await guest.next_event("removed") == {"by": "Hana Host"}
    assert await disconnected(guest)
    left = await room.target.until("participant_left", lambda d: d["id"] == guest.self_id)
    assert left == {"id": guest.self_id}
    # Same device, same shared link: refused. Another device with the shared link: welcome.
    _, ack = await room.join("participant", "Rex Again", device_id=device)
    assert refused(ack), ack
    assert "removed" in ack["error"]["message"]
    _, ack = await room.join("participant", "Someone Else", device_id="device-other-0002")
    assert ack["ok"] and "self" in ack, ack
    _, ack = await room.join("participant", "No Device")
    assert ack["ok"] and "self" in ack, ack
    # The removal is in the database and the timeline.
    with closing(sqlite3.connect(room.server.db_path, timeout=10)) as db:
        assert db.execute("SELECT removed FROM participants WHERE id = ?", (guest.self_id,)).fetchone()[0]
    events = (await room.host.request("timeline", {}))["events"]
    removal = [e for e in events if e["kind"] == "remove"]
    assert len(removal) == 1 and removal[0]["target_id"] == guest.self_id
    assert removal[0]["actor_name"] == "Hana Host" and removal[0]["details"]["device_blocked"] is True


async def test_removed_holder_of_a_personal_invite_is_kept_out_on_any_device(room):
    ack = await room.host.request("invite_create", {"role": "participant", "label": "Paris delegate",
                                                    "max_uses": 1})
    assert ack["ok"] and ack["invite"]["max_uses"] == 1, ack
    personal = token_of(ack["link"])
    guest, ack = await room.join(token=personal, name="Pia Personal", device_id="device-paris-0001")
    assert ack["ok"], ack
    # max_uses 1: a second person cannot use the invite at the same time.
    _, ack = await room.join(token=personal, name="Copycat", device_id="device-copy-0002")
    assert refused(ack, "invalid_token"), ack
    assert (await room.host.request("remove", {"participant_id": guest.self_id}))["changed"] is True
    await guest.next_event("removed")
    assert await disconnected(guest)
    await room.host.until("participant_left", lambda d: d["id"] == guest.self_id)
    for device in ("device-paris-0001", "device-fresh-0003", None):
        _, ack = await room.join(token=personal, name="Pia Again", device_id=device)
        assert refused(ack), (device, ack)
    # The shared participant link still works for everyone else.
    _, ack = await room.join("participant", "Someone Else", device_id="device-other-0004")
    assert ack["ok"], ack


async def test_revoked_invite_is_refused_at_once(room):
    ack = await room.host.request("invite_create", {"role": "participant", "label": "Nairobi",
                                                    "expires_in_s": 3600})
    assert ack["ok"] and ack["invite"]["expires_at"].endswith("Z"), ack
    invite, token = ack["invite"], token_of(ack["link"])
    first, ack = await room.join(token=token, name="Nuru")
    assert ack["ok"], ack
    revoked = await room.host.request("invite_revoke", {"invite_id": invite["id"]})
    assert revoked["ok"] and revoked["invite"]["revoked_at"], revoked
    _, ack = await room.join(token=token, name="Nuru Again")
    assert refused(ack, "invalid_token"), ack
    assert first.sio.connected  # revoking stops new joins; it does not disconnect anyone
    # Unknown invite ids are a bad request.
    assert refused(await room.host.request("invite_revoke", {"invite_id": "inv_nope"}), "bad_request")


async def test_expired_invite_is_refused(room):
    """An invite past its expiry (moved into the past in the database: nobody waits a minute)."""
    ack = await room.host.request("invite_create", {"role": "participant", "expires_in_s": 60})
    assert ack["ok"], ack
    token = token_of(ack["link"])
    _, joined = await room.join(token=token, name="Just In Time")
    assert joined["ok"], joined
    with closing(sqlite3.connect(room.server.db_path, timeout=10)) as db:
        (stored,) = db.execute("SELECT expires_at FROM invites WHERE id = ?",
                               (ack["invite"]["id"],)).fetchone()
        db.execute("UPDATE invites SET expires_at = ? WHERE id = ?", ("2000" + stored[4:], ack["invite"]["id"]))
        db.commit()
    _, late = await room.join(token=token, name="Too Late")
    assert refused(late, "invalid_token"), late
    assert "expired" in late["error"]["message"]


async def test_bad_invite_requests(room):
    for payload in ({"role": "emperor"}, {"role": "participant", "expires_in_s": 10},
                    {"role": "participant", "max_uses": 0}, {"role": "participant", "label": "x" * 81},
                    {"role": "participant", "expires_in_s": "soon"}):
        assert refused(await room.host.request("invite_create", payload), "bad_request"), payload


async def test_a_promoted_viewer_joins_the_others_meeting(room):
    """A viewer is nobody to the others (no participant_joined); promoted to participant it is
    announced as joining, not as an update of someone they never saw."""
    viewer, ack = await room.join("viewer", "Vera Viewer")
    assert ack["ok"] and ack["self"]["role"] == "viewer", ack
    await room.target.barrier()
    assert [p for p in room.target.drain("participant_joined") if p["id"] == viewer.self_id] == []

    ack = await room.host.request("set_role", {"participant_id": viewer.self_id, "role": "participant"})
    assert ack == {"ok": True, "changed": True}, ack
    joined = await room.target.until("participant_joined", lambda p: p["id"] == viewer.self_id)
    assert joined["role"] == "participant" and joined["name"] == "Vera Viewer"
    mine = await viewer.until("participant_updated", lambda p: p["id"] == viewer.self_id)
    assert mine["role"] == "participant"
    await room.target.barrier()
    assert [p for p in room.target.drain("participant_updated") if p["id"] == viewer.self_id] == []


async def test_a_malformed_device_id_is_a_bad_request(room):
    for bad in ("short", "has space in it", "x" * 65, "émigré-device"):
        client, ack = await room.join("participant", "Odd Device", device_id=bad)
        assert refused(ack, "bad_request") and "device_id" in ack["error"]["message"], (bad, ack)
    client, ack = await room.join("participant", "Good Device", device_id="Device_01-abc")
    assert ack["ok"], ack


async def test_leaving_and_joining_again_is_no_way_out_of_a_held_mute(room):
    """Held muted (the host muted them and self-unmute is off), a participant who reloads (same
    device) or comes back after a drop (same id, resume key) joins muted and still may not unmute."""
    assert (await room.host.request("set_allow_self_unmute", {"allowed": False}))["ok"]
    guest, ack = await room.join("participant", "Held Guest", device_id="held-device-0001")
    assert ack["ok"] and ack["held"] == []
    first_id, key = ack["self"]["id"], ack["resume_key"]
    assert (await room.host.request("mute", {"participant_id": first_id, "kind": "audio"}))["changed"]
    await guest.until("moderated", lambda d: d["action"] == "mute")
    unmute = {"audio_muted": False, "video_muted": False}

    # A drop, then the automatic rejoin with the resume key: same id, still held.
    await guest.sio.disconnect()
    await room.host.until("participant_left", lambda d: d["id"] == first_id)
    back = await room.client()  # another device id: the resume key alone proves who it is
    ack = await back.request("join", {"token": room.tokens["participant"], "name": "Held Guest",
                                      "device_id": "other-device-0002", "resume_key": key})
    assert ack["ok"] and ack["resumed"] and ack["self"]["id"] == first_id, ack
    assert ack["held"] == ["audio"] and ack["self"]["audio_muted"] is True, ack
    assert refused(await back.request("media_state", unmute))
    await back.close()
    await room.host.until("participant_left", lambda d: d["id"] == ack["self"]["id"])

    # A reload (no resume key; a new id) on the same device: still held.
    again, ack = await room.join("participant", "Held Guest", device_id="other-device-0002")
    assert ack["ok"] and ack["held"] == ["audio"], ack
    assert refused(await again.request("media_state", unmute))
    # The host lifts it: now the participant may unmute.
    assert (await room.host.request("allow_unmute", {"participant_id": ack["self"]["id"], "kind": "audio"}))["changed"]
    assert (await again.request("media_state", unmute))["ok"]
