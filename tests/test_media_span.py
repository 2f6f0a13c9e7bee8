"""One room larger than one media worker (media/workers.py): its router has a leg on each worker
its peers were placed on, legs joined by pipes (media/pipe.py) in the workers, driven over the
control channel (media/worker.py); real aiortc client peers over 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import signal
import pytest

from media import WorkerLost, WorkerPool
from tests.media_pools import TIMEOUT, Member, wait_for


def record_requests(worker) -> list:
    """(method, producer_id, paused, result) of the pool's requests to ``worker`` from now on."""
    calls: list = []
    original = worker.request

    async def request(method, params, timeout=None):
        result = await original(method, params, timeout)
        calls.append((method, params.get("producer_id"), params.get("paused"), result))
        return result

    worker.request = request
    return calls


class Room:
    def __init__(self, pool: WorkerPool, name: str = "room") -> None:
        self.pool = pool
        self.name = name
        self.events: list[tuple[str, dict]] = []
        self.router = None

    async def open(self) -> "Room":
        self.router = await asyncio.wait_for(
            self.pool.open_router(self.name, lambda kind, data: self.events.append((kind, data))), TIMEOUT)
        return self

    def of(self, kind: str) -> list[dict]:
        return [data for k, data in self.events if k == kind]

    async def worker_stats(self) -> list[dict]:
        return (await asyncio.wait_for(self.pool.stats(), TIMEOUT))["workers"]


async def spanned(worker_pools, client_peers, *, alice: dict | None = None, bob_publishes: bool = False, bob: dict | None = None):
    """alice publishes on the room's home worker; bob (a viewer unless ``bob_publishes``) is
    placed on the other worker (span_peers=1)."""
    pool = await worker_pools(2, span_peers=1)
    room = await Room(pool).open()
    a = await Member(room.router, client_peers("alice", **(alice or {}))).join()
    b = await Member(room.router, client_peers("bob", **(bob or {"audio": False, "video": False}))).join(
        publish=bob_publishes)
    return pool, room, a, b


async def test_a_room_spans_two_workers_and_media_crosses_the_pipe(worker_pools, client_peers):
    pool, room, alice, bob = await spanned(worker_pools, client_peers)
    router = room.router
    home = router.worker
    assert alice.peer.worker == home and router.worker_of("alice") == home
    assert bob.peer.worker != home and router.worker_of("bob") == bob.peer.worker
    assert alice.peer.pid != bob.peer.pid and {alice.peer.pid, bob.peer.pid} == set(pool.pids)

    await bob.client.wait_for_frames("alice", "video", 10, TIMEOUT)
    await bob.client.wait_for_frames("alice", "audio", 10, TIMEOUT)

    # one room's events: each real producer reported once (not again for its piped copy),
    # each peer once
    added = room.of("producer_added")
    assert sorted((d["peer_id"], d["kind"]) for d in added) == [("alice", "audio"), ("alice", "video")]
    assert [d["peer_id"] for d in room.of("peer_added")] == ["alice", "bob"]

    # each worker holds a leg of the room (a router) and its own peers
    workers = await room.worker_stats()
    assert [w["rooms"] for w in workers] == [1, 1]
    assert workers[home]["peers"] == 1 and workers[bob.peer.worker]["peers"] == 1
    stats = await pool.stats()
    assert stats["peers"] == 2 and stats["routers"] == 2
    assert stats["producers"] == 4  # alice's two and their copies on bob's leg
    assert stats["decoded_frames"] == 0 and stats["encoded_frames"] == 0

    # bob's keyframe request crosses the pipe back to alice
    alice.client.count_keyframe_requests()
    before = alice.client.keyframe_requests

    async def ask() -> None:
        while True:
            await bob.client.send_pli("alice")
            await asyncio.sleep(0.3)

    asker = asyncio.ensure_future(ask())
    try:
        await wait_for(lambda: alice.client.keyframe_requests > before)
    finally:
        asker.cancel()
        await asyncio.gather(asker, return_exceptions=True)
    (entry,) = (await room.router.pipe_stats()).values()
    assert entry["workers"] == [0, 1]
    assert entry[home]["keyframe_requests"] > 0  # the PLI came over the pipe, as RTCP
    assert entry[home]["outbound"] == 2 and entry[bob.peer.worker]["inbound"] == 2


async def test_publishers_on_both_legs_receive_each_other(worker_pools, client_peers):
    pool, room, alice, bob = await spanned(
        worker_pools, client_peers, alice={"audio": False}, bob_publishes=True, bob={"audio": True, "video": True})
    assert alice.peer.worker != bob.peer.worker
    await alice.client.wait_for_frames("bob", "video", 10, TIMEOUT)
    await alice.client.wait_for_frames("bob", "audio", 10, TIMEOUT)
    await bob.client.wait_for_frames("alice", "video", 10, TIMEOUT)
    added = room.of("producer_added")
    assert sorted((d["peer_id"], d["kind"]) for d in added) == [("alice", "video"), ("bob", "audio"), ("bob", "video")]
    # a subscriber-side pause on a leg works for a producer of the other leg
    assert await asyncio.wait_for(alice.peer.set_consumer_paused("bob", "camera", True), TIMEOUT) == 1
    assert await asyncio.wait_for(bob.peer.set_consumer_paused("alice", "camera", True), TIMEOUT) == 1
    assert await asyncio.wait_for(bob.peer.set_consumer_paused("alice", "camera", False), TIMEOUT) == 1
    frames = bob.client.received("alice", "video")
    await bob.client.wait_for_frames("alice", "video", frames + 5, TIMEOUT)
    # the room is over: every leg (router) and pipe goes, on both workers
    await asyncio.wait_for(room.router.close(), TIMEOUT)
    stats = await pool.stats()
    assert stats["routers"] == 0 and stats["peers"] == 0 and stats["producers"] == 0
    assert [w["rooms"] for w in stats["workers"]] == [0, 0]


async def test_the_active_speaker_may_be_on_the_other_leg(worker_pools, client_peers):
    pool, room, alice, bob = await spanned(
        worker_pools, client_peers, alice={"video": False, "audio_level": -127}, bob_publishes=True,
        bob={"video": False, "audio_level": -10})
    assert bob.peer.worker != room.router.worker
    await alice.client.wait_for_frames("bob", "audio", 5, TIMEOUT)

    def speaker():
        found = room.of("active_speaker")
        return found[-1]["peer_id"] if found else None

    await wait_for(speaker)
    await wait_for(lambda: speaker() == "bob")
    levels = room.of("audio_levels")
    assert levels and levels[-1].get("bob", 0) > 0
    # only the home leg speaks for the room: no event names alice as speaker, levels carry both
    assert all(d["peer_id"] in ("bob", None) for d in room.of("active_speaker"))
    assert {"alice", "bob"} <= set(levels[-1])


async def test_a_server_enforced_mute_reaches_the_other_leg(worker_pools, client_peers):
    pool, room, alice, bob = await spanned(worker_pools, client_peers, alice={"audio": False})
    await bob.client.wait_for_frames("alice", "video", 5, TIMEOUT)
    far = pool.workers[bob.peer.worker]
    calls = record_requests(far)
    await asyncio.wait_for(alice.peer.set_paused("camera", True), TIMEOUT)
    # the piped copy on bob's leg was paused too (its consumers restart at a keyframe on resume)
    (video,) = [d["id"] for d in room.of("producer_added") if d["kind"] == "video"]
    assert ("set_pipe_producer_paused", video, True, True) in calls
    # what was on its way arrives, then nothing more
    await asyncio.sleep(1.0)
    frames = bob.client.received("alice", "video")
    packets = (await pool.stats())["workers"][bob.peer.worker]["rtp_packets_out"]
    await asyncio.sleep(1.0)
    assert bob.client.received("alice", "video") == frames
    assert (await pool.stats())["workers"][bob.peer.worker]["rtp_packets_out"] == packets
    await asyncio.wait_for(alice.peer.set_paused("camera", False), TIMEOUT)
    assert ("set_pipe_producer_paused", video, False, True) in calls
    await bob.client.wait_for_frames("alice", "video", frames + 10, TIMEOUT)


async def test_the_publisher_leaving_removes_the_far_consumer(worker_pools, client_peers):
    pool, room, alice, bob = await spanned(worker_pools, client_peers)
    await bob.client.wait_for_frames("alice", "video", 5, TIMEOUT)
    assert {c["participant_id"] for c in bob.client.consumers.values()} == {"alice"}
    ids = {d["id"] for d in room.of("producer_added")}
    await asyncio.wait_for(room.router.remove_peer("alice"), TIMEOUT)
    await wait_for(lambda: not bob.client.consumers)
    removed = [d["id"] for d in room.of("producer_removed")]
    assert sorted(removed) == sorted(ids)  # once each
    assert [d["peer_id"] for d in room.of("peer_removed")] == ["alice"]
    stats = await pool.stats()
    assert stats["producers"] == 0 and stats["peers"] == 1
    # bob leaves too: every leg and pipe goes
    await asyncio.wait_for(room.router.remove_peer("bob"), TIMEOUT)
    assert list(room.router.legs) == [room.router.worker]

    async def routers() -> int:
        return (await pool.stats())["routers"]

    for _ in range(100):
        if await routers() == 0:
            break
        await asyncio.sleep(0.05)
    assert await routers() == 0
    assert len(room.of("producer_removed")) == 2


async def test_placement_by_cpu(worker_pools, client_peers):
    pool = await worker_pools(2)
    assert pool.config.span_cpu == 70.0 and pool.config.span_cpu_publishers == 85.0
    assert pool.config.span_peers is None
    room = await Room(pool).open()
    router = room.router
    home = pool.workers[router.worker]
    other = next(w for w in pool.workers if w is not home)
    # unit level: the placement function
    home.cpu_override = home.cpu_pct = 10.0
    assert pool._place_peer(router, publisher=False) is home
    assert pool._place_peer(router, publisher=True) is home
    home.cpu_override = home.cpu_pct = 80.0
    assert pool._place_peer(router, publisher=False) is other
    assert pool._place_peer(router, publisher=True) is home
    home.cpu_override = home.cpu_pct = 90.0
    assert pool._place_peer(router, publisher=True) is other
    other.cpu_override = other.cpu_pct = 95.0  # busier still: no gain in going there
    assert pool._place_peer(router, publisher=False) is home
    other.cpu_override = other.cpu_pct = 0.0
    # through add_peer, with the home worker's load above span_cpu only
    home.cpu_override = home.cpu_pct = 80.0
    publisher = await Member(router, client_peers("pub", audio=False)).join()
    viewer = await Member(router, client_peers("viewer", audio=False, video=False)).join(publish=False)
    assert publisher.peer.worker == home.index and viewer.peer.worker == other.index
    await viewer.client.wait_for_frames("pub", "video", 5, TIMEOUT)
    # a peer stays where it was placed, whatever the load says now
    home.cpu_override = home.cpu_pct = 0.0
    again = await Member(router, client_peers("viewer", audio=False, video=False)).join(publish=False)
    assert again.peer.worker == other.index


async def test_killing_the_far_worker_loses_the_room(worker_pools, client_peers):
    pool, room, alice, bob = await spanned(worker_pools, client_peers, alice={"audio": False})
    lost = asyncio.get_running_loop().create_future()

    async def on_worker_lost(index: int, rooms: list) -> None:
        if not lost.done():
            lost.set_result((index, rooms))

    pool.on_worker_lost = on_worker_lost
    await bob.client.wait_for_frames("alice", "video", 5, TIMEOUT)
    far = bob.peer.worker
    pid = pool.pids[far]
    os.kill(pid, signal.SIGKILL)
    assert await asyncio.wait_for(lost, 10) == (far, ["room"])
    # the old handles fail at once, even for a peer on the surviving worker
    with pytest.raises(WorkerLost):
        await asyncio.wait_for(alice.peer.set_paused("camera", True), 5)
    # the room's leg on the home worker is closed too: nothing dangles
    home = room.router.worker

    async def home_rooms() -> int:
        return (await pool.stats())["workers"][home]["rooms"]

    for _ in range(100):
        if await home_rooms() == 0:
            break
        await asyncio.sleep(0.05)
    assert await home_rooms() == 0
    # the room opens again as new
    reopened = await asyncio.wait_for(pool.open_router("room", None), TIMEOUT)
    assert reopened is not room.router


async def test_three_legs_are_piped_pairwise(worker_pools, client_peers):
    pool = await worker_pools(3, span_peers=1)
    room = await Room(pool).open()
    alice = await Member(room.router, client_peers("alice", audio=False)).join()
    bob = await Member(room.router, client_peers("bob", audio=False, video=False)).join(publish=False)
    carol = await Member(room.router, client_peers("carol", audio=False)).join()
    assert len({alice.peer.worker, bob.peer.worker, carol.peer.worker}) == 3
    assert sorted(room.router.legs) == [0, 1, 2] and len(room.router._pipes) == 3
    # bob (a third worker) gets carol's video over the pipe between the two far legs
    await bob.client.wait_for_frames("carol", "video", 5, TIMEOUT)
    await bob.client.wait_for_frames("alice", "video", 5, TIMEOUT)
    await alice.client.wait_for_frames("carol", "video", 5, TIMEOUT)
    await carol.client.wait_for_frames("alice", "video", 5, TIMEOUT)
    added = room.of("producer_added")
    assert sorted(d["peer_id"] for d in added) == ["alice", "carol"]
    workers = await room.worker_stats()
    assert [w["rooms"] for w in workers] == [1, 1, 1] and [w["peers"] for w in workers] == [1, 1, 1]
    # carol leaves: her leg closes, with its two pipes
    await asyncio.wait_for(room.router.remove_peer("carol"), TIMEOUT)
    assert carol.peer.worker not in room.router.legs and len(room.router._pipes) == 1
    await wait_for(lambda: {c["participant_id"] for c in bob.client.consumers.values()} == {"alice"})
    assert sorted(d["peer_id"] for d in room.of("producer_removed")) == ["carol"]
    workers = await room.worker_stats()
    assert workers[carol.peer.worker]["rooms"] == 0
    frames = bob.client.received("alice", "video")
    await bob.client.wait_for_frames("alice", "video", frames + 5, TIMEOUT)


async def test_killing_the_home_worker_loses_the_room_everywhere(worker_pools, client_peers):
    pool, room, alice, bob = await spanned(worker_pools, client_peers, alice={"audio": False})
    lost = asyncio.get_running_loop().create_future()

    async def on_worker_lost(index: int, rooms: list) -> None:
        if not lost.done():
            lost.set_result((index, rooms))

    pool.on_worker_lost = on_worker_lost
    await bob.client.wait_for_frames("alice", "video", 5, TIMEOUT)
    home = room.router.worker
    os.kill(pool.pids[home], signal.SIGKILL)
    assert await asyncio.wait_for(lost, 10) == (home, ["room"])
    with pytest.raises(WorkerLost):
        await asyncio.wait_for(bob.peer.set_consumer_paused("alice", "camera", True), 5)
    far = bob.peer.worker

    async def far_rooms() -> int:
        return (await pool.stats())["workers"][far]["rooms"]

    for _ in range(100):
        if await far_rooms() == 0:
            break
        await asyncio.sleep(0.05)
    assert await far_rooms() == 0


async def test_loss_on_the_pipe_is_nacked_and_resent_across_workers(worker_pools, client_peers):
    pool, room, alice, bob = await spanned(worker_pools, client_peers, alice={"audio": False})
    await bob.client.wait_for_frames("alice", "video", 10, TIMEOUT)
    home = room.router.worker
    (pipe,) = room.router._pipes.values()
    await asyncio.wait_for(pool.workers[home].request(
        "pipe_drop", {"room": "room", "pipe": pipe.id, "every": 10, "limit": 5}), TIMEOUT)

    async def counters() -> tuple[dict, dict]:
        entry = (await room.router.pipe_stats())[pipe.id]
        return entry[home], entry[bob.peer.worker]

    # bob's leg saw the gaps and NACKed them over the pipe; alice's leg resent from its cache
    for _ in range(200):
        source, target = await counters()
        if source.get("retransmitted", 0) >= 5 and target.get("nacked", 0) >= 5:
            break
        await asyncio.sleep(0.05)
    assert source["retransmitted"] >= 5 and target["nacked"] >= 5
    assert source["rtp_out"] > 0 and target["rtp_in"] > 0 and target["foreign"] == 0
    frames = bob.client.received("alice", "video")
    await bob.client.wait_for_frames("alice", "video", frames + 10, TIMEOUT)
