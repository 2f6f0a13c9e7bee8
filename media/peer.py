"""Peer: one participant of a router, with its publish and subscribe connections."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .publisher import PublishConnection
from .subscriber import OfferCallback, SubscribeConnection

if TYPE_CHECKING:
    from .router import Router


class Peer:
    def __init__(self, router: "Router", peer_id: str, on_subscribe_offer: OfferCallback) -> None:
        self.id = peer_id
        self.router = router
        self.publisher = PublishConnection(
            peer_id, router.config, router.counters,
            lambda added, removed: router._producers_changed(self, added, removed),
            on_event=router._emit,
        )
        self.subscriber = SubscribeConnection(peer_id, router.config, router.counters, on_subscribe_offer,
                                              on_event=router._emit)
        self.closed = False

    @property
    def producers(self) -> list:
        return list(self.publisher.producers.values())

    @property
    def consumers(self) -> list[dict]:
        return self.subscriber.describe_consumers()

    async def publish(self, offer_sdp: str, sources: dict) -> str:
        """Apply the client's publish offer; returns the answer SDP. Raises SdpError."""
        return await self.publisher.publish(offer_sdp, sources)

    async def subscribe_answer(self, sdp: str, revision: int) -> None:
        """Apply the client's answer to subscribe offer ``revision``. Raises SdpError, StaleRevision."""
        await self.subscriber.answer(sdp, revision)

    def set_paused(self, source: str, paused: bool) -> None:
        """Server-enforced mute: stop (or resume) forwarding this peer's ``source`` to everyone."""
        self.publisher.set_paused(source, paused)

    def set_consumer_paused(self, producer_peer_id: str, source: str, paused: bool) -> int:
        """This peer stops (or resumes) receiving ``producer_peer_id``'s ``source`` (mediasoup's
        consumer.pause()/resume()): for this subscriber only, remembered for later consumers of
        that (peer, source). Resuming starts at a keyframe. Returns how many consumers changed."""
        return self.subscriber.set_consumer_paused(producer_peer_id, source, paused)

    def set_consumer_paused_by_producer(self, producer_id: str, paused: bool) -> bool:
        """The same for one consumer, by producer id; False if this peer does not consume it."""
        return self.subscriber.set_consumer_paused_by_producer(producer_id, paused)

    def set_video_sizes(self, sizes: list) -> int:
        """The tile size of each video this peer shows (``[{"participant_id", "source", "width",
        "height"}, ...]``, device pixels, the complete set): picks each one's simulcast layer
        (media/allocation.py). Returns how many entries were taken."""
        return self.subscriber.set_video_sizes(sizes)

    async def close(self) -> list:
        """Close both connections; returns the producers that ended."""
        if self.closed:
            return []
        self.closed = True
        await self.subscriber.close()
        return await self.publisher.close()
