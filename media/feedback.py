"""RTCP feedback from subscribers, read at the subscribe transport (not per aiortc sender).

aiortc routes RTCP to a sender by the media SSRC of the common header, which is 0 in a FIR
(RFC 5104: the target is in the FCI) and absent from REMB: so the subscribe connection's DTLS
transport hands every decrypted compound packet to :class:`SubscriberFeedback`, which finds the
DownTrack by SSRC itself: PLI and FIR become keyframe requests (coalesced per Producer), NACKs are
answered from the DownTrack's cache (within its limits: retransmit_cache.py), REMB is recorded
per DownTrack (the Producer sends the publisher the minimum over its consumers), report blocks
give the loss and the round trip, and an XR receiver reference time is answered with a DLRR. A subscriber sending RTCP at absurd rates is cut off by a
token bucket; each NACK is capped.
"""

from __future__ import annotations

import struct
from typing import Iterable, Optional

from . import rtp

_U32 = struct.Struct("!I")
_U32x2 = struct.Struct("!II")

RTCP_RATE = 100.0  # compound packets per second per subscriber, sustained
RTCP_BURST = 200
MAX_NACKED_PER_PACKET = 128

REMB_FLOOR = 160_000  # a camera beside RED audio (~60 kbit/s) keeps 320x180 at 20+ fps
REMB_INTERVAL = 1.0  # at most one REMB per producer per second
REMB_STALE = 5.0  # a subscriber's REMB older than this no longer counts


class TokenBucket:
    __slots__ = ("rate", "burst", "_tokens", "_last")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._last: Optional[float] = None

    def take(self, now: float, cost: float = 1.0) -> bool:
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= cost:
            self._tokens -= cost
            return True
        return False


def aggregate_remb(values: Iterable[int], floor: int, ceiling: int) -> int:
    """What to tell a publisher: the lowest of its consumers' estimates, clamped; the ceiling
    when no consumer has one."""
    low = min(values, default=None)
    if low is None:
        return ceiling
    return max(floor, min(ceiling, low))


class SubscriberFeedback:
    """Dispatches one subscriber's RTCP to its DownTracks (``tracks``: by our SSRC)."""

    def __init__(self, rate: float = RTCP_RATE, burst: float = RTCP_BURST) -> None:
        self.tracks: dict = {}
        # answers to the subscriber's receiver reference times (XR RRTR): a DLRR, from which a
        # receive-only browser learns its round trip to us, and then waits that long for
        # retransmissions before a frame counts as late (its jitter buffer adds the RTT once it
        # has had to NACK). ``send_rtcp`` is set by the subscribe connection.
        self.send_rtcp = None
        self.dlrr_sent = 0
        self._bucket = TokenBucket(rate, burst)
        self.dropped = 0  # compound packets over the rate limit
        self.keyframe_requests = 0
        self.nacks = 0
        self.rembs = 0
        # the subscriber's receive estimate (its last REMB: one for the whole connection), and a
        # hook called with each one (the layer allocator reacts at once to a falling estimate)
        self.estimate: Optional[int] = None
        self.estimate_time = 0.0
        self.on_estimate = None

    def handle(self, data: bytes, now: float) -> None:
        if not self._bucket.take(now):
            self.dropped += 1
            return
        tracks = self.tracks
        for pt, fmt, body in rtp.iter_rtcp(data):
            if len(body) < 8:
                continue
            if pt == rtp.RTCP_PSFB:
                if fmt == rtp.RTCP_PSFB_PLI:
                    track = tracks.get(_U32.unpack_from(body, 4)[0])
                    if track is not None:
                        self.keyframe_requests += 1
                        track.request_keyframe(now)
                elif fmt == rtp.RTCP_PSFB_FIR:
                    for offset in range(8, len(body) - 7, 8):
                        track = tracks.get(_U32.unpack_from(body, offset)[0])
                        if track is not None:
                            self.keyframe_requests += 1
                            track.request_keyframe(now)
                elif fmt == rtp.RTCP_PSFB_APP:
                    remb = rtp.parse_remb(body)
                    if remb is not None:
                        self.rembs += 1
                        bitrate, ssrcs = remb
                        self.estimate = bitrate
                        self.estimate_time = now
                        if self.on_estimate is not None:
                            self.on_estimate(bitrate, now)
                        for ssrc in ssrcs:
                            track = tracks.get(ssrc)
                            if track is not None:
                                track.on_remb(bitrate, now)
            elif pt == rtp.RTCP_RTPFB and fmt == rtp.RTCP_RTPFB_NACK:
                track = tracks.get(_U32.unpack_from(body, 4)[0])
                if track is not None:
                    self.nacks += 1
                    track.retransmit(rtp.parse_nack(body, MAX_NACKED_PER_PACKET), now)
            elif pt == rtp.RTCP_XR:
                rrtr = rtp.parse_xr_rrtr(body)
                if rrtr is not None and self.send_rtcp is not None and tracks:
                    reporter, ntp = rrtr  # answered at once: no delay since it arrived
                    self.send_rtcp(rtp.pack_xr_dlrr(next(iter(tracks)), [(reporter, (ntp >> 16) & 0xFFFFFFFF, 0)]))
                    self.dlrr_sent += 1
            elif pt == rtp.RTCP_RR or pt == rtp.RTCP_SR:
                start = 4 if pt == rtp.RTCP_RR else 24
                for offset in range(start, min(len(body), start + 24 * fmt) - 23, 24):
                    track = tracks.get(_U32.unpack_from(body, offset)[0])
                    if track is not None:
                        lsr, dlsr = _U32x2.unpack_from(body, offset + 16)
                        track.on_report_block(body[offset + 4], lsr, dlsr, now)
