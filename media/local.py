"""LocalMedia: the MediaService API over today's in-process :class:`media.SFU` (the same behaviour,
the same event loop, nothing crosses a process boundary)."""

from __future__ import annotations

import asyncio
import os
from typing import Optional

from .config import MediaConfig
from .peer import Peer
from .recorder import finish_manifests, manifest, new_recording_id
from .service import CpuMeter, EventHook, OfferCallback, WorkerLostHook
from .sfu import SFU, empty_stats


class LocalPeerHandle:
    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.id = peer.id

    async def publish(self, offer_sdp: str, sources: dict) -> str:
        return await self.peer.publish(offer_sdp, sources)

    async def subscribe_answer(self, sdp: str, revision: int) -> None:
        await self.peer.subscribe_answer(sdp, revision)

    async def set_paused(self, source: str, paused: bool) -> None:
        self.peer.set_paused(source, paused)

    async def set_consumer_paused(self, producer_peer_id: str, source: str, paused: bool) -> int:
        return self.peer.set_consumer_paused(producer_peer_id, source, paused)

    async def set_consumer_paused_by_producer(self, producer_id: str, paused: bool) -> bool:
        return self.peer.set_consumer_paused_by_producer(producer_id, paused)

    async def set_video_sizes(self, sizes: list) -> int:
        return self.peer.set_video_sizes(sizes)


class LocalRouterHandle:
    """A room's router in this process. The SFU drops a router once its last peer leaves; the
    handle then gets (creates) the room's router again on the next ``add_peer``, with its hook."""

    worker: Optional[int] = None

    def __init__(self, media: "LocalMedia", room_id: str, on_event: Optional[EventHook]) -> None:
        self._media = media
        self.room_id = room_id
        self.on_event = on_event
        self._recording_dir: Optional[str] = None

    def _router(self):
        return self._media.sfu.router(self.room_id, on_event=self.on_event)

    async def add_peer(self, peer_id: str, on_subscribe_offer: OfferCallback, *,
                       publisher: bool = True) -> LocalPeerHandle:  # publisher: placement only (ignored here)
        return LocalPeerHandle(await self._router().add_peer(peer_id, on_subscribe_offer=on_subscribe_offer))

    async def remove_peer(self, peer_id: str) -> None:
        router = self._media.sfu.routers.get(self.room_id)
        if router is not None:
            await router.remove_peer(peer_id)

    async def start_recording(self, directory: str) -> str:
        """Record the room's tracks into ``directory``/<recording id>/ (created); returns the id.
        Raises ValueError if a recording is running."""
        recording_id = new_recording_id()
        self._router().start_recording(recording_id, os.path.join(directory, recording_id))
        self._recording_dir = os.path.join(directory, recording_id)
        return recording_id

    async def stop_recording(self) -> Optional[dict]:
        """Finish the files and write ``manifest.json`` beside them; the manifest (None: no
        recording was running)."""
        router = self._media.sfu.routers.get(self.room_id) if self._media.sfu is not None else None
        result = await router.stop_recording() if router is not None else None
        if result is None:
            return None
        directory, self._recording_dir = self._recording_dir, None
        data = manifest(result["id"], self.room_id, result["started"], result["stopped"], result["tracks"])
        await asyncio.to_thread(finish_manifests, directory, self.room_id, data)
        return data

    async def close(self) -> None:
        if self._recording_dir is not None:  # the room ends: the recording ends with its manifest
            await self.stop_recording()
        if self._media._handles.get(self.room_id) is self:
            del self._media._handles[self.room_id]
        sfu = self._media.sfu
        router = sfu.routers.pop(self.room_id, None) if sfu is not None else None
        if router is not None:
            await router.close()


class LocalMedia:
    """The SFU in the server's process (``media.SFU``), behind the MediaService API."""

    def __init__(self, config: Optional[MediaConfig] = None) -> None:
        self.config = config or MediaConfig()
        self.on_worker_lost: Optional[WorkerLostHook] = None  # never called: there is no worker to lose
        self.sfu: Optional[SFU] = None
        self._handles: dict[str, LocalRouterHandle] = {}
        self._cpu = CpuMeter()

    async def start(self) -> None:
        if self.sfu is None:
            self.sfu = SFU(self.config)

    async def open_router(self, room_id: str, on_event: Optional[EventHook] = None) -> LocalRouterHandle:
        if self.sfu is None:
            await self.start()
        handle = self._handles.get(room_id)
        if handle is None:
            handle = self._handles[room_id] = LocalRouterHandle(self, room_id, on_event)
        handle.on_event = on_event
        self.sfu.router(room_id).set_on_event(on_event)  # get or create, as SFU.router does
        return handle

    async def stats(self) -> dict:
        stats = self.sfu.stats() if self.sfu is not None else empty_stats()
        stats["workers"] = [{
            "index": 0, "pid": os.getpid(), "alive": True, "cpu_pct": self._cpu.read(),
            "rooms": stats["routers"], "peers": stats["peers"],
            "rtp_packets_in": stats["rtp_packets_in"], "rtp_packets_out": stats["rtp_packets_out"],
        }]
        return stats

    async def close(self) -> None:
        self._handles.clear()
        if self.sfu is not None:
            await self.sfu.close()

