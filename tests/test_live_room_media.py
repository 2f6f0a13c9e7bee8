"""A join whose media worker dies under it (server/live_room.py ``LiveRoom.join``): the peer is
added again on a live worker and the join succeeds; if the media cannot be had at all, the join is
refused with ``media_unavailable`` and undone (nobody is left half in the meeting), and the same
connection can join once media is back. The server runs in this process with the SFU in-process
(``--media-workers 0``); the media service's ``open_router`` is wrapped to make ``add_peer`` fail
as a dead worker's does."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from aiohttp import web

import media
from server.app import HUB, create_app
from server.config import Config
from tests.sio_helpers import ProtocolClient


@pytest.fixture
async def app_server(tmp_path: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = Config(host="127.0.0.1", port=port, data_dir=tmp_path, secret="live-room-secret",
                    test_mode=True, ice_addresses=["127.0.0.1"], media_workers=0)
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    hub = app[HUB]
    room, tokens = await hub.rooms.create_room("Worker dies during a join")
    try:
        yield hub, f"http://127.0.0.1:{port}", room.id, tokens
    finally:
        await runner.cleanup()


class DyingWorker:
    """Wraps ``hub.media.open_router``: the next ``failures`` peers added fail with WorkerLost."""

    def __init__(self, hub, failures: int) -> None:
        self.failures = failures
        self.opened = 0
        self.original = hub.media.open_router
        hub.media.open_router = self.open_router

    async def open_router(self, room_id, on_event):
        self.opened += 1
        handle = await self.original(room_id, on_event)
        if self.failures <= 0:
            return handle
        outer = self

        class Handle:
            worker = handle.worker

            async def add_peer(self, *args, **kwargs):
                if outer.failures > 0:
                    outer.failures -= 1
                    raise media.WorkerLost("media worker 0 is gone")
                return await handle.add_peer(*args, **kwargs)

            async def remove_peer(self, peer_id):
                await handle.remove_peer(peer_id)

        return Handle()


async def test_a_join_moves_to_a_live_worker_when_its_worker_dies(app_server):
    hub, base_url, room_id, tokens = app_server
    dying = DyingWorker(hub, failures=1)
    client = await ProtocolClient(base_url).connect()
    try:
        ack = await client.join(tokens["participant"], "Ana")
        assert dying.opened == 2 and dying.failures == 0  # the router opened again, the peer added there
        meeting = hub.live.meeting(room_id)
        assert [p.id for p in meeting.list()] == [ack["self"]["id"]]
    finally:
        await client.close()


async def test_a_join_without_media_is_refused_and_undone_then_works(app_server):
    hub, base_url, room_id, tokens = app_server
    client = await ProtocolClient(base_url).connect()
    watcher = await ProtocolClient(base_url).connect()
    try:
        await watcher.join(tokens["host"], "Host")
        dying = DyingWorker(hub, failures=2)  # the retry fails too
        ack = await client.request("join", {"token": tokens["participant"], "name": "Ben"})
        assert ack == {"ok": False, "error": {"code": "media_unavailable",
                                              "message": "media is moving to another worker; try again"}}
        meeting = hub.live.meeting(room_id)
        assert [p.name for p in meeting.list()] == ["Host"]  # nobody half in the meeting
        assert dying.failures == 0
        ack = await client.join(tokens["participant"], "Ben")  # the same connection, media back
        assert sorted(p.name for p in meeting.list()) == ["Ben", "Host"]
        assert ack["self"]["name"] == "Ben"
    finally:
        await client.close()
        await watcher.close()
