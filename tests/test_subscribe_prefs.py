"""Integration: ``subscribe_prefs`` pauses the videos a subscriber does not show, for it alone.

aiortc peers meet through the server process: one publisher (microphone and camera) and two
subscribers. One subscriber pauses the publisher's camera: its video packets stop reaching that
subscriber (counted as RTP packets at its DTLS transport, before aiortc's receiver), its audio does
not, and the other subscriber keeps decoding video. Unpausing restarts the video at a keyframe,
sequence numbers continuing, and frames are decoded again. Bad payloads are ``bad_request`` and
change nothing.

No timing is asserted: after a change we let in-flight packets settle, then check that a count does
not move across a generous window (or that it does move, with a bounded wait).
"""

from __future__ import annotations

import asyncio

import pytest

from media.rtp import header_length, payload_end, vp8_is_keyframe
from tests.media_helpers import ClientPeer, _remote_ssrcs
from tests.meeting_client import MeetingClient
from tests.room_harness import module_server, token_of

pytestmark = pytest.mark.timeout(180)

SETTLE = 2.0  # in-flight packets and the receivers' jitter buffers drain
WINDOW = 3.0  # a count that does not move across this window has stopped


server = module_server("subscribe-prefs")


class VideoPackets:
    """Records, in arrival order, the RTP packets of one publisher's camera that reach a
    subscriber's subscribe connection (sequence number, starts a VP8 keyframe), after SRTP and
    before aiortc's receiver sees them."""

    def __init__(self, peer: ClientPeer, publisher_id: str):
        self.peer = peer
        self.publisher_id = publisher_id
        self.packets: list[tuple[int, bool]] = []
        dtls = peer.subscribe_pc.getTransceivers()[0].receiver.transport
        original = dtls._handle_rtp_data

        async def _handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
            if int.from_bytes(data[8:12], "big") == self.ssrc():
                start, end = header_length(data), payload_end(data)
                self.packets.append((int.from_bytes(data[2:4], "big"),
                                     start > 0 and vp8_is_keyframe(data, start, end)))
            await original(data, arrival_time_ms)

        dtls._handle_rtp_data = _handle_rtp_data

    def ssrc(self) -> int | None:
        for mid, consumer in self.peer.consumers.items():
            if consumer["participant_id"] == self.publisher_id and consumer["source"] == "camera":
                ssrcs = _remote_ssrcs(self.peer.subscribe_pc, mid)
                return ssrcs[0] if ssrcs else None
        return None


@pytest.fixture
async def meeting(server):
    """A publisher with microphone and camera; two subscribers who only watch."""
    room = server.create_room("Prefs")
    publisher = MeetingClient(server.base_url, "Porto")
    phone = MeetingClient(server.base_url, "Phone", audio=False, video=False)
    laptop = MeetingClient(server.base_url, "Laptop", audio=False, video=False)
    made = [publisher, phone, laptop]
    try:
        await publisher.join(token_of(room["links"]["host"]))
        await phone.join(token_of(room["links"]["participant"]), publish=False)
        await laptop.join(token_of(room["links"]["participant"]), publish=False)
        for viewer in (phone, laptop):
            await viewer.wait_for_frames(publisher, "video", 10, timeout=40)
            await viewer.wait_for_frames(publisher, "audio", 10, timeout=40)
        yield publisher, phone, laptop
    finally:
        await asyncio.gather(*(c.close() for c in made), return_exceptions=True)


async def prefs(client: MeetingClient, paused: list) -> dict:
    return await client.proto.request("subscribe_prefs", {"paused": paused})


async def test_pausing_a_camera_stops_it_for_that_subscriber_only_and_resuming_starts_at_a_keyframe(meeting):
    publisher, phone, laptop = meeting
    packets = VideoPackets(phone.peer, publisher.self_id)
    await phone.peer.wait_until(lambda: len(packets.packets) >= 10, timeout=20)

    ack = await prefs(phone, [{"participant_id": publisher.self_id, "source": "camera"}])
    assert ack == {"ok": True, "ignored": []}, ack
    await asyncio.sleep(SETTLE)
    before = (len(packets.packets), phone.received(publisher, "video"), phone.received(publisher, "audio"),
              laptop.received(publisher, "video"))
    await asyncio.sleep(WINDOW)
    after = (len(packets.packets), phone.received(publisher, "video"), phone.received(publisher, "audio"),
             laptop.received(publisher, "video"))
    assert after[0] == before[0], f"video packets still reach the phone: {before[0]} -> {after[0]}"
    assert after[1] == before[1], f"the phone still decodes video: {before[1]} -> {after[1]}"
    assert after[2] > before[2], "the phone's audio must not be paused"
    assert after[3] > before[3], "the laptop's video must not be paused"
    last_seq = packets.packets[-1][0]

    # Sending the same set again changes nothing; an empty set resumes.
    assert await prefs(phone, [{"participant_id": publisher.self_id, "source": "camera"}]) == \
        {"ok": True, "ignored": []}
    paused_at = len(packets.packets)
    assert await prefs(phone, []) == {"ok": True, "ignored": []}
    await phone.wait_for_frames(publisher, "video", after[1] + 15, timeout=30)
    resumed = packets.packets[paused_at:]
    assert resumed, "no video packet after resuming"
    first_seq, first_is_keyframe = resumed[0]
    assert first_is_keyframe, "the resumed video did not start at a keyframe"
    assert first_seq == (last_seq + 1) & 0xFFFF, (last_seq, first_seq)  # no gap for the receiver to NACK


async def test_unknown_and_own_ids_are_ignored_and_a_later_set_replaces_the_earlier(meeting):
    publisher, phone, laptop = meeting
    ack = await prefs(phone, [
        {"participant_id": "p_nobody", "source": "camera"},
        {"participant_id": phone.self_id, "source": "screen"},
        {"participant_id": publisher.self_id, "source": "screen"},  # not published: remembered
    ])
    assert ack == {"ok": True, "ignored": sorted(["p_nobody", phone.self_id])}, ack
    # Pausing the screen leaves the camera flowing.
    count = phone.received(publisher, "video")
    await phone.wait_for_frames(publisher, "video", count + 15, timeout=30)

    # The laptop pauses the camera, then sends a set without it: the camera comes back.
    assert (await prefs(laptop, [{"participant_id": publisher.self_id, "source": "camera"}]))["ok"]
    await asyncio.sleep(SETTLE)
    stopped = laptop.received(publisher, "video")
    await asyncio.sleep(WINDOW)
    assert laptop.received(publisher, "video") == stopped
    ack = await prefs(laptop, [{"participant_id": publisher.self_id, "source": "screen"}])
    assert ack == {"ok": True, "ignored": []}
    await laptop.wait_for_frames(publisher, "video", stopped + 15, timeout=30)


async def test_bad_prefs_are_refused_and_change_nothing(meeting):
    publisher, phone, laptop = meeting
    camera = {"participant_id": publisher.self_id, "source": "camera"}
    bad_payloads = [
        {},
        {"paused": None},
        {"paused": "all"},
        {"paused": {"participant_id": publisher.self_id, "source": "camera"}},
        {"paused": [publisher.self_id]},
        {"paused": [{"participant_id": publisher.self_id, "source": "microphone"}]},  # audio: never
        {"paused": [{"participant_id": publisher.self_id}]},
        {"paused": [{"participant_id": 7, "source": "camera"}]},
        {"paused": [{"participant_id": "", "source": "camera"}]},
        {"paused": [{"participant_id": "x" * 65, "source": "camera"}]},
        {"paused": [{"participant_id": "p_\ud800", "source": "camera"}]},
        {"paused": [camera, {"participant_id": publisher.self_id, "source": ["camera"]}]},
        {"paused": [camera] * 513},
        # the tile sizes (simulcast layers): a list of sizes in device pixels
        {"paused": [], "sizes": None},
        {"paused": [], "sizes": {"participant_id": publisher.self_id}},
        {"paused": [], "sizes": [dict(camera, width=320)]},
        {"paused": [], "sizes": [dict(camera, width=320, height=-1)]},
        {"paused": [], "sizes": [dict(camera, width=320, height=16385)]},
        {"paused": [], "sizes": [dict(camera, width=320.5, height=180)]},
        {"paused": [], "sizes": [dict(camera, width=True, height=180)]},
        {"paused": [], "sizes": [{"participant_id": publisher.self_id, "source": "microphone",
                                  "width": 320, "height": 180}]},
        {"paused": [], "sizes": [dict(camera, width=320, height=180)] * 513},
    ]
    for payload in bad_payloads:
        ack = await phone.proto.request("subscribe_prefs", payload)
        assert ack["ok"] is False and ack["error"]["code"] == "bad_request", (payload, ack)
        error = await phone.proto.next_event("error")
        assert error["event"] == "subscribe_prefs" and error["code"] == "bad_request"
    # Not joined: refused as such.
    outsider = MeetingClient(publisher.proto.base_url, "Outsider", audio=False, video=False)
    try:
        await outsider.proto.connect()
        ack = await outsider.proto.request("subscribe_prefs", {"paused": []})
        assert ack["ok"] is False and ack["error"]["code"] == "not_joined", ack
    finally:
        await outsider.close()
    # None of the refusals paused anything: the camera still reaches the phone.
    count = phone.received(publisher, "video")
    await phone.wait_for_frames(publisher, "video", count + 15, timeout=30)
    # The upper bound itself is accepted, sizes too.
    assert (await prefs(phone, [camera] * 512))["ok"]
    sized = await phone.proto.request("subscribe_prefs", {"paused": [], "sizes": [dict(camera, width=320, height=180)] * 512})
    assert sized["ok"], sized
