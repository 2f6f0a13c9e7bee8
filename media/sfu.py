"""SFU: the routers of one process, their configuration and counters."""

from __future__ import annotations

from typing import Optional

from .config import MediaConfig
from .ice import use_host_addresses
from .router import EventHook, Router
from .stats import Counters


class SFU:
    def __init__(self, config: Optional[MediaConfig] = None) -> None:
        self.config = config or MediaConfig()
        self.counters = Counters()
        self.routers: dict[str, Router] = {}
        use_host_addresses(self.config.ice_addresses)

    def router(self, room_id: str, on_event: Optional[EventHook] = None) -> Router:
        """The router of ``room_id``, created if needed."""
        router = self.routers.get(room_id)
        if router is None:
            router = Router(room_id, self.config, self.counters, on_event=on_event, on_empty=self._router_empty)
            self.routers[room_id] = router
        elif on_event is not None:
            router.set_on_event(on_event)
        return router

    def _router_empty(self, router: Router) -> None:
        if self.routers.get(router.id) is router:
            del self.routers[router.id]

    def stats(self) -> dict:
        return stats_of(self.counters, self.routers)

    async def close(self) -> None:
        for router in list(self.routers.values()):
            await router.close()
        self.routers.clear()


def empty_stats() -> dict:
    """``SFU.stats()`` of an SFU with nothing in it: every key, all zero."""
    return stats_of(Counters(), {})


def stats_of(c: Counters, routers: dict[str, Router]) -> dict:
    """The counters of ``SFU.stats()``, from the SFU's ``Counters`` and its routers."""
    peers = [peer for router in routers.values() for peer in router.peers.values()]
    producers = [p for peer in peers for p in peer.publisher.producers.values()]
    producers += [p for router in routers.values() for p in router.pipe_producers.values()]
    count = len(producers)
    producers += [layer for p in producers for layer in p.layers]  # simulcast: the layers count packets
    slots = [slot for peer in peers for slot in peer.subscriber.slots]
    return {
        "routers": len(routers),
        "peers": len(peers),
        "producers": count,
        "consumers": sum(len(peer.subscriber.consumers) for peer in peers),
        "rtp_packets_in": c.rtp_packets_in + sum(p.packets for p in producers),
        "rtp_bytes_in": c.rtp_bytes_in + sum(p.octets for p in producers),
        "rtp_packets_out": c.rtp_packets_out + sum(s.downtrack.packets for s in slots),
        "rtp_bytes_out": c.rtp_bytes_out + sum(s.downtrack.bytes for s in slots),
        "rtp_retransmitted": c.rtp_retransmitted + sum(s.downtrack.retransmitted for s in slots),
        "rtp_retransmit_limited": c.rtp_retransmit_limited + sum(s.downtrack.retransmit_limited for s in slots),
        "keyframe_requests": c.keyframe_requests + sum(p.keyframe_requests for p in producers),
        "rtp_nacked": c.rtp_nacked + sum(p.nacked for p in producers),
        "rtp_retransmit_missing": c.rtp_retransmit_missing + sum(s.downtrack.retransmit_missing for s in slots),
        "keyframe_requests_held": c.keyframe_requests_held
        + sum(p.keyframe_requests_deferred for p in producers)
        + sum(s.downtrack.keyframe_requests_held for s in slots),
        "twcc_feedbacks": c.twcc_feedbacks
        + sum(peer.publisher.twcc.feedbacks for peer in peers if peer.publisher.twcc is not None),
        "rtp_red_forwarded": c.rtp_red_forwarded + sum(p.red_packets for p in producers),
        "rtp_red_out": c.rtp_red_out + sum(p.red_sent for p in producers),
        "rtp_red_malformed": c.rtp_red_malformed + sum(p.red_malformed for p in producers),
        "rtp_red_recovered": c.rtp_red_recovered + sum(p.red_recovered for p in producers),
        "decoded_frames": c.decoded_frames,
        "encoded_frames": c.encoded_frames,
    }

