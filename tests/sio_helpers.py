"""A python-socketio test client that speaks docs/protocol.md: requests with acks, events queued."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import socketio

TIMEOUT = 15


class ProtocolClient:
    def __init__(self, base_url: str):
        self.base_url = base_url
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: dict[str, asyncio.Queue] = defaultdict(asyncio.Queue)
        self.sio.on("*", self._on_any)

    async def _on_any(self, event: str, data: Any = None) -> None:
        self.events[event].put_nowait(data)

    async def connect(self) -> "ProtocolClient":
        await asyncio.wait_for(
            self.sio.connect(self.base_url, transports=["websocket"], socketio_path="/socket.io"),
            TIMEOUT,
        )
        return self

    async def request(self, event: str, payload: Any = None) -> dict:
        return await asyncio.wait_for(self.sio.call(event, payload, timeout=TIMEOUT), TIMEOUT + 1)

    async def join(self, token: str, name: str, organisation: str = "") -> dict:
        ack = await self.request("join", {"token": token, "name": name, "organisation": organisation})
        assert ack["ok"], ack
        return ack

    async def next_event(self, event: str, timeout: float = TIMEOUT) -> Any:
        return await asyncio.wait_for(self.events[event].get(), timeout)

    async def close(self) -> None:
        if self.sio.connected:
            await asyncio.wait_for(self.sio.disconnect(), TIMEOUT)


async def connected(base_url: str) -> ProtocolClient:
    return await ProtocolClient(base_url).connect()
