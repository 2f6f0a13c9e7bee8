"""MediaService: the one async API the server uses, whether the SFU runs in-process or in workers.

Two implementations: :class:`media.local.LocalMedia` (today's :class:`media.SFU` in the server's own
process and event loop) and :class:`media.workers.WorkerPool` (routers in media worker processes,
``python -m media.worker``, driven over a Unix socket; media/channel.py). Both give:

```python
media = WorkerPool(config, count=2)          # or LocalMedia(config)
media.on_worker_lost = cb                    # async cb(worker_index, room_ids): those routers are gone
await media.start()
router = await media.open_router(room_id, on_event)   # get or place; on_event(kind, data) replaced
peer = await router.add_peer(peer_id, on_subscribe_offer, publisher=True)  # async cb(sdp, revision,
#                                                consumers); publisher=False: a viewer (placement only)
answer = await peer.publish(offer_sdp, sources)  # raises SdpError
await peer.subscribe_answer(sdp, revision)       # raises SdpError / StaleRevision
await peer.set_paused(source, paused)
changed = await peer.set_consumer_paused(producer_peer_id, source, paused)
await router.remove_peer(peer_id)
await router.close()                             # the room is over: its router goes
await media.stats()                              # SFU.stats() keys summed, plus "workers": [...]
await media.close()
```

A request to a worker that died (or does not answer within the request timeout) raises
:class:`WorkerLost` (or :class:`WorkerTimeout`), both :class:`WorkerError`; a request the worker
failed for another reason raises :class:`WorkerError` with its message. ``SdpError`` and
``StaleRevision`` cross the channel as themselves.
"""

from __future__ import annotations

import time
from dataclasses import fields
from typing import Awaitable, Callable, Optional, Protocol

from .config import MediaConfig

EventHook = Callable[[str, dict], None]
OfferCallback = Callable[[str, int, list], Awaitable[None]]
WorkerLostHook = Callable[[int, list], Awaitable[None]]

# SFU.stats() keys that count things alive now (summed over live workers only); every other key
# is a counter since start, to which the last known counts of workers that died are added
GAUGES = ("routers", "peers", "producers", "consumers")


class WorkerError(RuntimeError):
    """A media worker failed a request: it died, did not answer in time, or raised."""


class WorkerLost(WorkerError):
    """The worker holding this router is gone (its routers with it)."""


class WorkerTimeout(WorkerError, TimeoutError):
    """The worker did not answer within the request timeout."""


class PeerHandle(Protocol):
    id: str

    async def publish(self, offer_sdp: str, sources: dict) -> str: ...
    async def subscribe_answer(self, sdp: str, revision: int) -> None: ...
    async def set_paused(self, source: str, paused: bool) -> None: ...
    async def set_consumer_paused(self, producer_peer_id: str, source: str, paused: bool) -> int: ...
    async def set_consumer_paused_by_producer(self, producer_id: str, paused: bool) -> bool: ...
    async def set_video_sizes(self, sizes: list) -> int: ...


class RouterHandle(Protocol):
    room_id: str
    worker: Optional[int]

    async def add_peer(self, peer_id: str, on_subscribe_offer: OfferCallback, *,
                       publisher: bool = True) -> PeerHandle: ...
    async def remove_peer(self, peer_id: str) -> None: ...
    async def start_recording(self, directory: str) -> str: ...  # recorder.py; ValueError if running
    async def stop_recording(self) -> Optional[dict]: ...  # the manifest, also written beside the files
    async def close(self) -> None: ...


class MediaService(Protocol):
    config: MediaConfig
    on_worker_lost: Optional[WorkerLostHook]

    async def start(self) -> None: ...
    async def open_router(self, room_id: str, on_event: Optional[EventHook]) -> RouterHandle: ...
    async def stats(self) -> dict: ...
    async def close(self) -> None: ...


class CpuMeter:
    """This process's CPU use (all threads) in percent of one core since the previous reading."""

    def __init__(self) -> None:
        self._cpu = time.process_time()
        self._wall = time.monotonic()
        self.pct = 0.0

    def read(self) -> float:
        cpu, wall = time.process_time(), time.monotonic()
        if wall - self._wall >= 0.05:  # too short an interval says nothing: keep the last figure
            self.pct = round(100.0 * (cpu - self._cpu) / (wall - self._wall), 1)
            self._cpu, self._wall = cpu, wall
        return self.pct


def config_to_dict(config: MediaConfig) -> dict:
    """MediaConfig's dataclass fields, as JSON-safe values (for a worker's start-up)."""
    return {f.name: getattr(config, f.name) for f in fields(config)}


def config_from_dict(data: dict) -> MediaConfig:
    return MediaConfig(**data)


def sum_stats(parts: list[dict]) -> dict:
    """SFU.stats() dicts added key by key."""
    total: dict = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + value
    return total
