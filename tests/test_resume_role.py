"""Integration: a participant whose connection drops comes back with the role it had in the meeting.

Over real Socket.IO against the server process. The join ack carries a ``resume_key``; a later
``join`` with the same invite token and that key restores the role (a promotion and a demotion
alike), lets the participant straight in past the lobby, closes an old connection the server had
not noticed was dead, and keeps a removed participant out. A key that does not verify is ignored.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.room_harness import module_server, token_of
from tests.sio_helpers import ProtocolClient

pytestmark = pytest.mark.timeout(120)


server = module_server("resume-role")


class Person:
    """One protocol client and what its latest join answered."""

    def __init__(self, base_url: str, name: str):
        self.base_url = base_url
        self.name = name
        self.client: ProtocolClient | None = None
        self.ack: dict = {}

    @property
    def id(self) -> str:
        return self.ack["self"]["id"]

    async def join(self, token: str, **extra) -> dict:
        """Join on a new connection (the previous one, if any, is left as it is)."""
        self.client = await ProtocolClient(self.base_url).connect()
        ack = await self.client.request("join", {"token": token, "name": self.name, **extra})
        if ack.get("ok") and "self" in ack:
            self.ack = ack
        return ack

    async def until(self, event: str, predicate, timeout: float = 15):
        async def loop():
            while True:
                data = await self.client.next_event(event, timeout=timeout)
                if predicate(data):
                    return data
        return await asyncio.wait_for(loop(), timeout)


@pytest.fixture
async def people(server):
    made: list[ProtocolClient] = []

    def person(name: str) -> Person:
        p = Person(server.base_url, name)
        original = p.join

        async def join(token: str, **extra) -> dict:
            ack = await original(token, **extra)
            made.append(p.client)
            return ack
        p.join = join
        return p

    yield person
    await asyncio.gather(*(c.close() for c in made), return_exceptions=True)


async def disconnected(client: ProtocolClient, timeout: float = 10) -> bool:
    for _ in range(int(timeout * 10)):
        if not client.sio.connected:
            return True
        await asyncio.sleep(0.1)
    return not client.sio.connected


async def test_promoted_participant_comes_back_as_staff_after_a_drop(server, people):
    room = server.create_room("Resume promoted")
    host, guest = people("Hana Host"), people("Lisbon")
    await host.join(token_of(room["links"]["host"]))
    ack = await guest.join(token_of(room["links"]["participant"]))
    assert ack["self"]["role"] == "participant" and ack["resumed"] is False
    key = ack["resume_key"]
    assert isinstance(key, str) and key

    assert await host.client.request("set_role", {"participant_id": guest.id, "role": "staff"}) == \
        {"ok": True, "changed": True}
    await guest.until("participant_updated", lambda p: p["id"] == guest.id and p["role"] == "staff")

    # The connection drops; the server notices (participant_left), then the client joins again
    # with the same invite and its key.
    old_id, old_client = guest.id, guest.client
    await old_client.sio.disconnect()
    await host.until("participant_left", lambda d: d["id"] == old_id)
    ack = await guest.join(token_of(room["links"]["participant"]), resume_key=key)
    assert ack["ok"], ack
    assert ack["self"]["role"] == "staff" and ack["resumed"] is True, ack["self"]
    assert ack["self"]["id"] == old_id and "lobby" in ack  # the same person; staff see the lobby
    # (The host's queue still holds the first participant_joined of this id, as a participant.)
    joined = await host.until("participant_joined", lambda p: p["id"] == guest.id and p["role"] == "staff")
    # The role is the server's, not a label: staff may lock the meeting; the timeline says so.
    assert await guest.client.request("lock", {"locked": True}) == {"ok": True, "changed": True}
    events = (await host.client.request("timeline", {}))["events"]
    assert any(e["kind"] == "join" and e["actor_id"] == guest.id and e["details"] == {"resumed": True}
               for e in events), events

    # Coming back once more works from the newest key too.
    again_key = ack["resume_key"]
    await guest.client.sio.disconnect()
    await host.until("participant_left", lambda d: d["id"] == joined["id"])
    ack = await guest.join(token_of(room["links"]["participant"]), resume_key=again_key)
    assert ack["ok"] and ack["self"]["role"] == "staff", ack


async def test_coming_back_before_the_server_noticed_the_drop_replaces_the_old_connection(server, people):
    room = server.create_room("Resume takeover")
    host, guest = people("Hana Host"), people("Nairobi")
    await host.join(token_of(room["links"]["host"]))
    # A personal invite: with the old connection still counted, a plain second join is refused.
    invite = await host.client.request("invite_create", {"role": "participant", "max_uses": 1})
    token = token_of(invite["link"])
    ack = await guest.join(token)
    key, old_id, old_client = ack["resume_key"], guest.id, guest.client
    assert await host.client.request("set_role", {"participant_id": old_id, "role": "staff"}) == \
        {"ok": True, "changed": True}
    await host.until("participant_updated", lambda p: p["id"] == old_id and p["role"] == "staff")

    stranger = people("Someone else")
    refused = await stranger.join(token)
    assert refused["ok"] is False and refused["error"]["code"] == "invalid_token", refused

    # The old connection is still open (a dead network path the server has not timed out yet).
    ack = await guest.join(token, resume_key=key)
    assert ack["ok"], ack
    assert ack["self"]["role"] == "staff" and ack["resumed"] is True
    assert ack["self"]["id"] == old_id and old_id not in [p["id"] for p in ack["participants"]]
    await host.until("participant_left", lambda d: d["id"] == old_id)
    await host.until("participant_joined", lambda p: p["id"] == old_id and p["role"] == "staff")
    assert await disconnected(old_client)
    snapshot = await people("Observer").join(token_of(room["links"]["host"]))
    names = [p["name"] for p in snapshot["participants"]]
    assert names.count("Nairobi") == 1, names


async def test_a_demotion_stays_and_a_returning_participant_skips_the_lobby(server, people):
    room = server.create_room("Resume demoted")
    host, aide = people("Hana Host"), people("Aide")
    await host.join(token_of(room["links"]["host"]))
    invite = await host.client.request("invite_create", {"role": "staff", "label": "aides"})
    staff_token = token_of(invite["link"])
    ack = await aide.join(staff_token)
    assert ack["self"]["role"] == "staff"
    key = ack["resume_key"]
    assert (await host.client.request("set_role", {"participant_id": aide.id, "role": "participant"}))["changed"]
    await aide.until("participant_updated", lambda p: p["id"] == aide.id and p["role"] == "participant")
    # Meanwhile the host turns the lobby on and locks the meeting.
    assert (await host.client.request("lobby_enable", {"enabled": True}))["changed"]
    assert (await host.client.request("lock", {"locked": True}))["changed"]

    old_id = aide.id
    await aide.client.sio.disconnect()
    await host.until("participant_left", lambda d: d["id"] == old_id)
    ack = await aide.join(staff_token, resume_key=key)
    assert ack["ok"] and "self" in ack, ack  # let straight in: admitted once already
    assert ack["self"]["role"] == "participant" and ack["resumed"] is True
    assert "lobby" not in ack  # a participant does not see the lobby
    # The same staff link without the key is a fresh join, as staff.
    fresh = await people("Aide colleague").join(staff_token)
    assert fresh["ok"] and fresh["self"]["role"] == "staff" and fresh["resumed"] is False


async def test_keys_that_do_not_verify_are_ignored_and_a_removed_participant_stays_out(server, people):
    room = server.create_room("Resume refused")
    other_room = server.create_room("Another room")
    host, guest = people("Hana Host"), people("Braga")
    await host.join(token_of(room["links"]["host"]))
    ack = await guest.join(token_of(room["links"]["participant"]))
    key = ack["resume_key"]
    participant_id, mac = key.split(".")
    assert (await host.client.request("set_role", {"participant_id": guest.id, "role": "staff"}))["changed"]

    # Forged or altered keys, a key for another room or another invite: a fresh join, with the
    # invite's role.
    forged = [f"{participant_id}.{'A' * len(mac)}", f"{participant_id}x.{mac}", "nonsense", "é.é"]
    for bad in forged:
        ack = await people("Forger").join(token_of(room["links"]["participant"]), resume_key=bad)
        assert ack["ok"] and ack["self"]["role"] == "participant" and ack["resumed"] is False, (bad, ack)
    ack = await people("Elsewhere").join(token_of(other_room["links"]["participant"]), resume_key=key)
    assert ack["ok"] and ack["self"]["role"] == "participant" and ack["resumed"] is False
    ack = await people("Wrong link").join(token_of(room["links"]["host"]), resume_key=key)
    assert ack["ok"] and ack["self"]["role"] == "host" and ack["resumed"] is False
    # None of these took the guest's place: it is still connected, still staff.
    assert guest.client.sio.connected
    probe = await guest.client.request("lock", {"locked": False})
    assert probe["ok"], probe

    # A resume key of the wrong type is a bad request, and nothing joins.
    for bad in (42, ["k"], "k" * 300):
        ack = await people("Typo").join(token_of(room["links"]["participant"]), resume_key=bad)
        assert ack["ok"] is False and ack["error"]["code"] == "bad_request", (bad, ack)

    # Removed: the key proves who it is, so coming back is refused even from a new device id.
    again = people("Braga")
    ack = await again.join(token_of(room["links"]["participant"]))
    removed_key, removed_id = ack["resume_key"], again.id
    assert await host.client.request("remove", {"participant_id": removed_id}) == {"ok": True, "changed": True}
    await host.until("participant_left", lambda d: d["id"] == removed_id)
    ack = await people("Braga").join(token_of(room["links"]["participant"]), resume_key=removed_key,
                                      device_id="a-new-device-01")
    assert ack["ok"] is False and ack["error"]["code"] == "forbidden", ack
