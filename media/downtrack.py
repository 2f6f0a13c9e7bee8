"""DownTrack: one outgoing stream on a subscribe connection (one sendonly transceiver).

A DownTrack outlives the consumers it carries: when a consumer ends, its transceiver goes
inactive and a later consumer of the same kind reuses it, continuing the same SSRC, sequence
numbers and timestamps (LiveKit's DownTrack + RTP munger in one small class).

Of a simulcast producer (simulcast.py) it forwards one layer, its ``source``. A new target layer
is joined through a :class:`_LayerTap` on that layer's fan-out, which waits for the layer's next
keyframe (asked for at once) and then switches the DownTrack over: from that packet on it
forwards the new layer, with sequence numbers, timestamps and the VP8 PictureID and TL0PICIDX
continuing its own (mediasoup's SimulcastConsumer, LiveKit's forwarder), so the subscriber's
decoder sees one stream whose picture changes size at a keyframe.
"""

from __future__ import annotations

import random
import struct
import time
from typing import Callable, Optional

from aiortc.clock import current_ntp_time

from . import rtp
from .producer import ABS_SEND_TIME_ELEMENT
from .retransmit_cache import RetransmitBudget, RetransmitCache

_pack_header = struct.Struct("!BBHII").pack
_pack_u32 = struct.Struct("!I").pack
_pack_ids_into = struct.Struct("!HB").pack_into  # a VP8 descriptor's 15-bit PictureID (M set) and TL0PICIDX

MAX_RETRANSMIT = 128  # sequence numbers answered per NACK
# a packet is resent at most once per round trip to the subscriber (measured from its reports):
# a NACK repeated sooner was sent before the retransmission could have arrived
RESEND_INTERVAL_MIN = 0.01
RESEND_INTERVAL_MAX = 1.0
# A subscriber's keyframe request is not passed on while what it lacks is already on its way:
# a keyframe sent less than a round trip ago, or retransmissions it asked for (then for at most
# about two round trips: browsers repeat the request every ~200 ms while they cannot decode).
KEYFRAME_IN_FLIGHT_MARGIN = 0.01  # seconds, on top of 1.1 round trips (jitter)
REPAIR_DEFER_MIN = 0.3
REPAIR_DEFER_MAX = 1.5
DEFAULT_RTT = 0.1
# the first byte of the abs-send-time element the Producer writes right after the header
_ABS_SEND_TIME_BYTE = ABS_SEND_TIME_ELEMENT >> 24
# a tap waiting for a layer's keyframe asks for one at most this often (the Producer throttles too)
TAP_KEYFRAME_INTERVAL = 0.25


def _vp8_ids(data: bytes, p: int):
    """The VP8 payload descriptor (RFC 7741) at ``data[p:]``: (PictureID or -1, its mask (15 or 7
    bits), its offset, TL0PICIDX or -1, its offset); None without either, or if truncated."""
    n = len(data)
    if p < 0 or n < p + 3 or not data[p] & 0x80:
        return None
    x = data[p + 1]
    i = p + 2
    pid = -1
    mask = 0x7FFF
    j = i
    if x & 0x80:
        b = data[i]
        if b & 0x80:
            if i + 1 >= n:
                return None
            pid = ((b & 0x7F) << 8) | data[i + 1]
            j = i + 2
        else:
            pid = b
            mask = 0x7F
            j = i + 1
    tl0 = -1
    if x & 0x40:
        if j >= n:
            return None
        tl0 = data[j]
    if pid < 0 and tl0 < 0:
        return None
    return pid, mask, i, tl0, j


class _LayerTap:
    """On a simulcast layer's fan-out for a DownTrack that wants to switch to it: the first
    keyframe switches the DownTrack (which forwards that packet and the rest of the layer)."""

    __slots__ = ("track", "layer", "asked")
    remb = None
    paused = False

    def __init__(self, track: "DownTrack", layer) -> None:
        self.track = track
        self.layer = layer
        self.asked = -1e9

    def forward(self, rest: bytes, b0: int, b1: int, seq: int, ts: int, plen: int, keyframe: bool, now: float) -> None:
        if keyframe:
            track = self.track
            if track._tap is self:
                track._switch(self.layer)
                track.forward(rest, b0, b1, seq, ts, plen, keyframe, now)
        elif now - self.asked >= TAP_KEYFRAME_INTERVAL and self.track._sendto is not None:
            self.asked = now
            self.layer.request_keyframe(now)

    def restart(self) -> None:
        pass

    def unbind(self) -> None:
        pass


class DownTrack:
    def __init__(self, kind: str, ssrc: int, rtx_ssrc: Optional[int] = None, cache_capacity: int = 1024) -> None:
        self.kind = kind
        self.ssrc = ssrc
        self.rtx_ssrc = rtx_ssrc
        self.producer = None
        # the Producer whose packets are forwarded: ``producer``, or one of its simulcast layers
        self.source = None
        self.layer = -1  # the simulcast layer forwarded (-1: none)
        self.target_layer = -1  # the layer wanted (-1: none, paused for bandwidth)
        self._tap: Optional[_LayerTap] = None
        self.switches = 0  # simulcast layer changes
        # VP8 PictureID and TL0PICIDX rewritten to continue across layer switches
        self._vp8 = False
        self._pid_off = 0
        self._tl0_off = 0
        self._next_ts_off: Optional[int] = None  # the timeline offset a switch computed from SRs
        self.clock_rate = 48000 if kind == "audio" else 90000

        # negotiated with the subscriber: publisher payload type -> subscriber payload type
        self._pt_map: dict[int, int] = {}
        self._rtx_pt: Optional[int] = None
        # the subscriber declined the extension the Producer writes (audio level; abs-send-time)
        self._strip_ext = kind == "video"
        # RED (red.py): the subscriber's Opus payload type, written into the blocks of RED packets
        # it receives; None: it did not accept red, and gets a RED producer's primary blocks
        self.red_block_pt: Optional[int] = None

        # consumer pause (this subscriber only); resuming waits for a keyframe again
        self.paused = False
        self.starts = 0  # times forwarding (re)started, at a keyframe for video

        # munger state: offsets for the current source, last values sent
        self._started = False
        self._start_seq = 0
        self._seq_off = 0
        self._ts_off = 0
        self._max_seq = random.randint(0, 0x7FFF)
        self._max_ts = random.randint(0, 0xFFFFFFFF)
        self._last_time: Optional[float] = None
        self._rtx_seq = random.randint(0, 0x7FFF)

        # transmission (set by attach)
        self._protect: Optional[Callable[[bytes], bytes]] = None
        self._sendto: Optional[Callable] = None
        self._addr = None

        # NACK answers, limited per packet (the cache) and in bytes (the budget)
        self.cache = RetransmitCache(cache_capacity) if kind == "video" and cache_capacity else None
        self._cache_packets = self.cache._packets if self.cache else None
        self._cache_mask = cache_capacity - 1
        self.budget = RetransmitBudget()

        # round trip to the subscriber, from its report blocks about our sender reports
        self.rtt: Optional[float] = None
        self._sr_lsr = -1  # middle 32 bits of the last SR's NTP time, as echoed in LSR
        self._sr_time = 0.0

        # counters (true values for sender reports)
        self.packets = 0
        self.octets = 0  # payload octets, as in RTCP SR
        self.bytes = 0  # RTP bytes before SRTP
        self.retransmitted = 0
        self.retransmit_limited = 0  # NACKed numbers in the cache not resent: over a limit
        self.retransmit_missing = 0  # NACKed numbers not in the cache (lost before the SFU, or too old)
        self.keyframe_requests_held = 0  # the subscriber's requests not passed on (see request_keyframe)
        self._keyframe_sent = -1e9  # when the last keyframe went out to this subscriber
        self._last_resend = -1e9
        self._held_since: Optional[float] = None
        self.remb: Optional[int] = None
        self.remb_time = 0.0
        self.fraction_lost = 0

    # wiring

    def attach(self, protect: Optional[Callable], sendto: Optional[Callable], addr) -> None:
        """Where packets go: SRTP protect function, datagram ``sendto`` and remote address."""
        self._protect, self._sendto, self._addr = protect, sendto, addr
        if sendto is not None and not self._started and not self.paused:
            self._ask_keyframe()

    def _ask_keyframe(self, now: Optional[float] = None) -> None:
        """Ask for a keyframe of the stream this track forwards, or waits to forward."""
        if self._tap is not None:
            self._tap.layer.request_keyframe(now)
        elif self.source is not None:
            self.source.request_keyframe(now)

    def set_payload_types(self, pt_map: dict[int, int], rtx_pt: Optional[int],
                          audio_level: bool = True, abs_send_time: bool = False,
                          red_block_pt: Optional[int] = None) -> None:
        """Publisher payload type -> subscriber payload type; RTX payload type; whether the
        subscriber accepted the header extension the Producer writes for this kind (audio
        level for audio, abs-send-time with our id for video); if not, it is stripped. With
        ``red_block_pt`` (the subscriber's Opus payload type) the subscriber accepted red, and
        ``pt_map`` maps the publisher's red payload type to the subscriber's."""
        self._pt_map = dict(pt_map)
        self._rtx_pt = rtx_pt
        self.red_block_pt = red_block_pt
        self._strip_ext = not (audio_level if self.kind == "audio" else abs_send_time)

    def bind(self, producer, layer: int = 0) -> None:
        """Start carrying ``producer`` (from its next keyframe for video); of a simulcast
        producer, its layer ``layer`` first."""
        if self.producer is not None:
            self.unbind()
        self.producer = producer
        self.clock_rate = producer.clock_rate
        self._started = False
        self.remb = None
        producer.add_downtrack(self)
        self._vp8 = bool(producer.layers) and producer.codec.name.upper() == "VP8"
        if producer.layers:
            self.set_target_layer(max(0, min(layer, len(producer.layers) - 1)))
            return
        self.source = producer
        if self._sendto is not None and not self.paused:
            producer.request_keyframe()

    def unbind(self) -> None:
        if self.producer is not None:
            self.producer.remove_downtrack(self)
        if self.source is not None and self.source is not self.producer:
            self.source.remove_downtrack(self)
        self._drop_tap()
        self.producer = self.source = None
        self.layer = self.target_layer = -1
        self._started = False

    # simulcast layers

    def set_target_layer(self, index: int) -> None:
        """Forward layer ``index`` of a simulcast producer from its next keyframe (asked for
        now); until then the current layer goes on. -1: stop forwarding (the subscriber's link
        cannot take even the lowest layer); a later target resumes at a keyframe."""
        producer = self.producer
        if producer is None or not producer.layers or index >= len(producer.layers):
            return
        if index == self.target_layer:
            return
        self.target_layer = index
        self._drop_tap()
        if index < 0:
            if self.source is not None:
                self.source.remove_downtrack(self)
            self.source = None
            self.layer = -1
            self._started = False
            return
        if index == self.layer and self.source is not None:
            return
        layer = producer.layers[index]
        self._tap = _LayerTap(self, layer)
        layer.add_downtrack(self._tap)
        producer.want(index)
        if self._sendto is not None and not self.paused:
            self._tap.asked = time.monotonic()
            layer.request_keyframe()

    def _drop_tap(self) -> None:
        tap = self._tap
        if tap is not None:
            tap.layer.remove_downtrack(tap)
            self._tap = None

    def _switch(self, layer) -> None:
        """A keyframe of ``layer`` arrived at its tap: forward that layer from this packet on.
        The new layer's timestamps join this track's timeline where the publisher's sender
        reports say they belong (layers are encodings of the same captured frames); without
        them, ``forward`` continues from the wall-clock time since the last packet."""
        old = self.source
        self._drop_tap()
        self._next_ts_off = None
        if old is not None:
            old.remove_downtrack(self)
            if self._started and old is not layer:
                ntp = current_ntp_time()
                old_ts = old.rtp_timestamp_at(ntp)
                new_ts = layer.rtp_timestamp_at(ntp)
                if old_ts is not None and new_ts is not None:
                    self._next_ts_off = (self._ts_off + old_ts - new_ts) & 0xFFFFFFFF
        layer.add_downtrack(self)
        self.source = layer
        if self.layer != layer.index:
            self.switches += 1
        self.layer = layer.index
        self._started = False

    def restart(self) -> None:
        """Treat the next packet as a new source (after a pause): wait for a keyframe again."""
        self._started = False

    def set_paused(self, paused: bool) -> None:
        """Pause or resume this consumer (mediasoup's consumer.pause()/resume()). Resuming
        restarts at a keyframe, asked for at once, with sequence numbers continuing from the
        last packet sent and timestamps advanced by the wall-clock time paused."""
        paused = bool(paused)
        if paused == self.paused:
            return
        self.paused = paused
        self._started = False
        if not paused and self._sendto is not None:
            self._ask_keyframe()

    def request_keyframe(self, now: Optional[float] = None) -> None:
        """The subscriber asked for a keyframe (PLI/FIR). Not passed on while a keyframe is on
        its way to it (sent less than a round trip ago), nor, for a bounded time, while
        retransmissions it asked for are (the lost packets, not a new keyframe, are what it
        needs: "keyframe by NACK before PLI"); the Producer may hold it too, while it repairs
        the publisher's side."""
        producer = self.source
        if producer is None or self.paused:
            return
        if now is None:
            now = time.monotonic()
        if self._started:
            rtt = self.rtt if self.rtt is not None else DEFAULT_RTT
            in_flight = 1.1 * rtt + KEYFRAME_IN_FLIGHT_MARGIN
            if now - self._keyframe_sent < in_flight:
                self.keyframe_requests_held += 1
                return
            if now - self._last_resend < in_flight:
                limit = min(REPAIR_DEFER_MAX, max(REPAIR_DEFER_MIN, 2 * rtt + 0.1))
                since = self._held_since
                if since is None or now - since > 2 * limit:
                    since = self._held_since = now
                if now - since < limit:
                    self.keyframe_requests_held += 1
                    return
        self._held_since = None
        producer.subscriber_keyframe_request(now)

    def on_remb(self, bitrate: int, now: float) -> None:
        """The subscriber's receive estimate for this stream (the Producer aggregates them)."""
        changed = self.remb is None or abs(bitrate - self.remb) > self.remb // 10
        self.remb = bitrate
        self.remb_time = now
        if changed and self.producer is not None:
            self.producer.on_consumer_remb(now)

    @property
    def started(self) -> bool:
        return self._started

    # hot path

    def forward(self, rest: bytes, b0: int, b1: int, seq: int, ts: int, plen: int, keyframe: bool, now: float) -> None:
        sendto = self._sendto
        if sendto is None:
            return
        if not self._started:
            if self.paused:
                return
            if not keyframe:
                self.source.request_keyframe(now)
                return
            self.starts += 1
            # switch to this source: continue our own numbering and timeline
            self._seq_off = (self._max_seq + 1 - seq) & 0xFFFF
            ts_off = self._next_ts_off
            self._next_ts_off = None
            if ts_off is None or not 0 < ((ts + ts_off - self._max_ts) & 0xFFFFFFFF) < 0x80000000:
                gap = 1 if self._last_time is None else max(1, int((now - self._last_time) * self.clock_rate))
                ts_off = (self._max_ts + gap - ts) & 0xFFFFFFFF
            self._ts_off = ts_off
            self._start_seq = seq
            self._started = True
            restart = True
        elif ((seq - self._start_seq) & 0xFFFF) >= 0x8000:
            return  # older than where this source started
        else:
            restart = False
        pt = self._pt_map.get(b1 & 0x7F)
        if pt is None:
            return
        if b0 != 0x80 and self._strip_ext:
            rest = rest[8:]
            b0 = 0x80
        if self._vp8 and restart:
            self._vp8_restart(rest, 8 if b0 & 0x10 else 0)
        if self._pid_off or self._tl0_off:  # after a simulcast switch (_munge_vp8, inlined)
            q = 8 if b0 & 0x10 else 0
            if len(rest) > q + 4 and (rest[q + 1] & 0xC0) == 0xC0 and rest[q] & rest[q + 2] & 0x80:
                out = bytearray(rest)
                _pack_ids_into(out, q + 2, 0x8000 | (((((rest[q + 2] & 0x7F) << 8) | rest[q + 3]) + self._pid_off) & 0x7FFF),
                               (rest[q + 4] + self._tl0_off) & 0xFF)
                rest = out
            else:
                rest = self._munge_vp8(rest, q)
        oseq = (seq + self._seq_off) & 0xFFFF
        ots = (ts + self._ts_off) & 0xFFFFFFFF
        packet = _pack_header(b0, (b1 & 0x80) | pt, oseq, ots, self.ssrc) + rest
        cache = self._cache_packets
        if cache is not None:
            cache[oseq & self._cache_mask] = packet
            if keyframe:
                self._keyframe_sent = now
        if ((oseq - self._max_seq) & 0xFFFF) < 0x8000:
            self._max_seq = oseq
            self._max_ts = ots
            self._last_time = now
        try:
            sendto(self._protect(packet), self._addr)
        except Exception:  # closed transport, SRTP error: drop
            return
        self.packets += 1
        self.octets += plen
        self.bytes += len(packet)

    def _vp8_restart(self, rest: bytes, p: int) -> None:
        """At a (re)start: the offsets that move this source's VP8 PictureID and TL0PICIDX onto
        the numbers of the last packet sent (read back from the retransmission cache): each
        simulcast layer numbers its own pictures, and a switch must look to the decoder like the
        next picture, not a jump. Zero when nothing was sent before (or it carried no ids)."""
        self._pid_off = self._tl0_off = 0
        new = _vp8_ids(rest, p)
        cache = self._cache_packets
        last = cache[self._max_seq & self._cache_mask] if cache is not None and self.packets else None
        if new is None or last is None:
            return
        old = _vp8_ids(last, rtp.header_length(last))
        if old is None:
            return
        pid, mask, _, tl0, _ = new
        old_pid, old_mask, _, old_tl0, _ = old
        if pid >= 0 and old_pid >= 0 and mask == old_mask:
            self._pid_off = (old_pid + 1 - pid) & mask
        if tl0 >= 0 and old_tl0 >= 0:
            self._tl0_off = (old_tl0 + 1 - tl0) & 0xFF

    def _munge_vp8(self, rest: bytes, p: int):
        """``rest`` with its VP8 PictureID and TL0PICIDX moved by this track's offsets, once a
        switch made them non-zero (until then packets go out untouched); ``forward`` does the
        usual layout itself, this any other."""
        ids = _vp8_ids(rest, p)
        if ids is None:
            return rest  # no descriptor ids (or truncated): forwarded as it came
        pid, mask, i, tl0, j = ids
        out = bytearray(rest)
        if pid >= 0:
            pid = (pid + self._pid_off) & mask
            if mask == 0x7FFF:
                out[i] = 0x80 | (pid >> 8)
                out[i + 1] = pid & 0xFF
            else:
                out[i] = pid
        if tl0 >= 0:
            out[j] = (tl0 + self._tl0_off) & 0xFF
        return bytes(out)

    # feedback

    def retransmit(self, sequence_numbers: list[int], now: Optional[float] = None) -> int:
        """Resend cached packets (on the RTX stream if negotiated), within the limits: at most
        MAX_RETRANSMIT numbers per NACK, each packet at most ``cache.max_resends`` times and
        once per round trip, and the bytes within the stream's budget (a share of what it
        forwards). The abs-send-time is renewed. Returns how many were resent."""
        cache = self.cache
        if cache is None or self._sendto is None:
            return 0
        if now is None:
            now = time.monotonic()
        rtx = self._rtx_pt is not None and self.rtx_ssrc is not None
        sent = 0
        missing = None
        for seq in sequence_numbers[:MAX_RETRANSMIT]:
            packet = cache.get(seq)
            if packet is None:
                self.retransmit_missing += 1
                if missing is None:
                    missing = []
                missing.append(seq)
                continue
            if not cache.may_resend(seq, now) or not self.budget.take(len(packet), self.bytes):
                self.retransmit_limited += 1
                continue
            cache.resent(seq, now)
            if packet[0] == 0x90 and packet[16] == _ABS_SEND_TIME_BYTE:
                packet = packet[:16] + _pack_u32(ABS_SEND_TIME_ELEMENT | rtp.abs_send_time(now)) + packet[20:]
            if rtx:
                packet = rtp.wrap_rtx(packet, self._rtx_pt, self._rtx_seq, self.rtx_ssrc)
                self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
            try:
                self._sendto(self._protect(packet), self._addr)
            except Exception:
                break
            sent += 1
        if sent:
            self._last_resend = now
        self.retransmitted += sent
        producer = self.source
        if missing is not None and self._started and producer is not None and producer.repairs_upstream:
            # never reached this router (a pipe's producer): ask upstream, in the source's numbers
            start = self._start_seq
            upstream = [s for s in ((seq - self._seq_off) & 0xFFFF for seq in missing)
                        if ((s - start) & 0xFFFF) < 0x8000]
            if upstream:
                producer.repair_upstream(upstream, now)
        return sent

    def on_report_block(self, fraction_lost: int, lsr: int, dlsr: int, now: float) -> None:
        """The subscriber's report block about this stream: its loss, and the round trip (from
        the echo of our last sender report), which paces retransmissions of one packet."""
        self.fraction_lost = fraction_lost
        if lsr and lsr == self._sr_lsr:
            rtt = now - self._sr_time - dlsr / 65536.0
            if 0.0 <= rtt < 10.0:
                self.rtt = rtt
                if self.cache is not None:
                    self.cache.min_interval = min(RESEND_INTERVAL_MAX, max(RESEND_INTERVAL_MIN, rtt))

    def sender_report(self, local_ntp: int, now: float) -> Optional[bytes]:
        """An RTCP SR with true counters, its RTP timestamp in our timeline at ``local_ntp``.

        With the publisher's SR mapping known, the timestamp is the publisher's, translated by
        this stream's offset (so a subscriber can sync a publisher's audio and video); otherwise
        it is extrapolated from the last packet sent."""
        if self.packets == 0 or self._last_time is None:
            return None
        rtp_ts = None
        producer = self.source
        if producer is not None and self._started:
            source_ts = producer.rtp_timestamp_at(local_ntp)
            if source_ts is not None:
                rtp_ts = (source_ts + self._ts_off) & 0xFFFFFFFF
        if rtp_ts is None:
            rtp_ts = (self._max_ts + int((now - self._last_time) * self.clock_rate)) & 0xFFFFFFFF
        self._sr_lsr = (local_ntp >> 16) & 0xFFFFFFFF
        self._sr_time = now
        return rtp.pack_sender_report(self.ssrc, local_ntp, rtp_ts, self.packets, self.octets)
