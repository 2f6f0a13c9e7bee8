"""Router: one room. Every peer consumes every producer of every other peer."""

from __future__ import annotations

import logging
from typing import Callable, Optional

from .config import MediaConfig
from .peer import Peer
from .stats import Counters
from .subscriber import OfferCallback

logger = logging.getLogger(__name__)

EventHook = Callable[[str, dict], None]


class Router:
    def __init__(self, room_id: str, config: MediaConfig, counters: Counters,
                 on_event: Optional[EventHook] = None, on_empty: Optional[Callable[["Router"], None]] = None) -> None:
        self.id = room_id
        self.config = config
        self.counters = counters
        self.on_event = on_event
        self._on_empty = on_empty
        self.peers: dict[str, Peer] = {}

    @property
    def producers(self) -> list:
        return [p for peer in self.peers.values() for p in peer.producers]

    async def add_peer(self, peer_id: str, on_subscribe_offer: OfferCallback) -> Peer:
        """Add a peer (replacing one with the same id) and subscribe it to everyone else.

        The first subscribe offer goes out as soon as there is something to consume."""
        if peer_id in self.peers:
            await self.remove_peer(peer_id, keep_router=True)
        peer = Peer(self, peer_id, on_subscribe_offer)
        self.peers[peer_id] = peer
        for other in list(self.peers.values()):
            if other is not peer:
                for producer in other.producers:
                    peer.subscriber.add_consumer(producer)
        self._emit("peer_added", {"peer_id": peer_id})
        return peer

    def get_peer(self, peer_id: str) -> Optional[Peer]:
        return self.peers.get(peer_id)

    async def remove_peer(self, peer_id: str, keep_router: bool = False) -> None:
        """Close the peer's connections, end its producers and renegotiate the others."""
        peer = self.peers.pop(peer_id, None)
        if peer is None:
            return
        producers = await peer.close()
        self._producers_changed(peer, [], producers)
        self._emit("peer_removed", {"peer_id": peer_id})
        if not self.peers and not keep_router and self._on_empty is not None:
            self._on_empty(self)

    def _producers_changed(self, owner: Peer, added: list, removed: list) -> None:
        for other in self.peers.values():
            if other is owner or other.closed:
                continue
            for producer in removed:
                other.subscriber.remove_consumer(producer.id)
            for producer in added:
                other.subscriber.add_consumer(producer)
        for producer in added:
            self._emit("producer_added", producer.describe())
        for producer in removed:
            self._emit("producer_removed", producer.describe())

    def _emit(self, kind: str, data: dict) -> None:
        if self.on_event is not None:
            try:
                self.on_event(kind, data)
            except Exception:
                logger.exception("router event hook failed")

    async def close(self) -> None:
        for peer_id in list(self.peers):
            await self.remove_peer(peer_id, keep_router=True)
