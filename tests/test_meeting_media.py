"""Integration: aiortc peers meet through the real server process (Socket.IO + the SFU) on loopback."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.meeting_client import MeetingClient
from tests.room_harness import token_of
from tests.sio_helpers import connected


@pytest.fixture
async def clients():
    made: list[MeetingClient] = []
    yield made
    await asyncio.gather(*(c.close() for c in made), return_exceptions=True)


async def test_three_peers_receive_each_other_without_transcoding(sitroom_server, clients):
    room = sitroom_server.create_room("Three cities")
    names = [("Seoul", "host"), ("Paris", "participant"), ("Nairobi", "participant")]
    for name, role in names:
        client = MeetingClient(sitroom_server.base_url, name)
        clients.append(client)
        await client.join(token_of(room["links"][role]), organisation=name)

    # Everyone decodes everyone else's video and audio.
    for me in clients:
        for other in clients:
            if other is not me:
                await me.wait_for_frames(other, "video", 10)
                await me.wait_for_frames(other, "audio", 10)

    # CPU of the SFU process over a 5 s window of steady 3-way media, for the record (not asserted).
    before_cpu, before_wall = sitroom_server.cpu_seconds(), time.monotonic()
    before = sitroom_server.metrics()["sfu"]
    await asyncio.sleep(5)
    cpu = (sitroom_server.cpu_seconds() - before_cpu) / (time.monotonic() - before_wall) * 100
    after = sitroom_server.metrics()["sfu"]
    forwarded = after["rtp_packets_out"] - before["rtp_packets_out"]
    print(f"\n3-peer meeting: SFU process CPU {cpu:.1f}% of one core, "
          f"{forwarded / 5:.0f} packets/s forwarded, {(after['rtp_packets_in'] - before['rtp_packets_in']) / 5:.0f} in/s")

    assert forwarded > 0
    assert after["producers"] == 6 and after["consumers"] == 12
    # The SFU forwards: no aiortc decoder or encoder ever ran in the server process.
    assert after["decoded_frames"] == 0
    assert after["encoded_frames"] == 0


async def test_late_joiner_sees_everyone_and_leaver_disappears(sitroom_server, clients):
    room = sitroom_server.create_room("Late")
    a = MeetingClient(sitroom_server.base_url, "Ana")
    b = MeetingClient(sitroom_server.base_url, "Ben")
    clients += [a, b]
    await a.join(token_of(room["links"]["host"]))
    await b.join(token_of(room["links"]["participant"]))
    await a.wait_for_frames(b, "video", 5)

    c = MeetingClient(sitroom_server.base_url, "Cleo")
    clients.append(c)
    ack = await c.join(token_of(room["links"]["participant"]))
    assert {p["name"] for p in ack["participants"]} == {"Ana", "Ben"}
    await c.wait_for_frames(a, "video", 5)
    await c.wait_for_frames(b, "video", 5)
    await c.wait_for_frames(b, "audio", 5)

    # Ben leaves: the others are told, and Ben's tracks are gone from their consumer lists.
    ben_id = b.self_id
    await b.proto.request("leave", {})
    for other in (a, c):
        while True:
            left = await other.proto.next_event("participant_left", timeout=10)
            if left["id"] == ben_id:
                break
        await other.peer.wait_until(
            lambda o=other: all(x["participant_id"] != ben_id for x in o.peer.consumers.values()), timeout=10)
    metrics = sitroom_server.metrics()["sfu"]
    assert metrics["producers"] == 4 and metrics["peers"] == 2


async def test_bad_input_does_not_disturb_the_meeting(sitroom_server, clients):
    room = sitroom_server.create_room("Resilience")
    a = MeetingClient(sitroom_server.base_url, "Ana")
    b = MeetingClient(sitroom_server.base_url, "Ben")
    clients += [a, b]
    await a.join(token_of(room["links"]["host"]))
    await b.join(token_of(room["links"]["participant"]))
    await a.wait_for_frames(b, "video", 5)
    await b.wait_for_frames(a, "video", 5)

    mallory = await connected(sitroom_server.base_url)
    try:
        forged = token_of(room["links"]["participant"])[:-4] + "AAAA"
        assert (await mallory.request("join", {"token": forged, "name": "M"}))["error"]["code"] == "invalid_token"
        assert (await mallory.request("no_such_event", {}))["error"]["code"] == "unknown_event"
        assert (await mallory.request("join", {"token": "v1.e30.AAAA", "name": "M"}))["error"]["code"] == "invalid_token"
        await mallory.join(token_of(room["links"]["participant"]), "Mallory")
        for sdp in ("v=0\r\n", "\x00" * 50, "m=audio 0 RTP/AVP 0\r\n" * 500):
            ack = await mallory.request("publish", {"sdp": sdp, "sources": {"0": "microphone"}})
            assert not ack["ok"] and ack["error"]["code"] in ("bad_sdp", "bad_request")
        ack = await mallory.request("subscribe_answer", {"sdp": "v=0\r\n", "revision": 99})
        assert not ack["ok"] and ack["error"]["code"] in ("bad_sdp", "stale_revision")
    finally:
        await mallory.close()

    # Ana and Ben's media still flows both ways.
    seen_a, seen_b = a.received(b, "video"), b.received(a, "video")
    await a.wait_for_frames(b, "video", seen_a + 10)
    await b.wait_for_frames(a, "video", seen_b + 10)
    await a.wait_for_frames(b, "audio", a.received(b, "audio") + 10)
