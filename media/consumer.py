"""Consumer: one producer as received by one subscriber (mediasoup's word).

The packets of a consumer go through the DownTrack of the transceiver it occupies; the Consumer
itself is what the signaling layer sees (``describe()`` is the protocol's Consumer object).
"""

from __future__ import annotations

import itertools

_ids = itertools.count(1)


class Consumer:
    def __init__(self, producer, transceiver, downtrack) -> None:
        self.id = f"co_{next(_ids)}"
        self.producer = producer
        self.transceiver = transceiver
        self.downtrack = downtrack
        self.active = False  # negotiated and bound to the producer
        self.paused = False  # by this subscriber (not the publisher's server-enforced mute)
        # by the SFU: the subscriber's link cannot take even this video's lowest layer (its
        # DownTrack forwards no layer: target_layer -1)
        self.bandwidth_paused = False

    @property
    def mid(self):
        return self.transceiver.mid

    @property
    def kind(self) -> str:
        return self.producer.kind

    def describe(self) -> dict:
        return {
            "mid": self.transceiver.mid,
            "participant_id": self.producer.peer_id,
            "source": self.producer.source,
            "kind": self.producer.kind,
            "producer_id": self.producer.id,
        }

    def request_keyframe(self) -> None:
        self.producer.request_keyframe()

    def set_paused(self, paused: bool) -> None:
        """mediasoup's consumer.pause()/resume(): stop (or resume, from a keyframe) forwarding
        this producer to this subscriber only."""
        self.paused = bool(paused)
        self.downtrack.set_paused(self.paused)

    def pause(self) -> None:
        self.set_paused(True)

    def resume(self) -> None:
        self.set_paused(False)
