"""Integration: moderation acting on real media. aiortc peers (audio only, to keep the machine calm)
meet through the server process; the host counts the audio frames it decodes from each participant.

No timing is asserted: after an action we let in-flight packets settle, then check that a count
does not move across a generous second window (or that it does move, with a bounded wait).
"""

from __future__ import annotations

import asyncio

import pytest

from tests.meeting_client import MeetingClient
from tests.room_harness import module_server, token_of

SETTLE = 2.0  # in-flight packets and the receivers' jitter buffers drain
WINDOW = 3.0  # a count that does not move across this window has stopped


server = module_server("moderation-media")


@pytest.fixture
async def meeting(server):
    """A host that only listens, and two participants who speak (audio only)."""
    room = server.create_room("Council")
    host = MeetingClient(server.base_url, "Hana Host", audio=False, video=False)
    p1 = MeetingClient(server.base_url, "Lisbon", video=False)
    p2 = MeetingClient(server.base_url, "Nairobi", video=False)
    made = [host, p1, p2]
    try:
        await host.join(token_of(room["links"]["host"]), publish=False)
        await p1.join(token_of(room["links"]["participant"]))
        await join_with_device(p2, token_of(room["links"]["participant"]), "device-nairobi-01")
        for p in (p1, p2):
            await host.wait_for_frames(p, "audio", 25, timeout=30)
        yield room, host, p1, p2
    finally:
        await asyncio.gather(*(c.close() for c in made), return_exceptions=True)


async def join_with_device(client: MeetingClient, token: str, device_id: str) -> dict:
    """MeetingClient.join, with a device_id in the join request."""
    await client.proto.connect()
    ack = await client.proto.request("join", {"token": token, "name": client.name, "device_id": device_id})
    assert ack["ok"] and "self" in ack, ack
    client.join_ack, client.self_id = ack, ack["self"]["id"]
    await client.peer.publish(client._send_publish)
    return ack


async def until(client: MeetingClient, event: str, predicate, timeout: float = 15):
    async def loop():
        while True:
            data = await client.proto.next_event(event, timeout=timeout)
            if predicate(data):
                return data
    return await asyncio.wait_for(loop(), timeout)


def counts(host: MeetingClient, *others: MeetingClient) -> list[int]:
    return [host.received(o, "audio") for o in others]


async def stopped(server, host: MeetingClient, *others: MeetingClient) -> tuple[list[int], dict, dict]:
    """Let in-flight audio settle, then sample the host's counts and the SFU counters across a
    window; returns (counts, sfu before, sfu after) after asserting the counts did not move."""
    await asyncio.sleep(SETTLE)
    before, sfu_before = counts(host, *others), server.metrics()["sfu"]
    await asyncio.sleep(WINDOW)
    after, sfu_after = counts(host, *others), server.metrics()["sfu"]
    assert after == before, f"audio still reaches the host: {before} -> {after}"
    return after, sfu_before, sfu_after


async def test_mute_all_stops_forwarding_until_allowed_to_unmute(server, meeting):
    room, host, p1, p2 = meeting
    proto = host.proto
    assert (await proto.request("set_allow_self_unmute", {"allowed": False}))["changed"] is True

    ack = await proto.request("mute_all", {"kind": "audio"})
    assert ack["ok"] and sorted(ack["muted"]) == sorted([p1.self_id, p2.self_id]), ack
    for p in (p1, p2):
        assert await p.proto.next_event("moderated") == {"action": "mute", "kind": "audio", "by": "Hana Host"}
        updated = await until(host, "participant_updated", lambda d, p=p: d["id"] == p.self_id)
        assert updated["audio_muted"] is True

    # The SFU stops forwarding: nothing more reaches the host, and nothing goes out at all (the
    # only producers are the two muted microphones), while the participants keep sending.
    muted, sfu_before, sfu_after = await stopped(server, host, p1, p2)
    assert sfu_after["rtp_packets_out"] == sfu_before["rtp_packets_out"]
    assert sfu_after["rtp_packets_in"] > sfu_before["rtp_packets_in"]
    assert sfu_after["producers"] == 2

    # Unmuting oneself is refused while the meeting does not allow it, and changes nothing.
    for p in (p1, p2):
        ack = await p.proto.request("media_state", {"audio_muted": False, "video_muted": True})
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden", ack
    assert (await p1.proto.request("request_unmute", {"kind": "audio"})) == {"ok": True}
    asked = await proto.next_event("unmute_requested")
    assert asked == {"participant_id": p1.self_id, "name": "Lisbon", "kind": "audio"}

    # The host lets Lisbon unmute; Lisbon unmutes, and only Lisbon is heard again.
    assert (await proto.request("allow_unmute", {"participant_id": p1.self_id, "kind": "audio"}))["changed"]
    assert (await p1.proto.next_event("moderated"))["action"] == "allow_unmute"
    ack = await p1.proto.request("media_state", {"audio_muted": False, "video_muted": True})
    assert ack["ok"] and ack["self"]["audio_muted"] is False, ack
    await host.wait_for_frames(p1, "audio", muted[0] + 25, timeout=30)
    assert host.received(p2, "audio") == muted[1]
    ack = await p2.proto.request("media_state", {"audio_muted": False, "video_muted": True})
    assert ack["ok"] is False and ack["error"]["code"] == "forbidden", ack

    # Allowing self-unmute for everyone lets Nairobi back in too.
    assert (await proto.request("set_allow_self_unmute", {"allowed": True}))["changed"] is True
    ack = await p2.proto.request("media_state", {"audio_muted": False, "video_muted": True})
    assert ack["ok"], ack
    await host.wait_for_frames(p2, "audio", muted[1] + 25, timeout=30)


async def test_mute_one_then_reconnect_publish_stays_muted(server, meeting):
    """A muted participant who publishes again (a new offer) is still not forwarded."""
    room, host, p1, p2 = meeting
    assert (await host.proto.request("set_allow_self_unmute", {"allowed": False}))["ok"]
    ack = await host.proto.request("mute", {"participant_id": p2.self_id, "kind": "audio"})
    assert ack == {"ok": True, "changed": True}
    await p2.proto.next_event("moderated")
    await stopped(server, host, p2)
    # Re-offering (as a browser does when its tracks change) does not lift the mute.
    await p2.peer.publish(p2._send_publish)
    heard = host.received(p1, "audio")
    (count,), _, _ = await stopped(server, host, p2)
    assert host.received(p1, "audio") > heard  # the other participant is still heard meanwhile
    assert (await host.proto.request("allow_unmute", {"participant_id": p2.self_id, "kind": "audio"}))["ok"]
    assert (await p2.proto.request("media_state", {"audio_muted": False, "video_muted": True}))["ok"]
    await host.wait_for_frames(p2, "audio", count + 25, timeout=30)


async def test_removed_participant_is_cut_off_and_kept_out(server, meeting):
    room, host, p1, p2 = meeting
    before = server.metrics()["sfu"]
    assert before["peers"] == 3 and before["producers"] == 2

    ack = await host.proto.request("remove", {"participant_id": p2.self_id})
    assert ack == {"ok": True, "changed": True}
    assert await p2.proto.next_event("removed") == {"by": "Hana Host"}
    for _ in range(100):
        if not p2.proto.sio.connected:
            break
        await asyncio.sleep(0.1)
    assert not p2.proto.sio.connected
    for other in (host, p1):
        await until(other, "participant_left", lambda d: d["id"] == p2.self_id)
    # Its media stops: the SFU dropped its peer and producer, the host hears nothing more from it
    # and its consumer disappears from the host's list, while Lisbon is still heard.
    await host.peer.wait_until(
        lambda: all(c["participant_id"] != p2.self_id for c in host.peer.consumers.values()), timeout=20)
    heard = host.received(p1, "audio")
    await stopped(server, host, p2)
    await host.wait_for_frames(p1, "audio", heard + 25, timeout=30)
    after = server.metrics()["sfu"]
    assert after["peers"] == 2 and after["producers"] == 1

    # Same device: refused. The shared link from another device: welcome.
    again = MeetingClient(server.base_url, "Nairobi")
    other = MeetingClient(server.base_url, "Nairobi colleague", audio=False, video=False)
    try:
        await again.proto.connect()
        ack = await again.proto.request("join", {"token": token_of(room["links"]["participant"]),
                                                 "name": "Nairobi", "device_id": "device-nairobi-01"})
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden", ack
        await other.proto.connect()
        ack = await other.proto.request("join", {"token": token_of(room["links"]["participant"]),
                                                 "name": "Nairobi colleague", "device_id": "device-other-02"})
        assert ack["ok"] and "self" in ack, ack
    finally:
        await asyncio.gather(again.close(), other.close(), return_exceptions=True)
