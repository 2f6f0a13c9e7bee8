"""Producer: one incoming track of a publisher, fanned out to its down tracks."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import struct
import time
from typing import Callable, Optional

from . import red as red_format
from . import rtp
from .feedback import REMB_FLOOR, REMB_INTERVAL, REMB_STALE, aggregate_remb
from .nack import NackGenerator
from .speaker import VOICE_LEVEL, AudioActivity, NoiseFloor
from .twcc import transport_sequence

_U32 = struct.Struct("!I")
_ids = itertools.count(1)
# Producer ids are unique across processes (a producer piped to another process's router keeps
# its id there, beside that process's own producers): a random prefix per process.
_ID_PREFIX = secrets.token_hex(4)

KEYFRAME_REQUEST_INTERVAL = 0.3  # seconds: at most one PLI per producer per interval...
KEYFRAME_REQUEST_INTERVAL_MAX = 1.0  # ...or one per round trip to the publisher, up to this
# A subscriber's keyframe request waits while the SFU is still recovering lost packets of the
# stream by NACK (the picture may be whole again in a round trip), at most this long:
KEYFRAME_DEFER_MIN = 0.3
KEYFRAME_DEFER_MAX = 1.5
REPAIR_SAMPLE_MIN = 0.005  # seconds: a faster "repair" is a reordered packet, not a round trip

# Header extension ids that subscribers are offered (aiortc's fixed ids, checked in compat.py).
SUBSCRIBER_AUDIO_LEVEL_ID = 2
SUBSCRIBER_ABS_SEND_TIME_ID = 3

# abs-send-time (24 bits, seconds in 6.18 fixed point) as a one-byte-header extension block:
# "BEDE 0001" then the element (id, length 3 - 1) and the value, packed in one call.
_pack_abs_send_time = struct.Struct("!II").pack
ABS_SEND_TIME_ELEMENT = ((SUBSCRIBER_ABS_SEND_TIME_ID << 4) | 2) << 24  # id, length 3 - 1; value 0
_ABS_SEND_TIME_BLOCK = (rtp.ONE_BYTE_PROFILE << 16) | 1


class Producer:
    """Everything done once per inbound packet happens here, never per consumer: header parse,
    RTX unwrapping, loss detection (NACKs to the publisher), keyframe detection, receive
    statistics, audio activity. ``receive`` is the hot path."""

    def __init__(
        self,
        *,
        peer_id: str,
        source: str,
        kind: str,
        mid: str,
        codecs: list,
        ssrc: Optional[int],
        rtx_ssrc: Optional[int],
        audio_level_id: Optional[int],
        send_rtcp: Callable[[bytes], None],
        rtcp_ssrc: int,
        max_bitrate: int = 2_500_000,
    ) -> None:
        self.id = f"pr_{_ID_PREFIX}_{next(_ids)}"
        # simulcast (simulcast.py): a SimulcastProducer's encodings are Producers too, each with
        # its rid, its index (0: lowest) and the producer it is a layer of
        self.layers: tuple = ()
        self.rid: Optional[str] = None
        self.index = 0
        self.layer_of = None
        # the picture size of the last VP8 keyframe
        self.width: Optional[int] = None
        self.height: Optional[int] = None
        self.peer_id = peer_id
        self.source = source
        self.kind = kind
        self.mid = mid
        self.ssrc = ssrc
        self.rtx_ssrc = rtx_ssrc
        self.paused = False
        self.closed = False
        self._send_rtcp = send_rtcp
        self._rtcp_ssrc = rtcp_ssrc
        self._audio_level_id = audio_level_id if kind == "audio" else None
        self._fanout: tuple = ()
        # pipes to other routers (pipe.PipeOutput): each gets every packet as received
        self._pipes: tuple = ()
        # recorder.TrackRecorder while this stream is recorded: every packet, as received
        self.recorder = None
        self.set_codecs(codecs)
        self.max_bitrate = max_bitrate

        # transport-wide sequence numbers of the publish connection (twcc.py), if negotiated
        self.twcc = None

        # losses on the publisher's link: NACKed, retransmissions forwarded once
        self.nack = NackGenerator() if kind == "video" else None
        # a pipe's producer (pipe.py): subscribers' NACKs for packets that never arrived here
        # are passed upstream (repair_upstream)
        self.repairs_upstream = False
        self.nacked = 0  # sequence numbers asked for
        self.duplicates = 0
        # round trip to the publisher: from its XR DLRR (set_rtt), else from NACK answers
        self.rtt: Optional[float] = None
        self.rtt_from_reports = False

        # RED (red.py): packets forwarded, packets sent in RED to subscribers, packets dropped as
        # malformed, frames rebuilt from redundant blocks for subscribers of plain Opus; the
        # highest sequence number seen in RED
        self.red_packets = 0
        self.red_sent = 0
        self.red_malformed = 0
        self.red_recovered = 0
        self._red_seq = -1

        # audio activity (RFC 6464) of the packets since the last take_audio_activity(): how many
        # carried a level, how many of those were voiced right after a voiced one (a voice lasts,
        # a click does not), the loudest (a level byte: 0 loudest)
        self._level_count = 0
        self._level_voiced = 0
        self._level_run = 0  # 1 while the last packet was voiced
        self._level_peak = 127
        self._level_quiet = 0  # the quietest level of the interval
        # voiced: at or above VOICE_DBOV and clearly above this microphone's own noise floor
        self._noise = NoiseFloor()
        self._voice_level = -1  # nothing is voiced until the first interval has shown the floor

        # REMB to the publisher: the lowest of the consumers' estimates, rate-limited
        self.remb_sent: Optional[int] = None
        self._last_remb = -1e9

        # counters and receive statistics (for receiver reports)
        self.packets = 0
        self.octets = 0
        self.keyframe_requests = 0
        self._max_seq = -1
        self._cycles = 0
        self._base_seq = 0
        self._received = 0
        self._expected_prior = 0
        self._received_prior = 0

        # publisher's sender report: its NTP clock <-> this stream's RTP clock
        self.sr_ntp: Optional[int] = None
        self.sr_rtp = 0
        self.sr_arrival_ntp = 0
        self.ntp_offset: Optional[int] = None  # local NTP - publisher NTP, per publisher

        # keyframe request throttling
        self._last_pli = -1e9
        self._pli_timer: Optional[asyncio.TimerHandle] = None
        self._pli_deferred_since: Optional[float] = None
        self.keyframe_requests_deferred = 0  # subscribers' requests held while NACKs repair
        self.keyframes = 0

    # configuration

    def set_codecs(self, codecs: list) -> None:
        """Negotiated codecs (aiortc ``RTCRtpCodecParameters``) of the publish transceiver, and
        ``audio/red`` (red.red_codec) if the publisher sends Opus in RED (red.py)."""
        red = next((c for c in codecs if c.mimeType.lower() == red_format.RED_MIME and self.kind == "audio"), None)
        self.codecs = [c for c in codecs if c.mimeType.lower() not in (f"{self.kind}/rtx", red_format.RED_MIME)]
        if not self.codecs:
            raise ValueError("no media codec negotiated")
        self.codec = self.codecs[0]
        self.clock_rate = self.codec.clockRate
        self.payload_types = {c.payloadType: c for c in self.codecs}
        # RED: its payload type (-1: none); its blocks carry self.codec's payload type
        self.red_pt = red.payloadType if red is not None else -1
        if red is not None:
            self.payload_types[red.payloadType] = red
        self._rtx_apt = {
            c.payloadType: c.parameters.get("apt") for c in codecs
            if c.mimeType.lower() == f"{self.kind}/rtx" and c.parameters.get("apt") in self.payload_types
        }
        detectors = {pt: rtp.keyframe_detector(c.name) for pt, c in self.payload_types.items()}
        self._keyframe = detectors.get(self.codec.payloadType)

    @property
    def downtracks(self) -> tuple:
        return self._fanout

    def add_downtrack(self, track) -> None:
        if track not in self._fanout:
            self._fanout = self._fanout + (track,)

    def remove_downtrack(self, track) -> None:
        self._fanout = tuple(t for t in self._fanout if t is not track)

    @property
    def pipes(self) -> tuple:
        return self._pipes

    def add_pipe(self, output) -> None:
        """Send this producer's packets to another router too (pipe.PipeOutput)."""
        if output not in self._pipes:
            self._pipes = self._pipes + (output,)

    def remove_pipe(self, output) -> None:
        self._pipes = tuple(p for p in self._pipes if p is not output)

    def set_paused(self, paused: bool) -> None:
        if paused == self.paused:
            return
        self.paused = paused
        if not paused:
            for track in self._fanout:
                track.restart()

    def close(self) -> None:
        self.closed = True
        for track in self._fanout:
            track.unbind()
        self._fanout = ()
        for output in self._pipes:
            output.close()
        self._pipes = ()
        if self._pli_timer is not None:
            self._pli_timer.cancel()
            self._pli_timer = None

    # hot path

    def receive(self, data: bytes, ssrc: int, now: float) -> None:
        n = len(data)
        b0 = data[0]
        b1 = data[1]
        offset = 12 + 4 * (b0 & 0x0F)
        ext = 0
        if b0 & 0x10:
            if offset + 4 > n:
                return
            ext = offset
            offset += 4 + 4 * ((data[offset + 2] << 8) | data[offset + 3])
            twcc = self.twcc
            if twcc is not None and offset <= n:  # every packet counts, padding probes too
                tseq = transport_sequence(data, ext, twcc.ext_id)
                if tseq >= 0:
                    twcc.record(tseq, now)
        end = n - data[-1] if b0 & 0x20 else n
        if end <= offset:
            return  # truncated, or padding only (bandwidth probes)
        if ssrc == self.ssrc:
            seq = (data[2] << 8) | data[3]
            self._received += 1
            max_seq = self._max_seq
            delta = (seq - max_seq) & 0xFFFF
            if delta == 1 and max_seq >= 0:  # in order: the common case
                self._max_seq = seq
                if seq == 0:
                    self._cycles += 0x10000
                nack = self.nack
                if nack is not None and now >= nack.next_due:
                    self._send_nack(nack.due(now))
            elif not self._sequence_event(seq, delta, now):
                return
        else:
            apt = self._rtx_apt.get(b1 & 0x7F)
            if apt is None or end - offset < 3:
                return
            seq = (data[offset] << 8) | data[offset + 1]
            offset += 2
            b1 = (b1 & 0x80) | apt
            if not self._sequence_event(seq, (seq - self._max_seq) & 0xFFFF, now):
                return
            self._received += 1  # repaired: received, in our reports (as a late packet is)
        self.packets += 1
        recorder = self.recorder
        if recorder is not None and not self.paused:
            recorder.tap(data, offset, end, seq, b1, now)
        pipes = self._pipes
        if pipes and not self.paused:
            # to other routers as received (header extensions and all); a packet repaired by
            # RTX goes as the original: a pipe carries the main stream only
            original = data if ssrc == self.ssrc else rtp.unwrap_rtx(data, b1 & 0x7F, self.ssrc)
            for output in pipes:
                output.forward(original, seq)
        plen = end - offset
        self.octets += plen
        if self.kind == "audio":
            level = self._audio_level(data, ext) if ext and self._audio_level_id else -1
            if level >= 0:
                dbov = level & 0x7F
                self._level_count += 1
                if dbov < self._level_peak:
                    self._level_peak = dbov
                if dbov > self._level_quiet:
                    self._level_quiet = dbov
                if dbov <= self._voice_level:  # voiced, and counted if the packet before was voiced too
                    self._level_voiced += self._level_run
                    self._level_run = 1
                else:
                    self._level_run = 0
            fanout = self._fanout
            if not fanout or self.paused:
                return
            ts = _U32.unpack_from(data, 4)[0]
            keyframe = True
            if level >= 0:
                rest = b"\xbe\xde\x00\x01" + bytes((SUBSCRIBER_AUDIO_LEVEL_ID << 4, level, 0, 0)) + data[offset:end]
                b0 = 0x90
            else:
                rest = data[offset:end]
                b0 = 0x80
            if (b1 & 0x7F) == self.red_pt:
                self._forward_red(fanout, data, offset, end, rest, b0, b1, seq, ts, now)
                return
        else:
            fanout = self._fanout
            if not fanout or self.paused:
                if self.layer_of is not None:  # a simulcast layer nobody receives: keep its size known
                    self._keyframe_seen(data, offset, end)
                return
            ts = _U32.unpack_from(data, 4)[0]
            detect = self._keyframe
            keyframe = detect is not None and detect(data, offset, end)
            if keyframe:
                self._on_keyframe(data, offset, end)
            # abs-send-time (rtp.abs_send_time, inlined) for the subscribers' bandwidth
            # estimation, once for all: they are sent within this call (a DownTrack whose
            # subscriber declined the extension strips it)
            rest = _pack_abs_send_time(
                _ABS_SEND_TIME_BLOCK, ABS_SEND_TIME_ELEMENT | (int(now * 262144.0) & 0xFFFFFF)
            ) + data[offset:end]
            b0 = 0x90
        for track in fanout:
            track.forward(rest, b0, b1, seq, ts, plen, keyframe, now)

    def _forward_red(self, fanout: tuple, data: bytes, offset: int, end: int, rest: bytes,
                     b0: int, b1: int, seq: int, ts: int, now: float) -> None:
        """A RED packet (red.py): to each DownTrack in the form its subscriber negotiated, each
        form built at most once: RED with the blocks' payload type the subscriber's Opus
        (``track.red_block_pt``), or, for one that did not accept red, the primary block alone
        as plain Opus, after the frames of packets lost on the way in that this packet's
        redundant blocks carry. Malformed RED is dropped."""
        found = red_format.primary(data, offset, end)
        if found is None:
            self.red_malformed += 1
            return
        primary_pt, primary_start = found
        self.red_packets += 1
        prefix = len(rest) - (end - offset)  # the audio-level block, if any
        last = self._red_seq
        self._red_seq = seq if last < 0 or 0 < ((seq - last) & 0xFFFF) < 0x8000 else last
        plain = None
        forms = None
        sent = 0
        for track in fanout:
            block_pt = track.red_block_pt
            if block_pt is None:
                if plain is None:
                    plain = rest[:prefix] + data[primary_start:end]
                    plain_b1 = (b1 & 0x80) | primary_pt
                    plain_len = end - primary_start
                    missing = (seq - last - 1) & 0xFFFF if last >= 0 else 0
                    recovered = (red_format.redundant_for_gap(data, offset, end, missing)
                                 if 0 < missing <= red_format.MAX_RECOVERED else ())
                    self.red_recovered += len(recovered)
                for back, pt, ts_offset, payload in recovered:
                    track.forward(payload, 0x80, pt, (seq - back) & 0xFFFF, (ts - ts_offset) & 0xFFFFFFFF,
                                  len(payload), True, now)
                track.forward(plain, b0, plain_b1, seq, ts, plain_len, True, now)
                continue
            if forms is None:
                forms = {}
            body = forms.get(block_pt)
            if body is None:
                payload = red_format.set_block_pt(data, offset, end, self.codec.payloadType, block_pt)
                body = forms[block_pt] = b"" if payload is None else rest[:prefix] + payload
            if body:
                track.forward(body, b0, b1, seq, ts, end - offset, True, now)
                sent += 1
        self.red_sent += sent

    def _keyframe_seen(self, data: bytes, offset: int, end: int) -> None:
        """A video packet nobody receives: if it starts a keyframe, count it and read its size."""
        detect = self._keyframe
        if detect is not None and detect(data, offset, end):
            self._on_keyframe(data, offset, end)

    def _on_keyframe(self, data: bytes, offset: int, end: int) -> None:
        """A keyframe arrived: counted; a VP8 keyframe's picture size is read from it."""
        self.keyframes += 1
        if self._keyframe is rtp.vp8_is_keyframe:
            size = rtp.vp8_keyframe_size(data, offset, end)
            if size is not None:
                self.width, self.height = size

    def _sequence_event(self, seq: int, delta: int, now: float) -> bool:
        """Anything but the next packet in order (first packet, gap, late, retransmitted,
        duplicate): update the highest sequence number and the NACK state. False: drop it."""
        if self._max_seq < 0:
            self._base_seq = self._max_seq = seq
            return True
        nack = self.nack
        if 0 < delta < 0x8000:  # newer, after a gap
            if seq < self._max_seq:
                self._cycles += 0x10000
            first = (self._max_seq + 1) & 0xFFFF
            self._max_seq = seq
            if nack is not None:
                self._send_nack(nack.missing(first, delta - 1, now))
            return True
        # older than the highest (or the same): a late or retransmitted packet fills a gap
        if nack is None:
            return delta != 0
        if nack.received(seq, now):
            sample = nack.repair_sample
            if sample is not None:
                nack.repair_sample = None
                if not self.rtt_from_reports and sample >= REPAIR_SAMPLE_MIN:
                    self._rtt_sample(sample)
            return True
        self.duplicates += 1
        return False

    # round trip to the publisher

    def set_rtt(self, rtt: float) -> None:
        """The publisher link's round trip from its reports (XR DLRR): paces NACKs and PLIs."""
        self.rtt_from_reports = True
        self.rtt = rtt
        if self.nack is not None:
            self.nack.set_rtt(rtt)

    def _rtt_sample(self, sample: float) -> None:
        """A NACK answered after ``sample`` seconds: the round trip when reports give none."""
        self.rtt = sample if self.rtt is None else 0.8 * self.rtt + 0.2 * sample
        self.nack.set_rtt(self.rtt)

    def _send_nack(self, sequence_numbers: list[int]) -> None:
        if sequence_numbers and self.ssrc is not None and not self.closed:
            self.nacked += len(sequence_numbers)
            for i in range(0, len(sequence_numbers), 64):
                self._send_rtcp(rtp.pack_nack(self._rtcp_ssrc, self.ssrc, sequence_numbers[i:i + 64]))

    def repair_upstream(self, sequence_numbers: list[int], now: float) -> None:
        """Subscribers NACKed these (source numbers), and they never arrived here: ask upstream
        for those not already being asked for by the NACK generator and not ahead of the
        highest number seen (not sent yet)."""
        nack = self.nack
        top = self._max_seq
        if top < 0:
            return
        wanted = [s for s in sequence_numbers
                  if (nack is None or s not in nack) and ((top - s) & 0xFFFF) < 0x8000]
        self._send_nack(wanted)

    def take_audio_activity(self) -> Optional[AudioActivity]:
        """The packets since the last call: their loudest level (dBov) and the share of voiced
        ones (see speaker.py); None if no packet carried a level (or the producer is paused)."""
        count, voiced, peak = self._level_count, self._level_voiced, self._level_peak
        if count:
            self._voice_level = self._noise.update(self._level_quiet)
        self._level_count = self._level_voiced = self._level_quiet = 0
        self._level_peak = 127
        if not count or self.paused or self.closed:
            return None
        return AudioActivity(peak=-float(peak), voiced=voiced / count)

    def _audio_level(self, data: bytes, ext: int) -> int:
        """The audio-level byte (V flag and level) from a one-byte extension block, or -1."""
        if (data[ext] << 8 | data[ext + 1]) != rtp.ONE_BYTE_PROFILE:
            return -1
        i = ext + 4
        end = i + 4 * ((data[ext + 2] << 8) | data[ext + 3])
        wanted = self._audio_level_id
        while i < end:
            b = data[i]
            if b == 0:
                i += 1
                continue
            if b >> 4 == wanted:
                return data[i + 1]
            if b >> 4 == 15:
                return -1
            i += 2 + (b & 0x0F)
        return -1

    # keyframes

    def request_keyframe(self, now: Optional[float] = None) -> None:
        """Ask the publisher for a keyframe: coalesced, at most one PLI per interval."""
        if self.kind != "video" or self.closed or self.ssrc is None:
            return
        if now is None:
            now = time.monotonic()
        interval = KEYFRAME_REQUEST_INTERVAL
        if self.rtt is not None and self.rtt + 0.05 > interval:
            interval = min(KEYFRAME_REQUEST_INTERVAL_MAX, self.rtt + 0.05)
        wait = self._last_pli + interval - now
        if wait <= 0:
            self._send_pli(now)
        elif self._pli_timer is None:
            self._pli_timer = asyncio.get_running_loop().call_later(wait, self._deferred_pli)

    def subscriber_keyframe_request(self, now: float) -> bool:
        """A subscriber's PLI/FIR. While packets of this stream lost on the publisher's link are
        still being recovered by NACK, the picture may be whole again within a round trip, and
        a new keyframe (large, and itself exposed to loss) would only add to the load: the
        request is held, for at most about two round trips (a subscriber that still cannot
        decode asks again, as browsers do every 200 ms or so). Returns whether a PLI went out
        (or is scheduled)."""
        nack = self.nack
        if nack is not None and nack.pending:
            oldest = nack.oldest_asked()
            if oldest is not None and now - oldest < nack.max_age:
                rtt = self.rtt if self.rtt is not None else 0.1
                limit = min(KEYFRAME_DEFER_MAX, max(KEYFRAME_DEFER_MIN, 2 * rtt + 0.1))
                since = self._pli_deferred_since
                if since is None or now - since > 2 * limit:  # a new episode of loss
                    since = self._pli_deferred_since = now
                if now - since < limit:
                    self.keyframe_requests_deferred += 1
                    return False
        self._pli_deferred_since = None
        self.request_keyframe(now)
        return True

    def _deferred_pli(self) -> None:
        self._pli_timer = None
        if not self.closed:
            self._send_pli(time.monotonic())

    def _send_pli(self, now: float) -> None:
        self._last_pli = now
        self.keyframe_requests += 1
        self._send_rtcp(rtp.pack_pli(self._rtcp_ssrc, self.ssrc))

    # REMB

    def remb_bitrate(self, now: float) -> int:
        """The bitrate to allow the publisher: the lowest recent REMB of its unpaused
        consumers, clamped to [REMB_FLOOR, max_bitrate]."""
        values = [t.remb for t in self._fanout + self._pipes
                  if t.remb is not None and not t.paused and now - t.remb_time < REMB_STALE]
        return aggregate_remb(values, REMB_FLOOR, self.max_bitrate)

    def remb_due(self, now: float, changed_only: bool = False) -> Optional[bytes]:
        """A REMB packet for the publisher, at most one per REMB_INTERVAL; with
        ``changed_only``, only if the value moved by more than 10% since the last one."""
        if self.kind != "video" or self.ssrc is None or now - self._last_remb < REMB_INTERVAL:
            return None
        if self.layer_of is not None:
            return None  # a simulcast layer: its producer speaks for all of them
        bitrate = self.remb_bitrate(now)
        if changed_only and self.remb_sent is not None and abs(bitrate - self.remb_sent) <= self.remb_sent // 10:
            return None
        self._last_remb = now
        self.remb_sent = bitrate
        return rtp.pack_remb(self._rtcp_ssrc, bitrate, [self.ssrc])

    def on_consumer_remb(self, now: float) -> None:
        """A consumer's estimate changed: tell the publisher if the aggregate moved."""
        if self.layer_of is not None:
            return  # a simulcast layer: a subscriber's estimate picks its layer instead
        packet = self.remb_due(now, changed_only=True)
        if packet is not None:
            self._send_rtcp(packet)

    # RTCP

    def on_sender_report(self, ntp: int, rtp_timestamp: int, arrival_ntp: int) -> None:
        self.sr_ntp = ntp
        self.sr_rtp = rtp_timestamp
        self.sr_arrival_ntp = arrival_ntp
        if self.recorder is not None and self.ntp_offset is not None:
            self.recorder.sender_report((ntp + self.ntp_offset) & 0xFFFFFFFFFFFFFFFF, rtp_timestamp)
        if self._pipes and self.ntp_offset is not None and self.ssrc is not None:
            # on to the other routers, in this process's NTP clock (the same wall clock there;
            # they take it with an offset of 0): audio and video of one publisher stay in sync
            packet = rtp.pack_sender_report(self.ssrc, (ntp + self.ntp_offset) & 0xFFFFFFFFFFFFFFFF,
                                            rtp_timestamp, self.packets, self.octets)
            for output in self._pipes:
                output.send_rtcp(packet)

    def rtp_timestamp_at(self, local_ntp: int) -> Optional[int]:
        """This stream's RTP timestamp at a local NTP time, from the publisher's last SR."""
        if self.sr_ntp is None or self.ntp_offset is None:
            return None
        elapsed = (local_ntp - self.ntp_offset - self.sr_ntp) * self.clock_rate
        return (self.sr_rtp + (elapsed >> 32)) & 0xFFFFFFFF

    def report_block(self, local_ntp: int) -> Optional[tuple]:
        """A receiver report block for the publisher's main SSRC, or None before any packet."""
        if self._max_seq < 0 or self.ssrc is None:
            return None
        extended_max = self._cycles + self._max_seq
        expected = extended_max - self._base_seq + 1
        lost = expected - self._received
        expected_interval = expected - self._expected_prior
        received_interval = self._received - self._received_prior
        self._expected_prior = expected
        self._received_prior = self._received
        lost_interval = expected_interval - received_interval
        fraction = 0 if expected_interval <= 0 or lost_interval <= 0 else (lost_interval << 8) // expected_interval
        lsr = dlsr = 0
        if self.sr_ntp is not None:
            lsr = (self.sr_ntp >> 16) & 0xFFFFFFFF
            dlsr = ((local_ntp - self.sr_arrival_ntp) >> 16) & 0xFFFFFFFF
        return (self.ssrc, min(fraction, 255), lost, extended_max, 0, lsr, dlsr)

    def describe(self) -> dict:
        return {"id": self.id, "peer_id": self.peer_id, "source": self.source, "kind": self.kind,
                "mid": self.mid, "codec": self.codec.mimeType, "ssrc": self.ssrc, "paused": self.paused}
