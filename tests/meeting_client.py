"""A whole test participant: a Socket.IO protocol client plus an aiortc ClientPeer."""

from __future__ import annotations

import asyncio

from tests.media_helpers import ClientPeer
from tests.sio_helpers import ProtocolClient


class MeetingClient:
    def __init__(self, base_url: str, name: str, **peer_kwargs):
        self.name = name
        self.proto = ProtocolClient(base_url)
        self.peer = ClientPeer(name, **peer_kwargs)
        self._peer_kwargs = peer_kwargs
        self.publishing = False
        self.media_resets = 0  # media_reset events: the room's media moved to another worker
        self.self_id: str | None = None
        self.join_ack: dict | None = None
        self.answers = 0
        self._tasks: list[asyncio.Task] = []
        self._closing = False
        self.proto.sio.on("subscribe_offer", self._on_subscribe_offer)
        self.proto.sio.on("media_reset", self._on_media_reset)

    async def _on_media_reset(self, data: dict) -> None:
        """As the web client does: new media connections (the old peer closed), published again;
        the next subscribe offer (revisions start again) goes to the new peer."""
        if self._closing:
            return
        self.media_resets += 1
        old, self.peer = self.peer, ClientPeer(self.name, **self._peer_kwargs)
        self._tasks.append(asyncio.ensure_future(self._reconnect_media(old)))

    async def _reconnect_media(self, old: ClientPeer) -> None:
        try:
            await asyncio.wait_for(old.close(), 15)
        except Exception:  # noqa: BLE001 - the old connections are gone with their worker anyway
            pass
        if self.publishing:
            await self.peer.publish(self._send_publish)

    async def _on_subscribe_offer(self, data: dict) -> None:
        if not self._closing:  # an offer that arrives while closing is not answered
            self._tasks.append(asyncio.ensure_future(self._answer(data)))

    async def _answer(self, data: dict) -> None:
        answer = await self.peer.handle_subscribe_offer(data["sdp"], data["revision"], data["consumers"])
        ack = await self.proto.request("subscribe_answer", {"sdp": answer, "revision": data["revision"]})
        if ack["ok"]:
            self.answers += 1

    async def join(self, token: str, organisation: str = "", publish: bool = True) -> dict:
        await self.proto.connect()
        self.join_ack = await self.proto.join(token, self.name, organisation)
        self.self_id = self.join_ack["self"]["id"]
        if publish:
            self.publishing = True
            await self.peer.publish(self._send_publish)
        return self.join_ack

    async def _send_publish(self, sdp: str, sources: dict) -> str:
        ack = await self.proto.request("publish", {"sdp": sdp, "sources": sources})
        assert ack["ok"], ack
        return ack["sdp"]

    def received(self, other: "MeetingClient", kind: str) -> int:
        return self.peer.received(other.self_id, kind)

    async def wait_for_frames(self, other: "MeetingClient", kind: str, count: int, timeout: float = 30) -> None:
        await self.peer.wait_for_frames(other.self_id, kind, count, timeout)

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.proto.close()
        await asyncio.wait_for(self.peer.close(), 15)
