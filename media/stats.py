"""Counters of the SFU. Live objects count for themselves; these hold the totals of the ones
that have ended, and the decode/encode counters (which must stay 0 in a forwarding SFU)."""

from __future__ import annotations


class Counters:
    def __init__(self) -> None:
        self.decoded_frames = 0
        self.encoded_frames = 0
        self.rtp_packets_in = 0
        self.rtp_bytes_in = 0
        self.rtp_packets_out = 0
        self.rtp_bytes_out = 0
        self.rtp_retransmitted = 0
        self.rtp_retransmit_limited = 0  # NACKed packets not resent: over a retransmission limit
        self.keyframe_requests = 0
        self.rtp_nacked = 0  # sequence numbers the SFU asked publishers to resend
        self.rtp_retransmit_missing = 0  # NACKed by subscribers, not in the cache (lost before the SFU)
        self.keyframe_requests_held = 0  # subscribers' PLI/FIR held while a keyframe or repairs were on their way
        self.twcc_feedbacks = 0  # transport-cc feedback packets sent to publishers
        # RED for Opus (red.py): RED packets forwarded, sent in RED to subscribers that accepted
        # it, dropped as malformed; frames rebuilt from redundancy for plain-Opus subscribers
        self.rtp_red_forwarded = 0
        self.rtp_red_out = 0
        self.rtp_red_malformed = 0
        self.rtp_red_recovered = 0

    def retire_producer(self, producer) -> None:
        if getattr(producer, "_retired", False):
            return
        producer._retired = True
        for layer in producer.layers:
            self.retire_producer(layer)
        self.rtp_packets_in += producer.packets
        self.rtp_bytes_in += producer.octets
        self.keyframe_requests += producer.keyframe_requests
        self.rtp_nacked += producer.nacked
        self.keyframe_requests_held += producer.keyframe_requests_deferred
        self.rtp_red_forwarded += producer.red_packets
        self.rtp_red_out += producer.red_sent
        self.rtp_red_malformed += producer.red_malformed
        self.rtp_red_recovered += producer.red_recovered

    def retire_downtrack(self, track) -> None:
        if getattr(track, "_retired", False):
            return
        track._retired = True
        self.rtp_packets_out += track.packets
        self.rtp_bytes_out += track.bytes
        self.rtp_retransmitted += track.retransmitted
        self.rtp_retransmit_limited += track.retransmit_limited
        self.rtp_retransmit_missing += track.retransmit_missing
        self.keyframe_requests_held += track.keyframe_requests_held
