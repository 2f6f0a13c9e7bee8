"""Simulcast through the real SFU (issue 14): a publisher sending three VP8 layers (q 160x120,
h 320x240, f 640x480; tests/simulcast_source.py) and aiortc subscribers reading the raw RTP.

- RID demux: one SimulcastProducer for the camera, its three layers' SSRCs learnt from the RID
  extension, their sizes from keyframes.
- A subscriber reporting REMB 250 kbps gets the lowest layer (its DownTrack's ``layer == 0``) and
  keeps >= 95 % of the frames it receives complete; another keeps the top layer; what the SFU
  tells the publisher (REMB) is not pulled down to 250 kbps by the constrained one.
- Across a switch the subscriber sees one stream: sequence numbers without a gap, VP8 PictureIDs
  continuous, frames still decoding (at the new size).
- ``set_video_sizes``: a 160x120 tile gets layer 0, a large one the top layer.
No timing assertions: waits are bounded, what is asserted is state.
"""

from __future__ import annotations

import asyncio

from media.simulcast import SimulcastProducer
from tests.media_helpers import Joined
from tests.media_pools import Member, wait_for
from tests.simulcast_source import SimulcastClient

TIMEOUT = 30
CONSTRAINED = 250_000


def producer_of(joined: Joined):
    producers = [p for p in joined.peer.producers if p.kind == "video"]
    assert len(producers) == 1, producers
    return producers[0]


def downtrack_for(subscriber: Joined, publisher_name: str):
    for consumer in subscriber.peer.subscriber.consumers.values():
        if consumer.producer.peer_id == publisher_name and consumer.producer.kind == "video":
            return consumer.downtrack
    return None


async def received_frames(client: SimulcastClient, publisher: str, count: int, timeout: float = TIMEOUT) -> None:
    await client.wait_until(lambda: (s := client.stream_of(publisher)) is not None and s.complete >= count, timeout)


async def window(client: SimulcastClient, publisher: str, frames: int = 45, timeout: float = TIMEOUT) -> dict:
    """The change in what ``client`` got of ``publisher``'s video over the next ``frames`` frames."""
    stream = client.stream_of(publisher)
    before = stream.snapshot()
    await client.wait_until(lambda: stream.frames >= before["frames"] + frames, timeout)
    after = stream.snapshot()
    return {key: after[key] - before[key] for key in after}


async def test_rid_demux_learns_three_layers_and_their_sizes(sfu):
    router = sfu.router("sim-demux")
    publisher = await Joined(router, SimulcastClient("pub", decode=False)).join()
    viewer = await Joined(router, SimulcastClient("viewer")).join(publish=False)
    try:
        answer = publisher.client.negotiated
        assert answer.simulcast_answered, "no a=simulcast:recv in the publish answer"
        assert answer.answer_rids == ["q", "h", "f"]
        assert answer.rid_id is not None and answer.mid_id is not None
        producer = producer_of(publisher)
        assert isinstance(producer, SimulcastProducer)
        assert [layer.rid for layer in producer.layers] == ["q", "h", "f"]
        assert [layer.index for layer in producer.layers] == [0, 1, 2]
        sent = {s.rid: s.ssrc for s in publisher.client.sender.layers}
        await wait_for(lambda: all(layer.ssrc is not None and layer.width for layer in producer.layers))
        assert {layer.rid: layer.ssrc for layer in producer.layers} == sent
        assert [(layer.width, layer.height) for layer in producer.layers] == [(160, 120), (320, 240), (640, 480)]
        await wait_for(lambda: all(layer.packets > 0 for layer in producer.layers))

        # one subscriber, no preference, no bandwidth limit: the top layer, decodable
        await received_frames(viewer.client, "pub", 30)
        downtrack = downtrack_for(viewer, "pub")
        await wait_for(lambda: downtrack.layer == 2)
        stream = viewer.client.stream_of("pub")
        await viewer.client.wait_until(lambda: stream.size == (640, 480), TIMEOUT)
        assert stream.decode_errors == 0
        assert sfu.stats()["decoded_frames"] == 0 and sfu.stats()["encoded_frames"] == 0
    finally:
        await publisher.client.close()
        await viewer.client.close()


async def test_rtx_ssrcs_learnt_from_the_repaired_rid(sfu):
    """A packet lost on the publisher's link is NACKed by the SFU, comes back on the layer's RTX
    SSRC with the repaired-RID extension, and that SSRC is learnt for that layer."""
    router = sfu.router("sim-rtx")
    publisher = await Joined(router, SimulcastClient("pub", decode=False)).join()
    viewer = await Joined(router, SimulcastClient("viewer", decode=False)).join(publish=False)
    try:
        await received_frames(viewer.client, "pub", 15)
        producer = producer_of(publisher)
        sender = publisher.client.sender
        for index in range(3):
            sender.drop_next(index)
        await wait_for(lambda: all(s.retransmitted >= 1 for s in sender.layers))
        await wait_for(lambda: all(layer.rtx_ssrc is not None for layer in producer.layers))
        assert [layer.rtx_ssrc for layer in producer.layers] == [s.rtx_ssrc for s in sender.layers]
        assert [layer.ssrc for layer in producer.layers] == [s.ssrc for s in sender.layers]
        assert len(sender.dropped) == 3
    finally:
        await publisher.client.close()
        await viewer.client.close()


async def test_constrained_subscriber_gets_the_low_layer_and_the_other_keeps_the_top(sfu):
    router = sfu.router("sim-remb")
    publisher = await Joined(router, SimulcastClient("pub", decode=False)).join()
    slow = await Joined(router, SimulcastClient("slow")).join(publish=False)
    fast = await Joined(router, SimulcastClient("fast")).join(publish=False)
    try:
        for sub in (slow, fast):
            await received_frames(sub.client, "pub", 30)
        slow_track, fast_track = downtrack_for(slow, "pub"), downtrack_for(fast, "pub")
        await wait_for(lambda: slow_track.layer == 2 and fast_track.layer == 2)
        slow_stream = slow.client.stream_of("pub")
        await slow.client.wait_until(lambda: slow_stream.size == (640, 480), TIMEOUT)
        switches = slow_track.switches

        # the slow link: REMB 250 kbps, repeated (as a browser sends it)
        sender = publisher.client.sender
        rembs_before = len(sender.remb)
        slow.client.keep_sending_remb(CONSTRAINED, 0.25)
        fast.client.keep_sending_remb(5_000_000, 0.5)
        await wait_for(lambda: slow_track.layer == 0)
        assert slow_track.target_layer == 0
        assert slow_track.switches > switches
        await slow.client.wait_until(lambda: slow_stream.size == (160, 120), TIMEOUT)

        # on the low layer: >= 95 % of the frames received are complete, and they decode
        got = await window(slow.client, "pub", 60)
        assert got["complete"] >= 0.95 * got["frames"], got
        assert got["decoded"] >= 0.95 * got["frames"] and got["decode_errors"] == 0, got
        assert slow_track.layer == 0

        # one stream to the subscriber across the switch: no sequence gap, PictureIDs continuous
        assert slow_stream.seq_gaps == 0 and slow_stream.seq_backwards == 0
        assert slow_stream.pid_jumps == 0
        assert slow_stream.ts_backwards == 0
        assert slow_stream.decode_errors == 0
        assert [size for _, size in slow_stream.sizes][-2:] == [(640, 480), (160, 120)]

        # the other subscriber keeps the top layer, whole
        assert fast_track.layer == 2
        fast_stream = fast.client.stream_of("pub")
        got = await window(fast.client, "pub", 45)
        assert got["complete"] >= 0.95 * got["frames"], got
        assert fast_stream.size == (640, 480) and fast_stream.seq_gaps == 0 and fast_stream.pid_jumps == 0

        # what the publisher is told (REMB caps its whole estimate) is never pulled down to the
        # slow link's 250 kbps: the SFU serves that link from the low layer instead
        await wait_for(lambda: len(sender.remb) >= rembs_before + 2, 15)
        since = [bitrate for _, bitrate, _ in sender.remb[rembs_before:]]
        assert min(since) > 2 * CONSTRAINED, since

        # the link recovers: back to the top layer, still one continuous stream
        slow.client.keep_sending_remb(5_000_000, 0.25)
        await wait_for(lambda: slow_track.layer == 2)
        await slow.client.wait_until(lambda: slow_stream.size == (640, 480), TIMEOUT)
        await window(slow.client, "pub", 15)
        assert slow_stream.seq_gaps == 0 and slow_stream.pid_jumps == 0 and slow_stream.decode_errors == 0
    finally:
        for member in (publisher, slow, fast):
            await member.client.close()


async def test_video_sizes_pick_the_layer(sfu):
    router = sfu.router("sim-sizes")
    publisher = await Joined(router, SimulcastClient("pub", decode=False)).join()
    viewer = await Joined(router, SimulcastClient("viewer")).join(publish=False)
    try:
        await received_frames(viewer.client, "pub", 15)
        downtrack = downtrack_for(viewer, "pub")
        stream = viewer.client.stream_of("pub")

        viewer.peer.set_video_sizes([{"participant_id": "pub", "source": "camera", "width": 160, "height": 120}])
        await wait_for(lambda: downtrack.layer == 0)
        await viewer.client.wait_until(lambda: stream.size == (160, 120), TIMEOUT)

        viewer.peer.set_video_sizes([{"participant_id": "pub", "source": "camera", "width": 1280, "height": 960}])
        await wait_for(lambda: downtrack.layer == 2)
        await viewer.client.wait_until(lambda: stream.size == (640, 480), TIMEOUT)
        got = await window(viewer.client, "pub", 30)
        assert got["complete"] >= 0.95 * got["frames"], got
        assert stream.seq_gaps == 0 and stream.pid_jumps == 0 and stream.decode_errors == 0
    finally:
        await publisher.client.close()
        await viewer.client.close()


async def test_simulcast_through_a_media_worker(worker_pools):
    """The same through a media worker process (MediaService API): sizes from the subscriber,
    REMB on its connection, the layers seen in what it decodes and in ``consumer_layers``."""
    pool = await worker_pools(1)
    events: list[tuple[str, dict]] = []
    router = await pool.open_router("sim-worker", lambda kind, data: events.append((kind, data)))
    publisher = await Member(router, SimulcastClient("pub", decode=False)).join()
    viewer = await Member(router, SimulcastClient("viewer")).join(publish=False)
    try:
        await received_frames(viewer.client, "pub", 30)
        stream = viewer.client.stream_of("pub")
        await viewer.client.wait_until(lambda: stream.size == (640, 480), TIMEOUT)

        await viewer.peer.set_video_sizes([{"participant_id": "pub", "source": "camera", "width": 160, "height": 120}])
        await viewer.client.wait_until(lambda: stream.size == (160, 120), TIMEOUT)

        await viewer.peer.set_video_sizes([])
        await viewer.client.wait_until(lambda: stream.size == (640, 480), TIMEOUT)
        viewer.client.keep_sending_remb(CONSTRAINED, 0.25)
        await viewer.client.wait_until(lambda: stream.size == (160, 120), TIMEOUT)
        got = await window(viewer.client, "pub", 45)
        assert got["complete"] >= 0.95 * got["frames"], got
        assert stream.seq_gaps == 0 and stream.pid_jumps == 0 and stream.decode_errors == 0

        layers = [v for kind, data in events if kind == "consumer_layers" and data.get("peer_id") == "viewer"
                  for v in data["videos"] if v.get("participant_id") == "pub"]
        assert layers and layers[-1]["layers"] == 3 and layers[-1]["layer"] == 0, layers[-3:]
    finally:
        await publisher.client.close()
        await viewer.client.close()


async def paused_for_bandwidth(sfu, room: str):
    """A publisher and a subscriber whose REMB (100 kbps) cannot take even the lowest layer."""
    router = sfu.router(room)
    publisher = await Joined(router, SimulcastClient("pub", decode=False)).join()
    viewer = await Joined(router, SimulcastClient("viewer")).join(publish=False)
    await received_frames(viewer.client, "pub", 15)
    consumer = next(c for c in viewer.peer.subscriber.consumers.values() if c.producer.kind == "video")
    viewer.client.keep_sending_remb(5_000_000, 0.25)
    await wait_for(lambda: consumer.downtrack.layer == 2)
    viewer.client.keep_sending_remb(100_000, 0.25)
    await wait_for(lambda: consumer.bandwidth_paused)
    return publisher, viewer, consumer


async def test_a_link_too_short_for_the_lowest_layer_pauses_the_video_and_it_resumes(sfu):
    publisher, viewer, consumer = await paused_for_bandwidth(sfu, "sim-paused")
    try:
        stream = viewer.client.stream_of("pub")
        videos = viewer.peer.subscriber.describe_layers()
        assert [(v["layer"], v["paused"]) for v in videos] == [(None, "bandwidth")]
        packets = stream.packets
        await asyncio.sleep(1.0)  # a state check after a pause, not a timing assertion
        assert stream.packets - packets <= 2  # a packet in flight at most

        viewer.client.keep_sending_remb(5_000_000, 0.25)
        await wait_for(lambda: not consumer.bandwidth_paused)
        await window(viewer.client, "pub", 15)
        assert stream.seq_gaps == 0 and stream.decode_errors == 0
    finally:
        await publisher.client.close()
        await viewer.client.close()


async def test_a_downtrack_paused_for_bandwidth_targets_no_layer(sfu):
    publisher, viewer, consumer = await paused_for_bandwidth(sfu, "sim-paused-target")
    try:
        assert consumer.downtrack.target_layer == -1
        assert consumer.downtrack.layer == -1
    finally:
        await publisher.client.close()
        await viewer.client.close()
