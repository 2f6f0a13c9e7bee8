"""Integration: the real server with its SFU in two media worker processes (``--media-workers 2``),
aiortc participants over loopback.

- two rooms land on two different worker processes, and both meetings' media flows;
- a worker killed (SIGKILL) mid-meeting: its room's router is made again on a live worker, every
  participant gets ``media_reset`` and connects its media again, and media flows again, while
  nobody leaves the roster (no ``participant_left``), and chat and hands are untouched;
- one room spanning two workers (``--media-span-peers 1``): a publisher on one worker, a
  subscriber on the other decodes its frames, and the subscriber's PLI reaches the publisher;
- the server killed (SIGKILL): its workers go with it (no orphans).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import start_server, stop_server
from tests.meeting_client import MeetingClient
from tests.room_harness import token_of


@pytest.fixture
def two_worker_server(tmp_path):
    server = start_server(tmp_path, "--media-workers", "2")
    yield server
    stop_server(server)


@pytest.fixture
async def clients():
    made: list[MeetingClient] = []
    yield made
    await asyncio.gather(*(c.close() for c in made), return_exceptions=True)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


async def join_room(server, clients: list, title: str, names: list[str]) -> list[MeetingClient]:
    room = server.create_room(title)
    joined = []
    for i, name in enumerate(names):
        client = MeetingClient(server.base_url, name)
        clients.append(client)
        client.invite_token = token_of(room["links"]["host" if i == 0 else "participant"])
        await client.join(client.invite_token)
        joined.append(client)
    return joined


async def everyone_decodes(members: list[MeetingClient], frames: int = 10, timeout: float = 30) -> None:
    for me in members:
        for other in members:
            if other is not me:
                await me.wait_for_frames(other, "video", frames, timeout)
                await me.wait_for_frames(other, "audio", frames, timeout)


def workers_with_rooms(server) -> list[dict]:
    return [w for w in server.metrics()["workers"] if w["rooms"] > 0]


async def test_two_rooms_run_on_two_worker_processes(two_worker_server, clients):
    server = two_worker_server
    seoul = await join_room(server, clients, "Seoul", ["Seoul-1", "Seoul-2"])
    lisbon = await join_room(server, clients, "Lisbon", ["Lisbon-1", "Lisbon-2"])
    await everyone_decodes(seoul)
    await everyone_decodes(lisbon)

    metrics = server.metrics()
    busy = workers_with_rooms(server)
    # least-loaded placement: one room per worker, two different OS processes, neither the server
    assert len(busy) == 2 and all(w["rooms"] == 1 and w["peers"] == 2 for w in busy), metrics["workers"]
    pids = {w["pid"] for w in busy}
    assert len(pids) == 2 and server.pid not in pids and all(alive(pid) for pid in pids)
    assert all(w["rtp_packets_in"] > 0 and w["rtp_packets_out"] > 0 for w in busy)
    assert metrics["sfu"]["routers"] == 2 and metrics["sfu"]["peers"] == 4


async def test_a_killed_worker_s_room_comes_back_without_anyone_leaving(two_worker_server, clients):
    server = two_worker_server
    members = await join_room(server, clients, "Kill a worker", ["Host", "Ana", "Ben"])
    await everyone_decodes(members)
    host = members[0]
    chat = await host.proto.request("chat_send", {"text": "before the crash"})
    assert chat["ok"], chat
    hand = await members[1].proto.request("hand", {"raised": True})
    assert hand["ok"], hand

    (worker,) = workers_with_rooms(server)
    os.kill(worker["pid"], signal.SIGKILL)

    # every participant is told to connect its media again, and does
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not all(c.media_resets for c in members):
        await asyncio.sleep(0.1)
    assert [c.media_resets for c in members] == [1, 1, 1]
    await everyone_decodes(members, frames=10, timeout=30)

    # the room now runs on a live worker (the other one, or the dead one's replacement)
    (now,) = workers_with_rooms(server)
    assert now["pid"] != worker["pid"] and alive(now["pid"]) and now["peers"] == 3
    # nobody left the meeting: no participant_left, the hand still raised, the chat kept
    for client in members:
        assert client.proto.events["participant_left"].empty()
    ack = await host.proto.request("timeline", {})
    assert ack["ok"] and [e for e in ack["events"] if e["kind"] == "leave"] == []
    hands = await members[2].proto.request("hand", {"raised": True})
    assert hands["ok"] and hands["queue"] == [members[1].self_id, members[2].self_id]
    # someone joining now finds the same meeting: the three still in it, the chat kept
    late = MeetingClient(server.base_url, "Late")
    clients.append(late)
    ack = await late.join(members[1].invite_token, publish=False)
    assert {p["id"] for p in ack["participants"]} == {c.self_id for c in members}
    assert [m["text"] for m in ack["chat"]] == ["before the crash"]


async def test_a_room_spans_two_workers_and_a_pli_crosses_the_pipe(tmp_path, clients):
    server = start_server(tmp_path, "--media-workers", "2", "--media-span-peers", "1")
    try:
        publisher, subscriber = await join_room(server, clients, "Spanning", ["Publisher", "Subscriber"])
        await everyone_decodes([publisher, subscriber])
        workers = server.metrics()["workers"]
        # the room's first peer on one worker, the second on the other: two processes, one room
        legs = [w for w in workers if w["rooms"] == 1 and w["peers"] == 1]
        assert len(legs) == 2 and legs[0]["pid"] != legs[1]["pid"], workers

        publisher.peer.count_keyframe_requests()
        before = publisher.peer.keyframe_requests
        deadline = time.monotonic() + 20
        while publisher.peer.keyframe_requests <= before and time.monotonic() < deadline:
            await subscriber.peer.send_pli(publisher.self_id)
            await asyncio.sleep(0.5)  # the SFU throttles keyframe requests: ask again until one arrives
        assert publisher.peer.keyframe_requests > before
        await subscriber.wait_for_frames(publisher, "video", subscriber.received(publisher, "video") + 10)
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        clients.clear()
        stop_server(server)


def test_the_server_killed_takes_its_workers_with_it(tmp_path):
    server = start_server(tmp_path, "--media-workers", "2")
    try:
        pids = [w["pid"] for w in server.metrics()["workers"]]
        assert len(pids) == 2 and all(alive(pid) for pid in pids)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(pid) for pid in pids):
            time.sleep(0.1)
        assert not any(alive(pid) for pid in pids), "media workers outlived the server"
    finally:
        if server.proc.poll() is None:
            stop_server(server)
