"""Two nodes on one PostgreSQL and one Redis (issue 15, "Two nodes"; server/cluster.py): two
``sitroom serve`` processes on 127.0.0.1, ports of their own, the suite's PostgreSQL (a database
made for the test) and Redis (a channel of its own).

A room is held by one node at a time: a participant who opens the invite on the other node is sent
to the holder (the page by a 307, the join by ``room_elsewhere`` with the holder's URL) and meets
the others there, media included. When the holder is killed, its lease lapses and the other node
takes the room over from what the database kept: the clients come back there (as a proxy would
send them) on their resume keys, and find the chat history, the stage and their hand.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.meeting_client import MeetingClient
from tests.nodes_helpers import postgres_database, redirect_of, running_nodes
from tests.room_harness import token_of

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(240)]

PANEL = {"title": "Incidents", "kind": "table",
         "source": {"type": "simulated", "feed": "incidents", "interval_s": 5}, "options": {}}


@pytest.fixture
async def postgres_url():
    async with postgres_database() as url:
        yield url


@pytest.fixture
def two_nodes(tmp_path, postgres_url):
    # One database, one secret (tests/conftest.py gives every server the same) and one Redis channel.
    with running_nodes(tmp_path, postgres_url) as (a, b):
        yield a, b


async def join_where_held(base_url: str, name: str, token: str, *, resume_key: str | None = None,
                          deadline_s: float = 45) -> tuple[MeetingClient, dict, int]:
    """Join on ``base_url`` and publish; a ``room_elsewhere`` answer is asked again (the holder's
    lease has not lapsed yet), within ``deadline_s``. Returns the client, its ack, and how many
    joins were sent elsewhere meanwhile."""
    payload = {"token": token, "name": name, **({"resume_key": resume_key} if resume_key else {})}
    deadline = time.monotonic() + deadline_s
    elsewhere = 0
    while True:
        client = MeetingClient(base_url, name)
        await client.proto.connect()
        ack = await client.proto.request("join", payload)
        if ack["ok"]:
            client.join_ack, client.self_id, client.publishing = ack, ack["self"]["id"], True
            await client.peer.publish(client._send_publish)
            return client, ack, elsewhere
        await client.close()
        assert ack["error"]["code"] == "room_elsewhere", ack
        elsewhere += 1
        assert time.monotonic() < deadline, f"the room was not taken over within {deadline_s} s: {ack}"
        await asyncio.sleep(0.5)


async def test_a_room_stays_on_one_node_and_another_takes_it_over_when_it_dies(two_nodes):
    a, b = two_nodes
    room = a.create_room("Two nodes")
    room_id = room["room"]["id"]
    host_token, guest_token = token_of(room["links"]["host"]), token_of(room["links"]["participant"])
    clients: list[MeetingClient] = []
    try:
        # The host opens the room on node A: A holds it.
        host, host_ack, _ = await join_where_held(a.base_url, "Mayor", host_token)
        clients.append(host)
        # The guest opens the invite on node B: the page and the join are sent to A.
        status, location = redirect_of(f"{b.base_url}/r/{room_id}?t={guest_token}")
        assert (status, location) == (307, f"{a.base_url}/r/{room_id}?t={guest_token}")
        assert redirect_of(f"{a.base_url}/r/{room_id}?t={guest_token}")[0] == 200
        probe = MeetingClient(b.base_url, "Probe")
        await probe.proto.connect()
        refused = await probe.proto.request("join", {"token": guest_token, "name": "Guest"})
        await probe.close()
        assert refused["ok"] is False and refused["error"]["code"] == "room_elsewhere", refused
        assert refused["error"]["url"] == a.base_url
        guest, guest_ack, _ = await join_where_held(refused["error"]["url"], "Guest", guest_token)
        clients.append(guest)
        assert [p["name"] for p in guest_ack["participants"]] == ["Mayor"]
        # media flows between them through node A
        await host.wait_for_frames(guest, "video", 10)
        await guest.wait_for_frames(host, "video", 10)
        assert a.metrics()["sfu"]["rtp_packets_out"] > 0 and b.metrics()["sfu"]["rtp_packets_out"] == 0

        # What the meeting decided: a chat message, a panel on stage, a raised hand.
        assert (await guest.proto.request("chat_send", {"text": "Flooding on the river road"}))["ok"]
        panel = (await host.proto.request("panel_create", PANEL))["panel"]
        stage = (await host.proto.request("stage_set", {"kind": "panel", "panel_id": panel["id"]}))["stage"]
        assert (await guest.proto.request("hand", {"raised": True}))["ok"]
        await asyncio.sleep(1)  # (the room's state is written a moment after each change)

        # Node A dies. Its clients come back on node B (a proxy would send them there).
        a.proc.kill()
        a.proc.wait(timeout=10)
        killed_at = time.monotonic()
        for client in clients:
            await client.close()
        clients.clear()
        host2, host_back, elsewhere = await join_where_held(b.base_url, "Mayor", host_token,
                                                            resume_key=host_ack["resume_key"])
        clients.append(host2)
        taken_after = time.monotonic() - killed_at
        guest2, guest_back, _ = await join_where_held(b.base_url, "Guest", guest_token,
                                                      resume_key=guest_ack["resume_key"])
        clients.append(guest2)
        print(f"\ntakeover: node B took the room {taken_after:.1f} s after node A was killed "
              f"({elsewhere} join(s) sent to the dead node's lease meanwhile)")

        # The same meeting on node B: the same people and roles, chat, stage and hand.
        assert host_back["resumed"] and host_back["self"]["id"] == host_ack["self"]["id"]
        assert host_back["self"]["role"] == "host"
        assert guest_back["resumed"] and guest_back["self"]["id"] == guest_ack["self"]["id"]
        assert [m["text"] for m in host_back["chat"]] == ["Flooding on the river road"]
        assert (host_back["stage"]["kind"], host_back["stage"]["panel_id"], host_back["stage"]["version"]) == \
            ("panel", panel["id"], stage["version"])
        assert guest_back["self"]["hand_raised"] and guest_back["hands"] == [guest_ack["self"]["id"]]
        # and media flows again, through node B
        await host2.wait_for_frames(guest2, "video", 10)
        await guest2.wait_for_frames(host2, "video", 10)
        metrics = b.metrics()
        assert metrics["sfu"]["rtp_packets_out"] > 0 and metrics["cluster"]["rooms_held"] == 1
        # A page load on B is served there now (no redirect to the dead node).
        assert redirect_of(f"{b.base_url}/r/{room_id}?t={guest_token}")[0] == 200
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


async def test_a_node_without_redis_holds_every_room_itself(sitroom_server):
    """One node (no --redis): no lease, no redirect; the room opens as it always did."""
    room = sitroom_server.create_room("One node")
    assert redirect_of(f"{sitroom_server.base_url}/r/{room['room']['id']}?t={token_of(room['links']['host'])}")[0] == 200
    assert sitroom_server.metrics()["cluster"]["enabled"] is False
