"""Producer: one incoming track of a publisher, fanned out to its down tracks."""

from __future__ import annotations

import asyncio
import itertools
import struct
import time
from typing import Callable, Optional

from . import rtp

_U32 = struct.Struct("!I")
_ids = itertools.count(1)

KEYFRAME_REQUEST_INTERVAL = 0.3  # seconds: at most one PLI per producer per interval

# The audio-level header extension id that subscribers are offered (aiortc's fixed id).
SUBSCRIBER_AUDIO_LEVEL_ID = 2


class Producer:
    """Everything done once per inbound packet happens here, never per consumer: header parse,
    RTX unwrapping, keyframe detection, receive statistics. ``receive`` is the hot path."""

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
    ) -> None:
        self.id = f"pr_{next(_ids)}"
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
        self.set_codecs(codecs)

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

    # configuration

    def set_codecs(self, codecs: list) -> None:
        """Negotiated codecs (aiortc ``RTCRtpCodecParameters``) of the publish transceiver."""
        self.codecs = [c for c in codecs if c.mimeType.lower() != f"{self.kind}/rtx"]
        if not self.codecs:
            raise ValueError("no media codec negotiated")
        self.codec = self.codecs[0]
        self.clock_rate = self.codec.clockRate
        self.payload_types = {c.payloadType: c for c in self.codecs}
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
        end = n - data[-1] if b0 & 0x20 else n
        if end <= offset:
            return  # truncated, or padding only (bandwidth probes)
        if ssrc == self.ssrc:
            seq = (data[2] << 8) | data[3]
            # receive statistics (RFC 3550 appendix A.1, simplified)
            if self._max_seq < 0:
                self._base_seq = self._max_seq = seq
            else:
                delta = (seq - self._max_seq) & 0xFFFF
                if 0 < delta < 0x8000:
                    if seq < self._max_seq:
                        self._cycles += 0x10000
                    self._max_seq = seq
            self._received += 1
        else:
            apt = self._rtx_apt.get(b1 & 0x7F)
            if apt is None or end - offset < 3:
                return
            seq = (data[offset] << 8) | data[offset + 1]
            offset += 2
            b1 = (b1 & 0x80) | apt
        self.packets += 1
        plen = end - offset
        self.octets += plen
        fanout = self._fanout
        if not fanout or self.paused:
            return
        ts = _U32.unpack_from(data, 4)[0]
        if self.kind == "audio":
            keyframe = True
            level = self._audio_level(data, ext) if ext and self._audio_level_id else -1
            if level >= 0:
                rest = b"\xbe\xde\x00\x01" + bytes((SUBSCRIBER_AUDIO_LEVEL_ID << 4, level, 0, 0)) + data[offset:end]
                b0 = 0x90
            else:
                rest = data[offset:end]
                b0 = 0x80
        else:
            detect = self._keyframe
            keyframe = detect is not None and detect(data, offset, end)
            rest = data[offset:end]
            b0 = 0x80
        for track in fanout:
            track.forward(rest, b0, b1, seq, ts, plen, keyframe, now)

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
        wait = self._last_pli + KEYFRAME_REQUEST_INTERVAL - now
        if wait <= 0:
            self._send_pli(now)
        elif self._pli_timer is None:
            self._pli_timer = asyncio.get_running_loop().call_later(wait, self._deferred_pli)

    def _deferred_pli(self) -> None:
        self._pli_timer = None
        if not self.closed:
            self._send_pli(time.monotonic())

    def _send_pli(self, now: float) -> None:
        self._last_pli = now
        self.keyframe_requests += 1
        self._send_rtcp(rtp.pack_pli(self._rtcp_ssrc, self.ssrc))

    # RTCP

    def on_sender_report(self, ntp: int, rtp_timestamp: int, arrival_ntp: int) -> None:
        self.sr_ntp = ntp
        self.sr_rtp = rtp_timestamp
        self.sr_arrival_ntp = arrival_ntp

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
