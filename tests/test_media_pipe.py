"""A router extended to another router over plain RTP on 127.0.0.1 (media/pipe.py).

Two SFU instances in one process stand for two worker processes: they share nothing but UDP
datagrams on 127.0.0.1 and the JSON descriptions the test passes between them (what would be
control messages)."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from media import SFU, MediaConfig
from tests.media_helpers import ClientPeer, Joined

TIMEOUT = 30


def make_sfu() -> SFU:
    return SFU(MediaConfig(ice_addresses=["127.0.0.1"], allowed_remote_networks=["127.0.0.1/32"]))


def over_the_wire(data: dict) -> dict:
    """What a control channel would carry: JSON."""
    return json.loads(json.dumps(data))


class Piped:
    """alice publishes on router A (SFU a), bob subscribes on router B (SFU b); alice's
    producers are piped from A to B."""

    def __init__(self) -> None:
        self.sfu_a = make_sfu()
        self.sfu_b = make_sfu()
        self.events_b: list[tuple[str, dict]] = []
        self.router_a = self.sfu_a.router("room")
        self.router_b = self.sfu_b.router("room", on_event=lambda kind, data: self.events_b.append((kind, data)))
        self.clients: list[ClientPeer] = []
        self.pipe_a = self.pipe_b = None
        self.remote: dict = {}  # kind -> the piped producer on B
        self.source: dict = {}  # kind -> alice's producer on A

    async def start(self, **alice_options) -> "Piped":
        self.alice = await Joined(self.router_a, self.client("alice", **alice_options)).join()
        self.bob = await Joined(self.router_b, self.client("bob", audio=False, video=False)).join(publish=False)
        # the pipe: each side opens a socket, the addresses cross as control messages
        self.pipe_a = await self.router_a.create_pipe_transport()
        self.pipe_b = await self.router_b.create_pipe_transport()
        address_a, address_b = over_the_wire(self.pipe_a.describe()), over_the_wire(self.pipe_b.describe())
        assert address_a["host"] == address_b["host"] == "127.0.0.1"
        self.pipe_a.connect(address_b["host"], address_b["port"])
        self.pipe_b.connect(address_a["host"], address_a["port"])
        for producer in self.alice.peer.producers:
            description = over_the_wire(self.router_a.pipe_producer(producer.id, self.pipe_a))
            assert description["id"] == producer.id and description["peer_id"] == "alice"
            assert description["ssrc"] == producer.ssrc and description["kind"] == producer.kind
            self.source[producer.kind] = producer
            self.remote[producer.kind] = self.router_b.add_pipe_producer(description, self.pipe_b)
        return self

    def client(self, name: str, **options) -> ClientPeer:
        client = ClientPeer(name, **options)
        self.clients.append(client)
        return client

    def output(self, kind: str):
        (output,) = self.source[kind].pipes
        return output

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)
        await self.sfu_a.close()
        await self.sfu_b.close()


@pytest.fixture
async def piped():
    made: list[Piped] = []

    async def make(**alice_options) -> Piped:
        setup = Piped()
        made.append(setup)
        return await asyncio.wait_for(setup.start(**alice_options), TIMEOUT)

    yield make
    for setup in made:
        await asyncio.wait_for(setup.close(), TIMEOUT)


async def eventually(predicate, timeout: float = TIMEOUT, poll: float = 0.05) -> None:
    async def loop() -> None:
        while not predicate():
            await asyncio.sleep(poll)
    await asyncio.wait_for(loop(), timeout)


async def test_subscriber_on_another_router_decodes_the_piped_publisher(piped):
    setup = await piped()
    bob = setup.bob.client
    await bob.wait_for_frames("alice", "video", 15, TIMEOUT)
    await bob.wait_for_frames("alice", "audio", 15, TIMEOUT)

    # B's subscriber consumes the piped producers like local ones, under the source's ids
    consumers = setup.bob.consumers()
    assert {(c["participant_id"], c["kind"], c["producer_id"]) for c in consumers} == {
        ("alice", kind, setup.source[kind].id) for kind in ("audio", "video")}
    added = [data for kind, data in setup.events_b if kind == "producer_added"]
    assert {d["id"] for d in added} == {setup.source["audio"].id, setup.source["video"].id}
    assert all(d["peer_id"] == "alice" for d in added)

    # packets crossed the pipe only: A forwards to nobody locally, B got them from its socket
    assert setup.output("video").packets > 0 and setup.output("audio").packets > 0
    assert setup.pipe_b.rtp_in > 0 and setup.pipe_b.foreign == 0
    assert setup.remote["video"].keyframes > 0
    assert not setup.source["video"].downtracks
    for sfu in (setup.sfu_a, setup.sfu_b):
        assert sfu.stats()["decoded_frames"] == 0 and sfu.stats()["encoded_frames"] == 0
    assert setup.sfu_b.stats()["producers"] == 2 and setup.sfu_b.stats()["consumers"] == 2

    # the publisher's sender reports cross (for lip sync at B's subscribers), and B's REMB
    # counts at A as one more consumer's estimate
    await eventually(lambda: setup.remote["video"].sr_ntp is not None and setup.remote["audio"].sr_ntp is not None)
    await eventually(lambda: setup.output("video").remb is not None)
    assert setup.remote["video"].rtp_timestamp_at(setup.remote["video"].sr_ntp) == setup.remote["video"].sr_rtp


async def test_keyframe_request_from_the_far_subscriber_reaches_the_publisher(piped):
    setup = await piped(audio=False)
    setup.alice.client.count_keyframe_requests()
    bob = setup.bob.client
    await bob.wait_for_frames("alice", "video", 10, TIMEOUT)
    output = setup.output("video")
    producer = setup.source["video"]
    before = (output.keyframe_requests, producer.keyframe_requests, setup.alice.client.keyframe_requests)

    async def ask() -> None:
        while True:
            await bob.send_pli("alice")
            await asyncio.sleep(0.5)

    asker = asyncio.ensure_future(ask())
    try:
        await eventually(lambda: output.keyframe_requests > before[0]
                         and producer.keyframe_requests > before[1]
                         and setup.alice.client.keyframe_requests > before[2])
    finally:
        asker.cancel()
        await asyncio.gather(asker, return_exceptions=True)
    # the PLI crossed the pipe as RTCP: B's producer sent it, A's pipe end took it
    assert setup.remote["video"].keyframe_requests > 0
    assert setup.pipe_a.rtcp_in > 0


def drop_on_the_pipe(setup: Piped, every: int = 10, limit: int = 5) -> set[int]:
    """Drop every ``every``-th video packet A sends on the pipe (``limit`` of them; their
    retransmissions pass); returns the set of dropped sequence numbers, filled as it goes."""
    ssrc = setup.source["video"].ssrc
    dropped: set[int] = set()
    count = [0]

    def keep(data: bytes) -> bool:
        if 192 <= data[1] <= 223 or int.from_bytes(data[8:12], "big") != ssrc:
            return True  # RTCP, audio
        seq = int.from_bytes(data[2:4], "big")
        if seq in dropped:
            return True  # the retransmission
        count[0] += 1
        if count[0] % every == 0 and len(dropped) < limit:
            dropped.add(seq)
            return False
        return True

    setup.pipe_a.set_send_filter(keep)
    return dropped


async def test_packets_lost_on_the_pipe_are_nacked_and_resent_by_the_source(piped):
    setup = await piped(audio=False)
    bob = setup.bob.client
    await bob.wait_for_frames("alice", "video", 10, TIMEOUT)
    dropped = drop_on_the_pipe(setup)
    await eventually(lambda: len(dropped) == 5)
    remote = setup.remote["video"]
    output = setup.output("video")
    # B's producer saw the gaps and NACKed them over the pipe; A resent from its pipe cache
    await eventually(lambda: output.retransmitted >= 5 and remote.nack.pending == 0)
    assert remote.nacked >= 5
    assert output.retransmit_missing == 0
    frames = bob.received("alice", "video")
    await bob.wait_for_frames("alice", "video", frames + 15, TIMEOUT)
    setup.pipe_a.set_send_filter(None)


async def test_subscriber_nack_missing_at_the_destination_is_passed_over_the_pipe(piped):
    setup = await piped(audio=False)
    bob = setup.bob.client
    await bob.wait_for_frames("alice", "video", 10, TIMEOUT)
    remote = setup.remote["video"]
    remote.nack = None  # B's own loss detection off: only bob's NACKs can ask for the losses
    downtrack = next(iter(remote.downtracks))
    dropped = drop_on_the_pipe(setup)
    await eventually(lambda: len(dropped) == 5)
    output = setup.output("video")
    # bob NACKed them, B's cache lacked them, B asked A over the pipe, A resent, B forwarded
    await eventually(lambda: output.retransmitted >= 5)
    assert downtrack.retransmit_missing >= 5 and remote.nacked >= 5
    frames = bob.received("alice", "video")
    await bob.wait_for_frames("alice", "video", frames + 15, TIMEOUT)


async def test_audio_levels_crossing_the_pipe_make_the_remote_publisher_speaker(piped):
    setup = await piped(video=False, audio_level=-10)
    await setup.bob.client.wait_for_frames("alice", "audio", 5, TIMEOUT)

    def speaker():
        found = [data["peer_id"] for kind, data in setup.events_b if kind == "active_speaker"]
        return found[-1] if found else None

    await eventually(lambda: speaker() == "alice")
    assert setup.router_b.active_speaker == "alice"
    levels = [data for kind, data in setup.events_b if kind == "audio_levels"]
    assert levels and levels[-1].get("alice", 0) > 0


async def test_closing_the_pipe_producer_removes_the_consumer(piped):
    setup = await piped()
    bob = setup.bob.client
    await bob.wait_for_frames("alice", "video", 5, TIMEOUT)
    video = setup.source["video"]
    output = setup.output("video")

    assert setup.router_b.close_pipe_producer(video.id)
    await eventually(lambda: setup.bob.consumers()
                     and all(c["producer_id"] != video.id for c in setup.bob.consumers()))
    assert [c["kind"] for c in setup.bob.consumers()] == ["audio"]
    removed = [data["id"] for kind, data in setup.events_b if kind == "producer_removed"]
    assert removed == [video.id]
    assert not setup.router_b.close_pipe_producer(video.id)

    # told so, the source stops sending it; audio goes on
    assert setup.router_a.unpipe_producer(video.id, setup.pipe_a)
    assert video.pipes == () and output.closed and video.ssrc not in setup.pipe_a.outbound
    sent = output.packets
    audio = setup.output("audio").packets
    await eventually(lambda: setup.output("audio").packets > audio + 10)
    assert output.packets == sent
    assert setup.sfu_b.stats()["producers"] == 1

    # closing B's end of the pipe ends what it fed there
    setup.router_b.close_pipe_transport(setup.pipe_b)
    assert setup.pipe_b.closed and not setup.router_b.pipe_producers
    await eventually(lambda: setup.bob.consumers() == [])
    assert setup.sfu_b.stats()["producers"] == 0


async def test_a_server_enforced_mute_stops_the_pipe_and_resumes_at_a_keyframe(piped):
    setup = await piped(audio=False)
    bob = setup.bob.client
    await bob.wait_for_frames("alice", "video", 5, TIMEOUT)
    video = setup.source["video"]
    output = setup.output("video")
    setup.alice.peer.set_paused("camera", True)
    setup.router_b.set_pipe_producer_paused(video.id, True)  # the control message
    sent = output.packets
    await asyncio.sleep(0.5)
    assert output.packets == sent  # muted media does not leave A
    (downtrack,) = setup.remote["video"].downtracks
    starts = downtrack.starts
    setup.alice.peer.set_paused("camera", False)
    setup.router_b.set_pipe_producer_paused(video.id, False)
    frames = bob.received("alice", "video")
    await bob.wait_for_frames("alice", "video", frames + 10, TIMEOUT)
    assert downtrack.starts == starts + 1  # B's consumer restarted at a keyframe


async def test_one_pipe_carries_both_directions(piped):
    setup = await piped(audio=False)
    # carol publishes on B; her microphone goes to A over the same pair of transports
    carol = await Joined(setup.router_b, setup.client("carol", video=False)).join()
    (microphone,) = carol.peer.producers
    description = over_the_wire(setup.router_b.pipe_producer(microphone.id, setup.pipe_b))
    setup.router_a.add_pipe_producer(description, setup.pipe_a)
    await setup.alice.client.wait_for_frames("carol", "audio", 10, TIMEOUT)
    await setup.bob.client.wait_for_frames("carol", "audio", 10, TIMEOUT)  # bob: locally
    await setup.bob.client.wait_for_frames("alice", "video", 10, TIMEOUT)  # bob: piped
    # alice's video is not piped back to A (it is A's own); a producer cannot be piped in twice
    with pytest.raises(ValueError):
        setup.router_a.add_pipe_producer(over_the_wire(
            setup.router_b.pipe_producer(setup.source["video"].id, setup.pipe_b)), setup.pipe_a)
    setup.router_b.unpipe_producer(setup.source["video"].id, setup.pipe_b)
    assert setup.remote["video"].pipes == ()


async def test_when_the_publisher_leaves_the_source_stops_sending(piped):
    setup = await piped(audio=False)
    events_a: list[tuple[str, dict]] = []
    setup.router_a.set_on_event(lambda kind, data: events_a.append((kind, data)))
    await setup.bob.client.wait_for_frames("alice", "video", 5, TIMEOUT)
    output = setup.output("video")
    await setup.router_a.remove_peer("alice")
    assert output.closed and not setup.pipe_a.outbound
    # what the control layer would carry: A's producer_removed becomes B's close_pipe_producer
    removed = [data["id"] for kind, data in events_a if kind == "producer_removed"]
    assert removed == [setup.source["video"].id]
    assert setup.router_b.close_pipe_producer(removed[0])
    await eventually(lambda: setup.bob.consumers() == [] and len(setup.bob.offers) >= 2)
    # router A, now empty, left its SFU and closed its end of the pipe
    assert "room" not in setup.sfu_a.routers and setup.pipe_a.closed


async def test_datagrams_from_another_address_are_dropped(piped):
    setup = await piped(audio=False)
    await setup.bob.client.wait_for_frames("alice", "video", 5, TIMEOUT)
    output = setup.output("video")
    remote = setup.remote["video"]
    # a stranger sends B's pipe end a packet of alice's stream, and A's pipe end a PLI and a NACK
    packet = bytes([0x80, 96, 0, 1]) + bytes(4) + remote.ssrc.to_bytes(4, "big") + b"\x10\x00" * 10
    pli = bytes([0x81, 206, 0, 2]) + bytes(4) + remote.ssrc.to_bytes(4, "big")
    nack = bytes([0x81, 205, 0, 3]) + bytes(4) + remote.ssrc.to_bytes(4, "big") + bytes(4)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        stranger.bind(("127.0.0.1", 0))
        for _ in range(5):
            stranger.sendto(packet, tuple(setup.pipe_b.local_address))
            stranger.sendto(pli, tuple(setup.pipe_a.local_address))
            stranger.sendto(nack, tuple(setup.pipe_a.local_address))
    await eventually(lambda: setup.pipe_b.foreign >= 5 and setup.pipe_a.foreign >= 10)
    assert output.retransmit_missing == 0
    assert setup.pipe_b.rtp_unknown == 0
