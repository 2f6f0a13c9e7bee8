"""The SFU with real aiortc client peers over 127.0.0.1, against the media API directly."""

from __future__ import annotations

import asyncio
import time

import pytest

from media import SFU, MediaConfig, SdpError, StaleRevision
from tests.media_helpers import Joined, _remote_ssrcs

TIMEOUT = 30


async def everyone_receives(members: list[Joined], frames: int = 10) -> None:
    for member in members:
        for other in members:
            if other is member:
                continue
            await member.client.wait_for_frames(other.client.name, "video", frames, TIMEOUT)
            await member.client.wait_for_frames(other.client.name, "audio", frames, TIMEOUT)


async def test_three_peers_forward_without_transcoding(sfu, client_peers):
    router = sfu.router("room-1")
    members = [await Joined(router, client_peers(name)).join() for name in ("alice", "bob", "carol")]

    await everyone_receives(members)

    stats = sfu.stats()
    assert stats["routers"] == 1
    assert stats["peers"] == 3
    assert stats["producers"] == 6
    assert stats["consumers"] == 12
    assert stats["rtp_packets_in"] > 0
    assert stats["rtp_packets_out"] > 0
    assert stats["rtp_bytes_out"] > 0
    assert stats["decoded_frames"] == 0
    assert stats["encoded_frames"] == 0
    for member in members:
        consumers = member.consumers()
        assert {(c["participant_id"], c["kind"]) for c in consumers} == {
            (o.client.name, kind) for o in members if o is not member for kind in ("audio", "video")
        }
        assert {c["source"] for c in consumers} == {"microphone", "camera"}


async def test_every_consumed_stream_gets_sender_reports(sfu, client_peers):
    """Sender reports go out in compound packets (several SRs + one SDES): a standard receiver
    (aiortc's) still finds the SR of each of its streams in them."""
    router = sfu.router("room-sr")
    members = [await Joined(router, client_peers(name)).join() for name in ("alice", "bob", "carol")]
    await everyone_receives(members, frames=3)

    async def reported(member: Joined) -> set:
        ssrcs = set()
        for transceiver in member.client.subscribe_pc.getTransceivers():
            if transceiver.mid not in member.client.consumers:
                continue
            report = await transceiver.receiver.getStats()
            ssrcs |= {s.ssrc for s in report.values() if s.type == "remote-outbound-rtp" and s.packetsSent > 0}
        return ssrcs

    for member in members:
        expected = {_remote_ssrcs(member.client.subscribe_pc, mid)[0] for mid in member.client.consumers}
        assert len(expected) == 4
        deadline = time.monotonic() + 10
        got: set = set()
        while time.monotonic() < deadline and not expected <= got:
            await asyncio.sleep(0.2)
            got = await reported(member)
        assert expected <= got, f"{member.client.name}: no sender report for {expected - got}"


async def test_publisher_leaving_renegotiates_and_reuses_transceivers(sfu, client_peers):
    router = sfu.router("room-2")
    alice = await Joined(router, client_peers("alice")).join()
    bob = await Joined(router, client_peers("bob")).join()
    carol = await Joined(router, client_peers("carol")).join()
    await everyone_receives([alice, bob, carol], frames=5)

    carol_mids = {c["mid"] for c in alice.consumers() if c["participant_id"] == "carol"}
    revision = alice.offers[-1][0]
    await router.remove_peer("carol")

    await alice.client.wait_until(lambda: alice.offers[-1][0] > revision and alice.client.revision > revision, TIMEOUT)
    assert all(c["participant_id"] != "carol" for c in alice.consumers())
    directions = {t.mid: t.direction for t in alice.peer.subscriber.pc.getTransceivers()}
    assert all(directions[mid] == "inactive" for mid in carol_mids)
    assert sfu.stats()["peers"] == 2

    # media from bob keeps flowing to alice
    before = alice.client.received("bob", "video")
    await alice.client.wait_for_frames("bob", "video", before + 5, TIMEOUT)

    # a later joiner reuses alice's inactive transceivers instead of growing her SDP
    transceivers = len(alice.peer.subscriber.pc.getTransceivers())
    dave = await Joined(router, client_peers("dave")).join()
    await alice.client.wait_for_frames("dave", "video", 5, TIMEOUT)
    await alice.client.wait_for_frames("dave", "audio", 5, TIMEOUT)
    assert len(alice.peer.subscriber.pc.getTransceivers()) == transceivers
    dave_mids = {c["mid"] for c in alice.consumers() if c["participant_id"] == "dave"}
    assert dave_mids == carol_mids

    # and the later joiner receives everyone
    await dave.client.wait_for_frames("alice", "video", 5, TIMEOUT)
    await dave.client.wait_for_frames("bob", "video", 5, TIMEOUT)
    await dave.client.wait_for_frames("bob", "audio", 5, TIMEOUT)
    assert sfu.stats()["decoded_frames"] == 0
    assert sfu.stats()["encoded_frames"] == 0


async def test_malformed_sdp_is_refused_and_media_keeps_flowing(sfu, client_peers):
    router = sfu.router("room-3")
    alice = await Joined(router, client_peers("alice")).join()
    bob = await Joined(router, client_peers("bob")).join()
    await everyone_receives([alice, bob], frames=5)

    mallory = await router.add_peer("mallory", on_subscribe_offer=lambda *a: asyncio.sleep(0))
    bad_offers = [
        "",
        "not an sdp",
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n",
        alice.client.publish_pc.localDescription.sdp.replace("a=ice-ufrag", "a=x-ufrag"),
        alice.client.publish_pc.localDescription.sdp.replace("VP8/90000", "XYZ/90000")
        .replace("opus/48000/2", "XYZ/48000/2"),
        "x" * 200_000,
        None,
    ]
    for offer in bad_offers:
        with pytest.raises(SdpError):
            await mallory.publish(offer, {"0": "microphone"})
    with pytest.raises(SdpError):
        await mallory.publish(alice.client.publish_pc.localDescription.sdp, {"0": "telepathy"})

    with pytest.raises(StaleRevision):
        await alice.peer.subscribe_answer("v=0\r\n", 999)

    before = bob.client.received("alice", "video")
    await bob.client.wait_for_frames("alice", "video", before + 10, TIMEOUT)
    before = alice.client.received("bob", "audio")
    await alice.client.wait_for_frames("bob", "audio", before + 10, TIMEOUT)


async def test_bad_subscribe_answer_raises_sdp_error(sfu, client_peers):
    router = sfu.router("room-4")
    alice = await Joined(router, client_peers("alice")).join()
    offers: asyncio.Queue = asyncio.Queue()

    async def on_offer(sdp, revision, consumers):
        await offers.put((sdp, revision, consumers))

    bob_client = client_peers("bob", audio=False, video=False)
    bob = await router.add_peer("bob", on_subscribe_offer=on_offer)
    sdp, revision, consumers = await asyncio.wait_for(offers.get(), TIMEOUT)
    assert {c["participant_id"] for c in consumers} == {"alice"}

    with pytest.raises(SdpError):
        await bob.subscribe_answer("garbage", revision)
    with pytest.raises(StaleRevision):
        await bob.subscribe_answer("garbage", revision + 1)

    answer = await bob_client.handle_subscribe_offer(sdp, revision, consumers)
    await bob.subscribe_answer(answer, revision)
    await bob_client.wait_for_frames("alice", "video", 5, TIMEOUT)
    with pytest.raises(StaleRevision):
        await bob.subscribe_answer(answer, revision)


async def test_set_paused_stops_forwarding(sfu, client_peers):
    router = sfu.router("room-5")
    alice = await Joined(router, client_peers("alice")).join()
    bob = await Joined(router, client_peers("bob")).join()
    await bob.client.wait_for_frames("alice", "audio", 5, TIMEOUT)

    alice.peer.set_paused("microphone", True)
    producer = next(p for p in alice.peer.producers if p.source == "microphone")
    sent = sum(t.packets for t in producer.downtracks)
    received = producer.packets
    await bob.client.wait_until(lambda: producer.packets > received + 10, TIMEOUT)
    assert sum(t.packets for t in producer.downtracks) == sent

    alice.peer.set_paused("microphone", False)
    before = bob.client.received("alice", "audio")
    await bob.client.wait_for_frames("alice", "audio", before + 5, TIMEOUT)


# keyframes, loss, pause, codecs, speakers


def video_downtrack(subscriber_peer, publisher_name: str):
    return next(s.downtrack for s in subscriber_peer.subscriber.slots
                if s.consumer is not None and s.consumer.producer.peer_id == publisher_name
                and s.consumer.kind == "video")


async def test_subscriber_plis_reach_the_publisher_throttled(sfu, client_peers):
    router = sfu.router("room-pli")
    alice = await Joined(router, client_peers("alice", audio=False)).join()
    bob = await Joined(router, client_peers("bob", audio=False, video=False)).join(publish=False)
    await bob.client.wait_for_frames("alice", "video", 5, TIMEOUT)
    alice.client.count_keyframe_requests()
    await asyncio.sleep(0.5)  # let any start-up request settle
    alice.client.keyframe_requests = 0

    # (aiortc's encoder starts a keyframe whenever its bitrate changes: a request that arrives
    # less than a round trip after one was sent is held, so the requests are spread a little)
    video_downtrack(bob.peer, "alice").rtt = 0.001  # loopback, before the first report says so
    for _ in range(4):
        await bob.client.send_pli("alice", count=5)
        await asyncio.sleep(0.05)
    feedback = bob.peer.subscriber.feedback
    await bob.client.wait_until(lambda: feedback.keyframe_requests >= 20 and alice.client.keyframe_requests >= 1, TIMEOUT)
    await asyncio.sleep(1.0)  # a deferred request, if any, has gone out by now
    assert 1 <= alice.client.keyframe_requests <= 3  # 20 PLIs coalesced (one per 300 ms)
    before = bob.client.received("alice", "video")
    await bob.client.wait_for_frames("alice", "video", before + 5, TIMEOUT)


async def test_lost_packets_to_a_subscriber_are_retransmitted(sfu, client_peers):
    router = sfu.router("room-loss")
    alice = await Joined(router, client_peers("alice", audio=False)).join()
    bob = await Joined(router, client_peers("bob", audio=False, video=False)).join(publish=False)
    await bob.client.wait_for_frames("alice", "video", 5, TIMEOUT)
    before = sfu.stats()["rtp_retransmitted"]

    bob.client.drop_incoming_video(every=20, limit=10)  # 5% loss on the SFU -> bob link
    await bob.client.wait_until(lambda: len(bob.client.dropped) >= 10, TIMEOUT)
    await bob.client.wait_until(lambda: sfu.stats()["rtp_retransmitted"] - before >= len(bob.client.dropped), TIMEOUT)
    frames = bob.client.received("alice", "video")
    await bob.client.wait_for_frames("alice", "video", frames + 10, TIMEOUT)
    assert bob.peer.subscriber.feedback.nacks >= 1
    # both directions went through the inbound fast path
    assert alice.peer.publisher._fast.packets > 0
    assert bob.peer.subscriber._fast.packets > 0
    assert sfu.stats()["decoded_frames"] == 0 and sfu.stats()["encoded_frames"] == 0


async def test_consumer_pause_and_resume(sfu, client_peers):
    router = sfu.router("room-pause")
    alice = await Joined(router, client_peers("alice")).join()
    bob = await Joined(router, client_peers("bob", audio=False, video=False)).join(publish=False)
    await bob.client.wait_for_frames("alice", "video", 5, TIMEOUT)
    track = video_downtrack(bob.peer, "alice")
    producer = track.producer
    starts = track.starts

    assert bob.peer.set_consumer_paused("alice", "camera", True) == 1
    sent, received = track.packets, producer.packets
    await bob.client.wait_until(lambda: producer.packets > received + 30, TIMEOUT)
    assert track.packets == sent  # nothing forwarded to bob while paused
    audio = bob.client.received("alice", "audio")
    await bob.client.wait_for_frames("alice", "audio", audio + 5, TIMEOUT)  # audio still flows

    bob.peer.set_consumer_paused("alice", "camera", False)
    frames = bob.client.received("alice", "video")
    await bob.client.wait_for_frames("alice", "video", frames + 5, TIMEOUT)
    assert track.starts == starts + 1  # restarted (at a keyframe)
    assert not bob.peer.set_consumer_paused_by_producer("no-such-producer", True)


async def test_publisher_rejoining_is_resumed_from_a_keyframe_without_growing_sdp(sfu, client_peers):
    router = sfu.router("room-rejoin")
    alice = await Joined(router, client_peers("alice", video=False)).join()
    bob = await Joined(router, client_peers("bob")).join()
    await alice.client.wait_for_frames("bob", "video", 5, TIMEOUT)
    transceivers = len(alice.peer.subscriber.pc.getTransceivers())
    m_lines = alice.client.subscribe_pc.remoteDescription.sdp.count("\nm=")
    starts = video_downtrack(alice.peer, "bob").starts

    await router.remove_peer("bob")
    await bob.client.close()
    await alice.client.wait_until(lambda: not alice.client.consumers, TIMEOUT)
    frames = alice.client.received("bob", "video")

    bob_again = await Joined(router, client_peers("bob")).join()
    await alice.client.wait_for_frames("bob", "video", frames + 5, TIMEOUT)
    await alice.client.wait_for_frames("bob", "audio", 5, TIMEOUT)
    assert len(alice.peer.subscriber.pc.getTransceivers()) == transceivers
    assert alice.client.subscribe_pc.remoteDescription.sdp.count("\nm=") == m_lines
    assert video_downtrack(alice.peer, "bob").starts == starts + 1
    await bob_again.client.wait_for_frames("alice", "audio", 5, TIMEOUT)


async def test_h264_end_to_end(sfu, client_peers):
    router = sfu.router("room-h264")
    alice = await Joined(router, client_peers("alice", audio=False, video_codec="H264")).join()
    bob = await Joined(router, client_peers("bob", audio=False)).join()  # VP8
    await bob.client.wait_for_frames("alice", "video", 10, TIMEOUT)
    await alice.client.wait_for_frames("bob", "video", 10, TIMEOUT)

    codecs = {p.peer_id: p.codec.mimeType for p in router.producers}
    assert codecs == {"alice": "video/H264", "bob": "video/VP8"}
    # each subscribe transceiver was offered its producer's codec only (plus RTX)
    for member, other, mime in ((bob, "alice", "video/H264"), (alice, "bob", "video/VP8")):
        track = video_downtrack(member.peer, other)
        slot = next(s for s in member.peer.subscriber.slots if s.downtrack is track)
        negotiated = {c.mimeType for c in slot.transceiver._codecs}
        assert negotiated == {mime, "video/rtx"}
    assert sfu.stats()["decoded_frames"] == 0 and sfu.stats()["encoded_frames"] == 0


async def test_audio_levels_make_the_loud_peer_active_speaker(sfu, client_peers):
    events: list[tuple[str, dict]] = []
    router = sfu.router("room-speaker")
    router.set_on_event(lambda kind, data: events.append((kind, data)))
    loud = await Joined(router, client_peers("loud", video=False, audio_level=-10)).join()
    quiet = await Joined(router, client_peers("quiet", video=False, audio_level=-80)).join()
    await quiet.client.wait_for_frames("loud", "audio", 5, TIMEOUT)

    # subscribers are offered the audio-level extension, and get the publisher's level
    levels_seen: list = []
    for transceiver in quiet.client.subscribe_pc.getTransceivers():
        receiver = transceiver.receiver
        original = receiver._handle_rtp_packet

        async def _handle_rtp_packet(packet, arrival_time_ms, _original=original):
            levels_seen.append(packet.extensions.audio_level)
            await _original(packet, arrival_time_ms)

        receiver._handle_rtp_packet = _handle_rtp_packet
    assert "urn:ietf:params:rtp-hdrext:ssrc-audio-level" in quiet.client.subscribe_pc.remoteDescription.sdp

    def speaker() -> str | None:
        found = [data["peer_id"] for kind, data in events if kind == "active_speaker"]
        return found[-1] if found else None

    await quiet.client.wait_until(lambda: speaker() == "loud" and levels_seen, TIMEOUT)
    assert router.active_speaker == "loud"
    assert (False, 10) in levels_seen
    levels = [data for kind, data in events if kind == "audio_levels"]
    assert levels and levels[-1]["loud"] > levels[-1]["quiet"]
    assert all(kind != "active_speaker" or data["peer_id"] == "loud" for kind, data in events)


# abs-send-time toward subscribers, and which codec a publisher sends


async def test_subscribers_receive_abs_send_time_and_estimate_bandwidth_with_it(sfu, client_peers):
    router = sfu.router("room-abs-send-time")
    await Joined(router, client_peers("alice", audio=False)).join()
    bob = await Joined(router, client_peers("bob", audio=False, video=False)).join(publish=False)
    await bob.client.wait_for_frames("alice", "video", 5, TIMEOUT)
    # bob's answer accepted the extension, with the id the SFU writes
    from aiortc import sdp as aiortc_sdp
    answered = {e.uri: e.id for m in aiortc_sdp.SessionDescription.parse(bob.client.subscribe_pc.localDescription.sdp).media
                if m.kind == "video" for e in m.rtp.headerExtensions}
    assert answered.get("http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time") == 3
    track = video_downtrack(bob.peer, "alice")
    assert not track._strip_ext

    # what reaches bob, before aiortc parses it: (send time, bob's clock at arrival) per packet
    from media import rtp
    seen: list[tuple[int, int]] = []
    dtls = bob.client.subscribe_pc.getTransceivers()[0].receiver.transport
    original = dtls._handle_rtp_data

    async def _handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
        if int.from_bytes(data[8:12], "big") == track.ssrc:
            value = rtp.extension_elements(data).get(3)
            seen.append((int.from_bytes(value, "big") if value and len(value) == 3 else -1,
                         rtp.abs_send_time(time.monotonic())))
        await original(data, arrival_time_ms)

    dtls._handle_rtp_data = _handle_rtp_data
    await bob.client.wait_until(lambda: len(seen) >= 50, TIMEOUT)
    assert all(value >= 0 for value, _ in seen), "a forwarded video packet without abs-send-time"
    # plausible: sent (by the SFU, in this process, on the same clock) before it arrived, within
    # the last 5 s; and, in arrival order, never going backwards
    assert all(((arrived - value) & 0xFFFFFF) < 5 * 262144 for value, arrived in seen)
    steps = [(b - a) & 0xFFFFFF for (a, _), (b, _) in zip(seen, seen[1:])]
    assert all(step < 0x800000 for step in steps) and sum(steps) > 0
    # aiortc's receiver estimates bandwidth from abs-send-time only: its REMB reaches the SFU
    await bob.client.wait_until(lambda: track.remb is not None, TIMEOUT)
    assert bob.peer.subscriber.feedback.rembs >= 1


@pytest.mark.parametrize("publisher_order, expected", [(True, "H264"), (False, "VP8")])
async def test_the_publishers_codec_order_chooses_what_it_sends(client_peers, publisher_order, expected):
    from aiortc import RTCRtpSender
    from aiortc import sdp as aiortc_sdp
    sfu = SFU(MediaConfig(
        ice_addresses=["127.0.0.1"], ice_servers=[], allowed_remote_networks=["127.0.0.0/8"],
        publisher_codec_order=publisher_order,
    ))
    try:
        router = sfu.router("room-codec-order")
        client = client_peers("alice", audio=False)
        # a client preferring H.264 (as Safari does, or a browser with sitroom.videoCodec=h264),
        # VP8 still offered after it
        transceiver = client.publish_pc.addTransceiver(client.local_tracks[0][0], direction="sendonly")
        codecs = RTCRtpSender.getCapabilities("video").codecs
        transceiver.setCodecPreferences(sorted(codecs, key=lambda c: c.mimeType != "video/H264"))
        peer = await router.add_peer("alice", on_subscribe_offer=lambda *args: asyncio.sleep(0))
        offer, sources = await client.create_publish_offer()
        answer = await peer.publish(offer, sources)
        video = next(m for m in aiortc_sdp.SessionDescription.parse(answer).media if m.kind == "video")
        names = [c.name for c in video.rtp.codecs if c.name != "rtx"]
        assert names[0] == expected and {"VP8", "H264"} <= set(names)  # the first is what it sends
        assert [p.codec.name for p in router.producers] == [expected]
    finally:
        await asyncio.wait_for(sfu.close(), TIMEOUT)
