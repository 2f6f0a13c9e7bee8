"""Media in worker processes (media/workers.py, media/worker.py, media/channel.py) and the same API
in-process (media/local.py), with real aiortc client peers over 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from media import (
    SFU, LocalMedia, MediaConfig, SdpError, StaleRevision, WorkerError, WorkerLost, WorkerPool, WorkerTimeout,
)
from media.channel import MAX_FRAME, Channel, FrameDecoder, FrameError, encode
from media.sfu import empty_stats
from tests.media_pools import Member, gone, loopback_config, wait_for

TIMEOUT = 30
REPO = Path(__file__).resolve().parent.parent


async def media_flows(media, room: str, client_peers, tag: str):
    """A publisher and a subscriber in ``room``: the subscriber decodes the publisher's video."""
    events: list[tuple[str, dict]] = []
    router = await asyncio.wait_for(media.open_router(room, lambda kind, data: events.append((kind, data))), TIMEOUT)
    publisher = await Member(router, client_peers(f"{tag}-pub", audio=False)).join()
    subscriber = await Member(router, client_peers(f"{tag}-sub", audio=False, video=False)).join(publish=False)
    await subscriber.client.wait_for_frames(publisher.client.name, "video", 10, TIMEOUT)
    return router, publisher, subscriber, events


# the channel


def test_frames_round_trip_split_anywhere():
    messages = [
        {"id": 1, "method": "publish", "params": {"sdp": "v=0\r\n" * 50, "sources": {"0": "camera"}}},
        {"id": 1, "ok": True, "result": "answer é 漢字"},
        {"event": "load", "cpu_pct": 12.5, "rooms": 0},
        {"id": 2, "ok": False, "error": {"type": "SdpError", "message": "bad"}},
    ]
    stream = b"".join(encode(m) for m in messages)
    assert FrameDecoder().feed(stream) == messages
    for cut in range(1, len(stream)):  # every split of the stream in two reads
        decoder = FrameDecoder()
        assert decoder.feed(stream[:cut]) + decoder.feed(stream[cut:]) == messages
        assert decoder.pending == 0
    decoder = FrameDecoder()  # one byte per read
    out = []
    for i in range(len(stream)):
        out += decoder.feed(stream[i:i + 1])
    assert out == messages


@pytest.mark.parametrize("frame", [
    (5).to_bytes(4, "big") + b"{nope",  # not JSON
    (2).to_bytes(4, "big") + b"[]",  # not an object
    (2).to_bytes(4, "big") + b"\xff\xfe",  # not UTF-8
    (MAX_FRAME + 1).to_bytes(4, "big"),  # a length no frame has
])
def test_malformed_frame_breaks_the_decoder(frame):
    decoder = FrameDecoder()
    assert decoder.feed(encode({"event": "fine"})) == [{"event": "fine"}]
    with pytest.raises(FrameError):
        decoder.feed(frame + encode({"event": "after"}))
    with pytest.raises(FrameError):  # the framing is lost: nothing more is read
        decoder.feed(encode({"event": "later"}))


async def channel_pair(on_request, on_event=None, closed=None):
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    server = await Channel.open(a, on_request=on_request, name="server")
    client = await Channel.open(b, on_event=on_event, name="client",
                                on_close=(lambda exc: closed.set()) if closed is not None else None)
    return server, client


async def test_channel_requests_errors_events_and_close():
    never = asyncio.Event()

    async def on_request(method: str, params: dict):
        if method == "echo":
            server.send_event("seen", method=method)
            return params
        if method == "sdp":
            raise SdpError("no media sections")
        if method == "stale":
            raise StaleRevision("revision 3 is not the outstanding offer (4)")
        if method == "hang":
            await never.wait()
        raise KeyError(method)

    events: list[dict] = []
    closed = asyncio.Event()
    server, client = await channel_pair(on_request, events.append, closed)
    assert await client.request("echo", {"x": [1, "é"]}) == {"x": [1, "é"]}
    assert events == [{"event": "seen", "method": "echo"}]
    with pytest.raises(SdpError, match="no media sections"):
        await client.request("sdp")
    with pytest.raises(StaleRevision):
        await client.request("stale")
    with pytest.raises(WorkerError, match="KeyError"):
        await client.request("other")
    with pytest.raises(WorkerTimeout):
        await client.request("hang", timeout=0.2)
    # the other end goes away: a pending request fails at once, later ones too
    pending = asyncio.ensure_future(client.request("hang", timeout=TIMEOUT))
    await asyncio.sleep(0.05)
    server.close()
    with pytest.raises(WorkerLost):
        await asyncio.wait_for(pending, 5)
    await asyncio.wait_for(closed.wait(), 5)
    with pytest.raises(WorkerLost):
        await client.request("echo")


async def test_malformed_frame_closes_the_channel():
    closed = asyncio.Event()
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    client = await Channel.open(b, name="client", on_close=lambda exc: closed.set())
    pending = asyncio.ensure_future(client.request("anything", timeout=TIMEOUT))
    await asyncio.sleep(0.05)
    a.sendall((4).to_bytes(4, "big") + b"oops")
    await asyncio.wait_for(closed.wait(), 5)
    with pytest.raises(WorkerLost):
        await asyncio.wait_for(pending, 5)
    a.close()


async def test_worker_exits_when_its_channel_ends():
    """Without its parent dying: EOF on the channel alone ends a worker."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    ours.sendall(encode({"index": 7, "config": {"ice_addresses": ["127.0.0.1"]}, "rx_batch_ms": 1.0}))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "media.worker", "--fd", str(theirs.fileno()), "--index", "7",
        pass_fds=(theirs.fileno(),), env=env, stdin=asyncio.subprocess.DEVNULL)
    theirs.close()
    try:
        ready = asyncio.get_running_loop().create_future()
        channel = await Channel.open(ours, name="test", on_event=lambda m: ready.done() or ready.set_result(m))
        message = await asyncio.wait_for(ready, 60)
        assert message["event"] == "ready" and message["pid"] == proc.pid and message["index"] == 7
        assert message["rx_batch_ms"] == 1.0  # it runs on media.loop's batching loop
        channel.close()
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


# the pool


async def test_two_rooms_on_two_workers_forward_video(worker_pools, client_peers):
    pool = await worker_pools(2)
    assert len(set(pool.pids)) == 2 and os.getpid() not in pool.pids
    first, _, _, first_events = await media_flows(pool, "room-a", client_peers, "a")
    # room-a's two peers make the other worker the least loaded
    second, _, _, second_events = await media_flows(pool, "room-b", client_peers, "b")
    assert first.worker != second.worker
    assert pool.pids[first.worker] != pool.pids[second.worker]
    # router events crossed the channel, each to its own room's hook
    assert ("peer_added", {"peer_id": "a-sub"}) in first_events
    assert any(k == "producer_added" and d["peer_id"] == "a-pub" and d["kind"] == "video" for k, d in first_events)
    assert not any(d.get("peer_id", "").startswith("b-") for _, d in first_events)
    assert any(k == "producer_added" and d["peer_id"] == "b-pub" for k, d in second_events)
    # the same router again: same worker, the hook replaced
    again = await pool.open_router("room-a", lambda kind, data: first_events.append(("again:" + kind, data)))
    assert again is first
    stats = await pool.stats()
    assert stats["routers"] == 2 and stats["peers"] == 4 and stats["producers"] == 2
    assert stats["rtp_packets_in"] > 0 and stats["rtp_packets_out"] > 0
    assert stats["decoded_frames"] == 0 and stats["encoded_frames"] == 0
    workers = stats["workers"]
    assert [w["index"] for w in workers] == [0, 1]
    assert {w["pid"] for w in workers} == set(pool.pids)
    assert all(w["alive"] and w["rooms"] == 1 and w["peers"] == 2 and w["rtp_packets_in"] > 0 for w in workers)
    assert all(isinstance(w["cpu_pct"], float) for w in workers)
    # a subscriber-side pause crosses the channel and answers how many consumers changed
    assert await asyncio.wait_for(first.peers["a-sub"].set_consumer_paused("a-pub", "camera", True), TIMEOUT) == 1
    assert await asyncio.wait_for(first.peers["a-sub"].set_consumer_paused("nobody", "camera", True), TIMEOUT) == 0
    await asyncio.wait_for(first.peers["a-pub"].set_paused("camera", True), TIMEOUT)
    await asyncio.wait_for(first.remove_peer("a-sub"), TIMEOUT)
    assert ("again:peer_removed", {"peer_id": "a-sub"}) in first_events
    await asyncio.wait_for(first.close(), TIMEOUT)
    assert (await pool.stats())["routers"] == 1


async def test_sdp_errors_cross_the_channel(worker_pools):
    pool = await worker_pools(1)
    router = await pool.open_router("room-e", None)
    offers = []

    async def on_offer(sdp, revision, consumers):
        offers.append(revision)

    peer = await router.add_peer("p", on_offer)
    with pytest.raises(SdpError):
        await asyncio.wait_for(peer.publish("this is not SDP", {}), TIMEOUT)
    with pytest.raises(StaleRevision):
        await asyncio.wait_for(peer.subscribe_answer("v=0\r\n", 5), TIMEOUT)
    await router.remove_peer("p")
    with pytest.raises(WorkerError, match="no peer"):  # a removed peer is gone in the worker too
        await asyncio.wait_for(peer.set_paused("camera", True), TIMEOUT)
    assert offers == []


async def test_killed_worker_is_replaced_and_its_rooms_reopen(worker_pools, client_peers):
    pool = await worker_pools(2)
    lost = asyncio.get_running_loop().create_future()

    async def on_worker_lost(index: int, rooms: list) -> None:
        if not lost.done():
            lost.set_result((index, rooms))

    pool.on_worker_lost = on_worker_lost
    router, publisher, subscriber, _ = await media_flows(pool, "room-k", client_peers, "k1")
    other = await pool.open_router("room-quiet", None)
    assert other.worker != router.worker
    index = router.worker
    pid = pool.pids[index]
    os.kill(pid, signal.SIGKILL)
    assert await asyncio.wait_for(lost, 10) == (index, ["room-k"])
    await wait_for(lambda: gone(pid), 10)
    with pytest.raises(WorkerLost):  # the old handles fail at once, nothing hangs
        await asyncio.wait_for(publisher.peer.set_paused("camera", True), 5)
    with pytest.raises(WorkerLost):
        await asyncio.wait_for(router.add_peer("late", subscriber.on_subscribe_offer), 5)
    # the room comes back on a live worker; the peers join again with new connections
    await asyncio.gather(publisher.client.close(), subscriber.client.close())
    reopened, _, _, events = await media_flows(pool, "room-k", client_peers, "k2")
    assert reopened is not router and reopened.worker is not None and pool.pids[reopened.worker] != pid
    assert any(k == "producer_added" for k, _ in events)
    # the untouched room is still where it was, and capacity comes back under the same index
    assert (await pool.open_router("room-quiet", None)) is other
    await wait_for(lambda: pool.pids[index] is not None, 60)
    assert pool.pids[index] != pid
    workers = (await pool.stats())["workers"]
    assert workers[index]["alive"] and workers[index]["pid"] == pool.pids[index]


async def test_a_lone_worker_killed_comes_back(worker_pools):
    """With one worker, rooms reopened from on_worker_lost wait (bounded) for its replacement."""
    pool = await worker_pools(1)
    reopened = asyncio.get_running_loop().create_future()

    async def on_worker_lost(index: int, rooms: list) -> None:
        handles = [await pool.open_router(room, None) for room in rooms]  # as the server would
        reopened.set_result((index, rooms, handles))

    pool.on_worker_lost = on_worker_lost
    router = await pool.open_router("room-1", None)
    pending = asyncio.ensure_future(router.add_peer("p", None))
    old = pool.pids[0]
    os.kill(old, signal.SIGKILL)
    try:  # a request in flight when its worker dies fails at once (or had its answer already)
        await asyncio.wait_for(pending, 10)
    except WorkerLost:
        pass
    index, rooms, (handle,) = await asyncio.wait_for(reopened, 60)
    assert (index, rooms) == (0, ["room-1"]) and handle is not router and handle.worker == 0
    assert pool.pids[0] not in (None, old)
    peer = await asyncio.wait_for(handle.add_peer("p", None), TIMEOUT)
    with pytest.raises(SdpError):
        await asyncio.wait_for(peer.publish("this is not SDP", {}), TIMEOUT)
    assert (await pool.stats())["peers"] == 1


async def test_a_hung_worker_times_out_and_is_replaced(worker_pools):
    """A worker that stops answering (SIGSTOP): requests time out, then the pool kills it."""
    pool = await worker_pools(1, request_timeout=1.0, hang_timeout=2.0)
    lost = asyncio.get_running_loop().create_future()

    async def on_worker_lost(index: int, rooms: list) -> None:
        lost.set_result((index, rooms))

    pool.on_worker_lost = on_worker_lost
    router = await pool.open_router("room-h", None)
    pid = pool.pids[0]
    os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(WorkerTimeout):
            await asyncio.wait_for(router.add_peer("p", None), 10)
        assert await asyncio.wait_for(lost, 20) == (0, ["room-h"])
        await wait_for(lambda: gone(pid), 10)
    finally:
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)
    await wait_for(lambda: pool.pids[0] not in (None, pid), 60)
    assert (await pool.open_router("room-h", None)) is not router


ORPHAN_SCRIPT = """
import asyncio, sys
from media import MediaConfig, WorkerPool

async def main():
    pool = WorkerPool(MediaConfig(ice_addresses=["127.0.0.1"], allowed_remote_networks=["127.0.0.1/32"]), 2)
    await pool.start()
    print(" ".join(str(pid) for pid in pool.pids), flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""


async def test_workers_die_with_their_parent_killed_hard():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", ORPHAN_SCRIPT, stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
        env=env, cwd=str(REPO))
    pids: list[int] = []
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        pids = [int(p) for p in line.split()]
        assert len(pids) == 2 and all(not gone(p) for p in pids)
        with open(f"/proc/{pids[0]}/stat") as f:
            assert int(f.read().rsplit(")", 1)[1].split()[1]) == proc.pid  # the script's children
        proc.kill()
        await asyncio.wait_for(proc.wait(), 10)
        await wait_for(lambda: all(gone(p) for p in pids), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        for pid in pids:  # never leave one behind, even when the test fails
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)


def test_pool_needs_a_worker():
    with pytest.raises(ValueError):
        WorkerPool(loopback_config(), 0)


# in-process


async def test_local_media_forwards_video(client_peers):
    local = LocalMedia(loopback_config())
    await local.start()
    try:
        router, publisher, subscriber, events = await media_flows(local, "room-l", client_peers, "l")
        assert router.worker is None
        assert ("peer_added", {"peer_id": "l-sub"}) in events
        assert any(k == "producer_added" and d["peer_id"] == "l-pub" for k, d in events)
        assert (await local.open_router("room-l", None)) is router
        stats = await local.stats()
        assert stats["routers"] == 1 and stats["peers"] == 2 and stats["rtp_packets_out"] > 0
        assert stats["decoded_frames"] == 0 and stats["encoded_frames"] == 0
        (entry,) = stats["workers"]
        assert entry["pid"] == os.getpid() and entry["alive"] and entry["index"] == 0 and entry["peers"] == 2
        assert await subscriber.peer.set_consumer_paused("l-pub", "camera", True) == 1
        with pytest.raises(SdpError):
            await publisher.peer.publish("this is not SDP", {})
        await router.remove_peer("l-sub")
        await router.close()
        assert (await local.stats())["routers"] == 0
    finally:
        await asyncio.wait_for(local.close(), TIMEOUT)


def test_stats_keys_match_the_sfu():
    keys = set(empty_stats())
    assert {"routers", "peers", "rtp_packets_in", "rtp_packets_out", "decoded_frames"} <= keys
    assert json.loads(json.dumps(empty_stats())) == empty_stats()
    assert set(SFU(MediaConfig(ice_addresses=["127.0.0.1"])).stats()) == keys
