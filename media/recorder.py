"""Recording without transcoding: each published track's RTP, depacketised into frames and muxed
with PyAV (VP8 and Opus to WebM, H.264 to Matroska), one file per track.

The packet path does O(1) work per packet: ``Producer.receive`` hands each packet of a recorded
producer to its :class:`TrackRecorder` (``tap``), which appends it to the recording's bounded
queue, or counts it dropped when the queue is full (a recording loses frames, forwarding never
waits). One writer thread per :class:`Recording` drains the queue every ``WRITE_INTERVAL``:

- **Reordering**: per track, packets wait in a small window (``JITTER_WINDOW``, long enough for a
  retransmission the SFU's NACK generator asked for, see nack.py) and leave in sequence order; a
  packet still missing when a later one has waited out the window is a loss. Numbers that jump
  by more than ``RESYNC_SEQUENCE`` either way (a new SSRC of the producer) start the track again.
- **Depacketising**: a video frame is the packets of one RTP timestamp up to the marker bit; a
  frame is written whole or not at all. Video starts on a keyframe; after a loss the track waits
  for the next keyframe and asks the publisher for one (a PLI through the producer, on the event
  loop). VP8: the payload descriptor is stripped (RFC 7741). H.264 (RFC 6184): single NAL units,
  STAP-A and FU-A become Annex-B. Opus: one packet is one frame (the primary block of RED).
  Packets of another payload type than the file's codec (a publisher may switch among the
  negotiated ones) are left out, and a frame is dropped as soon as it outgrows ``MAX_FRAME_BYTES``.
- **Timestamps**: RTP timestamps (unwrapped) are mapped to the wall clock with the publisher's
  sender reports (``Producer.on_sender_report``: its NTP time, in this host's clock through the
  publisher's offset, against its RTP time), so a publisher's audio and video line up. A track's
  first frames wait (at most ``CLOCK_WAIT``) for a sender report; without one the arrival time
  of its first packet stands in. Every file's timestamps count milliseconds from the recording's
  start, so all files of a recording share one time line.
- **Clock jumps**: a publisher that restarts its encoder (or a buggy or hostile one) may jump its
  RTP timestamps far forward or back without a new SSRC; the fixed mapping would then write frames
  hours ahead, or hold every later frame at the last time plus 1 ms. A frame whose mapped time is
  more than ``MAX_CLOCK_SKEW`` from its arrival, or more than ``MAX_BACKSTEP`` behind the last
  frame written, re-anchors the track's clock at its arrival (never before the last frame), counted
  in ``clock_jumps``. A track whose clock stands on arrival times (re-anchored, or no sender report
  within ``CLOCK_WAIT``) takes the next sender report that agrees with its frames' arrival. So no
  frame is written more than ``MAX_CLOCK_SKEW`` after it arrived (frames whose RTP time stands
  still are dropped there, ``untimed_frames``), and times never go backwards.
- **Resolution changes** (a camera switch, the encoder adapting): a keyframe may carry a new size
  (VP8: its frame header; H.264: its SPS). The file's track header keeps the first size (WebM and
  Matroska have one per track; PyAV/FFmpeg and Chromium follow the keyframes: a WebM whose VP8
  size changes plays and decodes through it), and every size is listed in ``resolutions`` with
  the time it starts.
- **Simulcast**: a track records one layer, the top one that sends; ``follow_layers`` (every
  ``FOLLOW_INTERVAL``, on the event loop) moves the tap when that changes (a publisher short of
  CPU or uplink stops its top layer mid-recording, and resumes it): the new layer starts at its
  keyframe, at its frames' arrival until its sender reports realign it (``layer_switches``).
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import fractions
import json
import logging
import os
import re
import secrets
import threading
import time
from typing import Optional

import av

from . import red as red_format
from . import rtp

logger = logging.getLogger(__name__)

QUEUE_LIMIT = 8192  # packets waiting for the writer, per recording (~10 s of a P=8 meeting at 1 Mb/s)
WRITE_INTERVAL = 0.02  # seconds between the writer's rounds
JITTER_WINDOW = 0.3  # seconds a packet waits for the ones before it (NACK repairs)
CLOCK_WAIT = 6.0  # seconds a track's first frames wait for a sender report (Chromium: every 5 s for audio)
STOP_TIMEOUT = 10.0  # seconds stop() waits for the writer to finish its files
NTP_UNIX_OFFSET = 2208988800  # seconds from 1900 (NTP) to 1970 (Unix)
TIME_BASE = fractions.Fraction(1, 1000)
MAX_FRAME_BYTES = 4 << 20  # a "frame" larger than this is garbage: dropped
RESYNC_SEQUENCE = 3000  # a packet this far behind the window (or ahead of it) is a jump of the stream's numbers
MAX_CLOCK_SKEW = 5.0  # seconds a frame's mapped time may differ from its arrival: more is a clock jump
MAX_BACKSTEP = 0.5  # seconds a frame's mapped time may fall behind the last one written: more is a jump back
MAX_DIMENSION = 16384  # pixels: a larger width or height read from a stream is garbage
FOLLOW_INTERVAL = 1.0  # seconds between the checks of which simulcast layer a track records

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")

# per codec: container format, file extension, PyAV codec name
FORMATS = {
    "vp8": ("webm", "webm", "vp8"),
    "opus": ("webm", "webm", "opus"),
    "h264": ("matroska", "mkv", "h264"),
}

_PACKET = 0
_SENDER_REPORT = 1
_NEW_STREAM = 2  # the tap moved to another simulcast layer


def new_recording_id() -> str:
    return "rec_" + datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "_" + secrets.token_hex(3)


def utc_iso(unix: float) -> str:
    return datetime.datetime.fromtimestamp(unix, datetime.timezone.utc).isoformat(timespec="milliseconds")


def recordable(producer) -> bool:
    """Whether a producer's codec can be written without transcoding."""
    return producer.codec.name.lower() in FORMATS


def recorded_stream(producer):
    """The stream to record of a producer: itself, or a simulcast producer's top layer that is
    sending (``SimulcastProducer.live``: a publisher short of CPU or uplink stops its top layer,
    which would leave the file empty), else its top layer."""
    layers = producer.layers
    if not layers:
        return producer
    live = getattr(producer, "live", None) or []
    for index in range(min(len(layers), len(live)) - 1, -1, -1):
        if live[index] and layers[index].packets:
            return layers[index]
    return layers[-1]


# ---- depacketisers (pure functions of one RTP payload) -------------------------------------------

ANNEX_B = b"\x00\x00\x00\x01"


def h264_nal_units(data: bytes, offset: int, end: int, fragment: bytearray) -> Optional[tuple[bytes, bool, bool]]:
    """One H.264 RTP payload (RFC 6184: single NAL unit, STAP-A, FU-A) as Annex-B bytes:
    ``(bytes, starts_a_nal_unit_run, keyframe)``. A FU-A fragment is collected in ``fragment``
    (emptied at its start), its NAL unit given with its last fragment. None if malformed or
    unsupported (a middle fragment whose start was lost is caught by the caller's gap check)."""
    if end <= offset:
        return None
    nal_type = data[offset] & 0x1F
    if 1 <= nal_type <= 23:
        return ANNEX_B + data[offset:end], True, nal_type in (5, 7)
    if nal_type == 24:  # STAP-A: 16-bit sizes
        out = bytearray()
        key = False
        i = offset + 1
        while i + 2 <= end:
            size = (data[i] << 8) | data[i + 1]
            i += 2
            if size == 0 or i + size > end:
                return None
            key = key or (data[i] & 0x1F) in (5, 7)
            out += ANNEX_B + data[i:i + size]
            i += size
        return bytes(out), True, key
    if nal_type == 28:  # FU-A
        if end - offset < 3:
            return None
        header = data[offset + 1]
        if header & 0x80:  # start
            fragment.clear()
            fragment += ANNEX_B + bytes(((data[offset] & 0xE0) | (header & 0x1F),))
        elif not fragment:
            return None
        fragment += data[offset + 2:end]
        if len(fragment) > MAX_FRAME_BYTES:  # fragments that never end: garbage, not memory
            fragment.clear()
            return None
        if header & 0x40:  # end
            nal = bytes(fragment)
            fragment.clear()
            return nal, True, (header & 0x1F) in (5, 7)
        return b"", True, False
    return None


def vp8_frame_size(frame: bytes) -> Optional[tuple[int, int]]:
    """Width and height of a VP8 keyframe (RFC 6386 9.1: the 3-byte frame tag with P = 0, the
    start code 9d 01 2a, then 14-bit width and height, each with 2 bits of scaling), or None."""
    if len(frame) < 10 or frame[0] & 0x01 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    width = (frame[6] | (frame[7] << 8)) & 0x3FFF
    height = (frame[8] | (frame[9] << 8)) & 0x3FFF
    return (width, height) if width and height else None


class _Bits:
    """An H.264 RBSP read bit by bit (exp-Golomb codes); IndexError past its end."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def bit(self) -> int:
        byte = self.data[self.pos >> 3]
        value = (byte >> (7 - (self.pos & 7))) & 1
        self.pos += 1
        return value

    def bits(self, count: int) -> int:
        value = 0
        for _ in range(count):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while not self.bit():
            zeros += 1
            if zeros > 31:
                raise ValueError("exp-Golomb code too long")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) // 2 if code & 1 else -(code // 2)


_HIGH_PROFILES = frozenset((100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135))


def h264_sps_size(nal: bytes) -> Optional[tuple[int, int]]:
    """Width and height (after cropping) from an H.264 SPS NAL unit, header byte included
    (ITU-T H.264 7.3.2.1.1), or None if it is not one or is malformed."""
    if len(nal) < 4 or nal[0] & 0x1F != 7:
        return None
    rbsp = nal[1:].replace(b"\x00\x00\x03", b"\x00\x00")  # emulation prevention
    bits = _Bits(rbsp)
    try:
        profile = bits.bits(8)
        bits.bits(16)  # constraint flags, level
        bits.ue()  # seq_parameter_set_id
        chroma_format = 1
        separate_planes = 0
        if profile in _HIGH_PROFILES:
            chroma_format = bits.ue()
            if chroma_format == 3:
                separate_planes = bits.bit()
            bits.ue()  # bit depths
            bits.ue()
            bits.bit()  # qpprime_y_zero_transform_bypass
            if bits.bit():  # scaling matrices
                for index in range(8 if chroma_format != 3 else 12):
                    if bits.bit():
                        last = following = 8
                        for _ in range(16 if index < 6 else 64):
                            if following:
                                following = (last + bits.se()) % 256
                            last = following or last
        bits.ue()  # log2_max_frame_num
        order_type = bits.ue()
        if order_type == 0:
            bits.ue()
        elif order_type == 1:
            bits.bit()
            bits.se()
            bits.se()
            cycle = bits.ue()
            if cycle > 255:
                return None
            for _ in range(cycle):
                bits.se()
        bits.ue()  # max_num_ref_frames
        bits.bit()  # gaps_in_frame_num_value_allowed
        width_mbs = bits.ue() + 1
        height_units = bits.ue() + 1
        frame_mbs_only = bits.bit()
        if not frame_mbs_only:
            bits.bit()  # mb_adaptive_frame_field
        bits.bit()  # direct_8x8_inference
        crop = (bits.ue(), bits.ue(), bits.ue(), bits.ue()) if bits.bit() else (0, 0, 0, 0)
    except (IndexError, ValueError):
        return None
    chroma = 0 if separate_planes else chroma_format
    unit_x = 1 if chroma in (0, 3) else 2
    unit_y = (2 - frame_mbs_only) * (2 if chroma == 1 else 1)
    width = width_mbs * 16 - unit_x * (crop[0] + crop[1])
    height = (2 - frame_mbs_only) * height_units * 16 - unit_y * (crop[2] + crop[3])
    if not (0 < width <= MAX_DIMENSION and 0 < height <= MAX_DIMENSION):
        return None
    return width, height


def frame_size(codec: str, frame: bytes) -> Optional[tuple[int, int]]:
    """The picture size a video keyframe (VP8, or Annex-B H.264 with its SPS) announces, or None."""
    if codec == "vp8":
        return vp8_frame_size(frame)
    for nal in frame.split(ANNEX_B):
        if nal and nal[0] & 0x1F == 7:
            return h264_sps_size(nal)
    return None


# ---- one track ------------------------------------------------------------------------------------

class TrackRecorder:
    """A recorded producer (stream): ``tap`` runs on the packet path; everything else in the
    recording's writer thread."""

    def __init__(self, recording: "Recording", producer, stream, path: str, name: str) -> None:
        self.recording = recording
        self.producer = producer
        self.stream = stream  # the Producer whose packets these are (a simulcast layer, or producer)
        self.path = path
        self.file = name
        self.kind = producer.kind
        self.codec = producer.codec.name.lower()
        self.clock_rate = producer.clock_rate
        self.payload_type = producer.codec.payloadType
        self.red_pt = producer.red_pt
        self.info = {"participant_id": producer.peer_id, "source": producer.source, "kind": producer.kind,
                     "producer_id": producer.id, "codec": producer.codec.mimeType, "file": name}
        # the packet path's counters
        self.queued = 0
        self.dropped = 0  # packets dropped because the writer's queue was full
        # writer state
        self._pending: dict[int, tuple] = {}  # extended seq -> (data, offset, end, b1, arrival)
        self._next_seq: Optional[int] = None  # the extended sequence number expected next
        self._top_seq = -1
        self.lost = 0  # packets never received (or too late), counted by the reorderer
        self._frame: list = []  # (payload bytes) of the frame being assembled
        self._frame_bytes = 0
        self._frame_ts: Optional[int] = None
        self._frame_key = False
        self._frame_ok = False
        self._fragment = bytearray()
        self._need_keyframe = self.kind == "video"
        self._keyframe_asked = -1e9
        self._ts_base: Optional[int] = None  # first RTP timestamp, and its unwrapping
        self._ts_last = 0
        self._ts_ext = 0
        self._arrival_clock: Optional[tuple[float, int]] = None  # (wall, extended ts) of the first frame
        self._sender_report: Optional[tuple[float, int]] = None  # (wall, RTP time) of the last SR
        self._sr_new = False  # a sender report came that no frame has been checked against yet
        self._clock: Optional[tuple[float, int]] = None  # the mapping used, fixed once settled
        self.clock_source: Optional[str] = None
        self._realign = False  # the clock stands on an arrival time: a sender report that agrees replaces it
        self.clock_jumps = 0  # re-anchorings of the clock (the publisher's RTP time jumped)
        self.untimed = 0  # frames not written: their time stood still until MAX_CLOCK_SKEW past their arrival
        self.other_codec = 0  # packets of another payload type than the file's codec (a publisher switched)
        self.layer_switches = 0  # moves of the tap to another simulcast layer (Recording.follow_layers)
        self._new_time_line = False  # the next frame is of another layer: its clock starts at its arrival
        self._held: list[tuple] = []  # frames waiting for the clock: (ext ts, data, key, arrival, size)
        self._held_since: Optional[float] = None
        self._container = None
        self._av_stream = None
        self._last_pts = -1
        self.frames = 0
        self.keyframes = 0
        self.first_pts: Optional[int] = None
        self.width: Optional[int] = None  # the first size written (the file's track header)
        self.height: Optional[int] = None
        self._size: Optional[tuple[int, int]] = None  # the size of the last keyframe written
        self.resolutions: list[dict] = []  # each size written: {at (s on the time line), width, height}
        self.error: Optional[str] = None

    # packet path (event loop): O(1)

    def tap(self, data: bytes, offset: int, end: int, seq: int, b1: int, now: float) -> None:
        queue = self.recording.queue
        if len(queue) >= QUEUE_LIMIT:
            self.dropped += 1
            return
        self.queued += 1
        queue.append((self, _PACKET, data, offset, end, seq, b1, now))

    def sender_report(self, local_ntp: int, rtp_timestamp: int) -> None:
        queue = self.recording.queue
        if len(queue) < QUEUE_LIMIT:  # a flood of reports cannot grow the queue either
            queue.append((self, _SENDER_REPORT, local_ntp, rtp_timestamp))

    # writer thread

    def _extend_ts(self, ts: int) -> int:
        if self._ts_base is None:
            self._ts_base = self._ts_last = ts
            return 0
        delta = (ts - self._ts_last) & 0xFFFFFFFF
        if delta < 0x80000000:
            self._ts_ext += delta
            self._ts_last = ts
            return self._ts_ext
        return self._ts_ext - ((self._ts_last - ts) & 0xFFFFFFFF)  # older than the last

    def on_sender_report(self, local_ntp: int, rtp_timestamp: int) -> None:
        self._sender_report = (local_ntp / 4294967296.0 - NTP_UNIX_OFFSET, rtp_timestamp)
        self._sr_new = True

    def on_new_stream(self, now: float) -> None:
        """The tap moved to another simulcast layer (its own SSRC, numbers, RTP time, sender
        reports and size): what the old one left is finished; the new one starts at a keyframe,
        its frames placed from their arrival until one of its sender reports realigns them."""
        self.release(now, flush=True)
        if self.kind == "video":
            self._end_frame(now, complete=False)
            self._need_keyframe = True
        self._fragment.clear()
        self._top_seq = -1
        self._next_seq = None
        self.layer_switches += 1
        if self._clock is None and self._held:
            self.settle()  # the old layer's frames, by the old layer's report
        if self._clock is None:  # nothing written yet: the new layer starts afresh
            self._arrival_clock = self._held_since = self._ts_base = None
            self._ts_ext = 0
        else:
            self._new_time_line = True
        self._sender_report = None
        self._sr_new = False

    def _sr_clock(self) -> Optional[tuple[float, int]]:
        """The last sender report as (wall, extended RTP time), near the last frame's time."""
        if self._sender_report is None or self._ts_base is None:
            return None
        wall, ts = self._sender_report
        delta = (ts - self._ts_last) & 0xFFFFFFFF
        return wall, self._ts_ext + (delta if delta < 0x80000000 else delta - 0x100000000)

    def on_packet(self, data: bytes, offset: int, end: int, seq: int, b1: int, arrival: float) -> None:
        """Into the reordering window (seq extended around the highest seen)."""
        if self._top_seq < 0:
            ext = seq
        else:
            delta = (seq - (self._top_seq & 0xFFFF)) & 0xFFFF
            ext = self._top_seq + delta if delta < 0x8000 else self._top_seq - ((self._top_seq - seq) & 0xFFFF)
        if self._next_seq is None:
            self._next_seq = ext
        elif ext < self._next_seq - RESYNC_SEQUENCE or ext > self._top_seq + RESYNC_SEQUENCE:
            # the numbers jumped (back, or forward: a new SSRC of the producer, a restarted
            # sender): start again from here; the numbers skipped were never sent, not lost
            self.release(arrival, flush=True)
            if self.kind == "video":
                self._end_frame(arrival, complete=False)
                self._want_keyframe(arrival)
            self._top_seq = self._next_seq = ext
        if ext > self._top_seq:
            self._top_seq = ext
        if ext < self._next_seq or ext in self._pending:
            return  # too late (already given up on) or a duplicate
        self._pending[ext] = (data, offset, end, b1, arrival)

    def release(self, now: float, flush: bool = False) -> None:
        """Packets leave the window in order; a hole whose later packets have waited out the
        window (or every hole, with ``flush``) is a loss."""
        pending = self._pending
        while pending:
            item = pending.pop(self._next_seq, None)
            if item is not None:
                self._next_seq += 1
                self._depacketise(item, False)
                continue
            first = min(pending)
            if not flush and now - pending[first][4] < JITTER_WINDOW:
                break
            self.lost += first - self._next_seq
            self._next_seq = first + 1
            self._depacketise(pending.pop(first), True)

    def _depacketise(self, item: tuple, gap: bool) -> None:
        data, offset, end, b1, arrival = item
        ts = rtp.RTP_HEADER.unpack_from(data, 0)[3]
        if not self._ours(b1 & 0x7F):
            # another negotiated codec (a publisher may switch at any time): never into this
            # file, whose decoder would take it for its own; video goes on at a keyframe of ours
            self.other_codec += 1
            if self.kind == "video":
                self._end_frame(arrival, complete=False)
                self._need_keyframe = True
            return
        if self.kind == "audio":  # Opus frames stand alone: a loss loses only them
            if (b1 & 0x7F) == self.red_pt:
                found = red_format.primary(data, offset, end)
                if found is None:
                    return
                offset = found[1]
            if end > offset:
                self._frame_done((self._extend_ts(ts), data[offset:end], True, arrival, None))
            return
        if gap or (self._frame_ts is not None and ts != self._frame_ts):
            self._end_frame(arrival, complete=False)  # the frame before lost its end
        if gap:
            self._fragment.clear()
            self._want_keyframe(arrival)  # what was lost may be referenced by what follows
        if self.codec == "vp8":
            parsed = rtp.vp8_payload(data, offset, end)
            if parsed is None:
                self._frame_ok = False
                return
            start, key, payload = parsed
            if self._frame_ts is None:
                self._frame_ts = ts
                self._frame_ok = start
                self._frame_key = key
            self._append(data[payload:end])
        else:  # h264
            if self._frame_ts is None:
                self._frame_ts = ts
                self._frame_ok = True
                self._frame_key = False
            parsed = h264_nal_units(data, offset, end, self._fragment)
            if parsed is None:
                self._frame_ok = False
                return
            nal, _, key = parsed
            self._frame_key = self._frame_key or key
            if nal:
                self._append(nal)
        if b1 & 0x80:  # marker: the frame's last packet
            self._end_frame(arrival, complete=True)

    def _ours(self, payload_type: int) -> bool:
        """Whether a payload type is this file's codec (or RED around it): the one it was
        opened with, or the same codec numbered anew by a renegotiation."""
        if payload_type == self.payload_type or payload_type == self.red_pt:
            return True
        codec = (getattr(self.stream, "payload_types", None) or {}).get(payload_type)
        return codec is not None and codec.name.lower() == self.codec

    def _append(self, payload: bytes) -> None:
        """A part of the frame being assembled; one that grows past ``MAX_FRAME_BYTES`` (its
        timestamp never changes, its marker never comes) is dropped as it grows, not kept."""
        if not self._frame_ok:
            return
        self._frame_bytes += len(payload)
        if self._frame_bytes > MAX_FRAME_BYTES:
            self._frame_ok = False
            self._frame = []
            return
        self._frame.append(payload)

    def _end_frame(self, arrival: float, complete: bool) -> None:
        if self._frame_ts is None:
            return
        ok = complete and self._frame_ok and not (self.codec == "h264" and self._fragment)
        frame = b"".join(self._frame)
        key = self._frame_key
        ts = self._frame_ts
        self._frame = []
        self._frame_bytes = 0
        self._frame_ts = None
        self._frame_ok = False
        self._frame_key = False
        self._fragment.clear()
        if not ok or not frame or len(frame) > MAX_FRAME_BYTES:
            self._want_keyframe(arrival)
            return
        if self._need_keyframe:
            if not key:
                self._want_keyframe(arrival)
                return
            self._need_keyframe = False
        size = frame_size(self.codec, frame) if key else None
        self._frame_done((self._extend_ts(ts), frame, key, arrival, size))

    def _want_keyframe(self, now: float) -> None:
        self._need_keyframe = True
        if now - self._keyframe_asked >= 0.3:
            self._keyframe_asked = now
            self.recording.request_keyframe(self.stream)

    def _frame_done(self, item: tuple) -> None:
        """A whole frame ``(ext ts, data, key, arrival, size)``: written, or held until the
        track's clock is settled (a sender report that agrees with the frames' arrival, or the
        first frame's arrival once ``CLOCK_WAIT`` has passed)."""
        ext_ts, _, _, arrival, _ = item
        if self._arrival_clock is None:
            self._arrival_clock = (self.recording.wall(arrival), ext_ts)
        if self._clock is not None:
            self._write(item)
            return
        self._held.append(item)
        if self._held_since is None:
            self._held_since = arrival
        reported = self._reported_clock(ext_ts, arrival)
        if reported is not None:
            self._settle_clock(reported, "sender_report")
        elif arrival - self._held_since >= CLOCK_WAIT:
            self._settle_clock(self._arrival_clock, "arrival")
        else:
            return
        self._write_held()

    def settle(self) -> None:
        """At the end: frames still waiting for a clock take the best one there is."""
        if not self._held:
            return
        if self._clock is None:
            ext_ts, _, _, arrival, _ = self._held[-1]
            reported = self._reported_clock(ext_ts, arrival)
            if reported is not None:
                self._settle_clock(reported, "sender_report")
            else:
                self._settle_clock(self._arrival_clock, "arrival")
        self._write_held()

    def _settle_clock(self, clock: tuple[float, int], source: str) -> None:
        self._clock, self.clock_source = clock, source
        self._realign = source != "sender_report"

    def _write_held(self) -> None:
        held, self._held = self._held, []
        for item in held:
            self._write(item)

    def _wall_at(self, clock: tuple[float, int], ext_ts: int) -> float:
        return clock[0] + (ext_ts - clock[1]) / self.clock_rate

    def _last_wall(self) -> float:
        """The wall time of the last frame written (-inf before the first)."""
        return self.recording.started_wall + self._last_pts / 1000.0 if self._last_pts >= 0 else float("-inf")

    def _reported_clock(self, ext_ts: int, arrival: float) -> Optional[tuple[float, int]]:
        """The latest sender report's mapping, if one came since the last frame written and it
        puts the frame ``ext_ts`` (arrived at ``arrival``) within ``MAX_CLOCK_SKEW`` of its arrival
        and not more than ``MAX_BACKSTEP`` before the last frame written (a report sent before a
        jump of the RTP time describes the old time line)."""
        if not self._sr_new:
            return None
        self._sr_new = False
        reported = self._sr_clock()
        if reported is None:
            return None
        wall = self._wall_at(reported, ext_ts)
        if abs(wall - self.recording.wall(arrival)) > MAX_CLOCK_SKEW or wall < self._last_wall() - MAX_BACKSTEP:
            self._sr_new = self._clock is None  # still waiting: the same report is looked at again
            return None
        return reported

    def _frame_wall(self, ext_ts: int, arrival: float) -> float:
        """The frame's wall time by the track's clock, re-anchored first if the RTP time jumped:
        the frame lands more than ``MAX_CLOCK_SKEW`` from its arrival, or more than
        ``MAX_BACKSTEP`` before the last frame written."""
        arrived = self.recording.wall(arrival)
        if self._new_time_line:  # another layer's first frame
            self._new_time_line = False
            return self._reanchor(ext_ts, arrived)
        if self._realign:
            reported = self._reported_clock(ext_ts, arrival)
            if reported is not None:
                self._settle_clock(reported, "sender_report")
        wall = self._wall_at(self._clock, ext_ts)
        last = self._last_wall()
        if abs(wall - arrived) <= MAX_CLOCK_SKEW and wall >= last - MAX_BACKSTEP:
            return wall
        self.clock_jumps += 1
        if self.clock_jumps <= 3:  # a stream that jumps on every frame does not flood the log
            logger.info("recording %s: RTP time jumped, clock re-anchored (%d)", self.path, self.clock_jumps)
        return self._reanchor(ext_ts, arrived)

    def _reanchor(self, ext_ts: int, arrived: float) -> float:
        """The frame ``ext_ts`` is placed at its arrival (after the last one written), the RTP
        time line starts again from it, and a later sender report may realign it."""
        wall = max(arrived, self._last_wall() + 0.001)
        self._clock = (wall, ext_ts)
        self.clock_source = "arrival"
        self._realign = True
        self._ts_ext = ext_ts
        self._ts_last = (self._ts_base + ext_ts) & 0xFFFFFFFF
        return wall

    def _open(self) -> None:
        fmt, _, codec = FORMATS[self.codec]
        container = av.open(self.path, "w", format=fmt)
        if self.kind == "audio":
            stream = container.add_stream(codec, rate=self.clock_rate)
            stream.codec_context.layout = "stereo"
        else:
            stream = container.add_stream(codec, rate=30)
            stream.width = self.width or 640
            stream.height = self.height or 480
            stream.pix_fmt = "yuv420p"
        stream.time_base = TIME_BASE
        self._container = container
        self._av_stream = stream

    def _write(self, item: tuple) -> None:
        ext_ts, frame, key, arrival, size = item
        if self.error is not None:
            return
        wall = self._frame_wall(ext_ts, arrival)
        pts = max(0, round((wall - self.recording.started_wall) * 1000.0))
        if pts <= self._last_pts:
            pts = self._last_pts + 1
            if self.recording.started_wall + pts / 1000.0 > self.recording.wall(arrival) + MAX_CLOCK_SKEW:
                # frames whose time stands still (the same RTP time over and over, faster than one
                # a millisecond) would pile up ahead of the others: beyond the skew, they go
                self.untimed += 1
                return
        if size is not None and self._container is None and self.width is None:
            self.width, self.height = size  # the track header's size: the first one
        try:
            if self._container is None:
                self._open()
            packet = av.Packet(frame)
            packet.pts = packet.dts = pts
            packet.time_base = TIME_BASE
            packet.stream = self._av_stream
            packet.is_keyframe = key
            self._container.mux(packet)
        except Exception as exc:  # a file that cannot be written ends this track, not the others
            self.error = f"{type(exc).__name__}: {exc}"
            logger.warning("recording %s failed: %s", self.path, self.error)
            self._close_container()
            return
        if self.first_pts is None:
            self.first_pts = pts
        if size is not None and size != self._size:
            self._size = size
            self.resolutions.append({"at": pts / 1000.0, "width": size[0], "height": size[1]})
        self._last_pts = pts
        self.frames += 1
        self.keyframes += key and self.kind == "video"

    def _close_container(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            try:
                container.close()
            except Exception as exc:
                self.error = self.error or f"{type(exc).__name__}: {exc}"

    def finish(self, now: float) -> dict:
        self.release(now, flush=True)
        if self.kind == "video":
            self._end_frame(now, complete=False)
        self.settle()
        self._close_container()
        info = dict(self.info)
        started = self.recording.started_wall
        info.update(
            frames=self.frames, keyframes=self.keyframes if self.kind == "video" else None,
            packets=self.queued, dropped_packets=self.dropped, lost_packets=self.lost,
            other_codec_packets=self.other_codec,
            clock=self.clock_source, clock_jumps=self.clock_jumps, untimed_frames=self.untimed,
            layer_switches=self.layer_switches,
            width=self.width, height=self.height,
            resolutions=self.resolutions if self.kind == "video" else None,
            start=None if self.first_pts is None else utc_iso(started + self.first_pts / 1000.0),
            start_offset=None if self.first_pts is None else self.first_pts / 1000.0,
            end_offset=None if self.first_pts is None else self._last_pts / 1000.0,
            error=self.error,
        )
        if not self.frames:
            info["file"] = None
            try:
                os.unlink(self.path)
            except OSError:
                pass
        return info


# ---- one recording (of a router) ------------------------------------------------------------------

class Recording:
    """The recording of one router's producers into ``directory`` (created), with one writer
    thread. ``add(producer)`` taps a producer (and its later packets); ``stop()`` (a coroutine)
    finishes every file and returns the tracks' descriptions for the manifest. Without ``writer``
    no thread runs: the caller drives the writer's rounds with ``write_round(now)`` and ends with
    ``finish(now)`` (tests, with times of their choosing)."""

    def __init__(self, recording_id: str, directory: str, loop: Optional[asyncio.AbstractEventLoop] = None,
                 writer: bool = True) -> None:
        self.id = recording_id
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self.queue: collections.deque = collections.deque()
        self.tracks: list[TrackRecorder] = []
        self._names: set[str] = set()
        self._loop = loop or asyncio.get_running_loop()
        self.started_wall = time.time()
        self.started_monotonic = time.monotonic()
        self._wall_offset = self.started_wall - self.started_monotonic  # wall = monotonic + offset
        self.stopped_wall: Optional[float] = None
        self._stop = threading.Event()
        self._follow_timer: Optional[asyncio.TimerHandle] = None
        self._thread: Optional[threading.Thread] = None
        if writer:
            self._thread = threading.Thread(target=self._run, name=f"recorder-{recording_id}", daemon=True)
            self._thread.start()

    def wall(self, monotonic: float) -> float:
        return monotonic + self._wall_offset

    @property
    def dropped(self) -> int:
        return sum(t.dropped for t in self.tracks)

    def add(self, producer) -> Optional[TrackRecorder]:
        """Record ``producer`` (the top layer of a simulcast one) from its next packet; None if
        its codec cannot be recorded without transcoding, or it is recorded already."""
        if not recordable(producer) or self._stop.is_set() or self._tapped(producer):
            return None
        stream = recorded_stream(producer)
        _, extension, _ = FORMATS[producer.codec.name.lower()]
        base = _SAFE.sub("_", f"{producer.peer_id}-{producer.source}-{producer.kind}")[:120]
        name = f"{base}.{extension}"
        count = 1
        while name in self._names:
            count += 1
            name = f"{base}-{count}.{extension}"
        self._names.add(name)
        track = TrackRecorder(self, producer, stream, os.path.join(self.directory, name), name)
        self.tracks.append(track)
        stream.recorder = track
        if producer.kind == "video":
            self._loop.call_soon(self._keyframe, stream)  # start on a keyframe soon
        if producer.layers and self._follow_timer is None:
            self._follow_timer = self._loop.call_later(FOLLOW_INTERVAL, self._follow)
        return track

    def _tapped(self, producer) -> Optional[TrackRecorder]:
        """The track that records ``producer`` now (whichever of its layers it taps)."""
        for track in self.tracks:
            if track.producer is producer and track.stream.recorder is track:
                return track
        return None

    def detach(self, producer) -> None:
        """Stop tapping ``producer`` (its file is finished with the others at ``stop``)."""
        track = self._tapped(producer)
        if track is not None:
            track.stream.recorder = None

    def _follow(self) -> None:
        self._follow_timer = None
        if self._stop.is_set():
            return
        try:
            self.follow_layers(time.monotonic())
        except Exception:
            logger.exception("recording %s: following the simulcast layers failed", self.id)
        self._follow_timer = self._loop.call_later(FOLLOW_INTERVAL, self._follow)

    def follow_layers(self, now: float) -> None:
        """On the event loop: a simulcast track whose recorded layer stopped sending (a publisher
        short of CPU or uplink stops its top layer; the file would end there) moves to the top
        layer that sends, and back up when a higher one sends again (``recorded_stream``). The
        writer learns it in packet order (the new layer's packets come after it in the queue)."""
        for track in self.tracks:
            producer = track.producer
            if not producer.layers or track.stream.recorder is not track:
                continue
            measure = getattr(producer, "measure", None)
            if measure is not None:
                measure(now)  # the layers' liveness, as fresh as the subscribers' allocation keeps it
            target = recorded_stream(producer)
            live = getattr(producer, "live", None) or []
            index = list(producer.layers).index(target)
            if target is track.stream or target.recorder is not None or index >= len(live) or not live[index]:
                continue
            track.stream.recorder = None
            target.recorder = track
            track.stream = target
            self.queue.append((track, _NEW_STREAM, now))
            self._keyframe(target)

    def request_keyframe(self, stream) -> None:
        """From the writer thread: a PLI to the publisher, on the event loop."""
        try:
            self._loop.call_soon_threadsafe(self._keyframe, stream)
        except RuntimeError:  # the loop is closed
            pass

    @staticmethod
    def _keyframe(stream) -> None:
        if not stream.closed:
            stream.request_keyframe()

    def write_round(self, now: float) -> None:
        """One round of the writer: the queue into the tracks, then what has waited out their
        reordering window into the files."""
        queue = self.queue
        popleft = queue.popleft
        while queue:
            item = popleft()
            track = item[0]
            if item[1] == _PACKET:
                track.on_packet(*item[2:])
            elif item[1] == _SENDER_REPORT:
                track.on_sender_report(item[2], item[3])
            else:
                track.on_new_stream(item[2])
        for track in list(self.tracks):
            track.release(now)

    def _run(self) -> None:
        while not self._stop.wait(WRITE_INTERVAL):
            try:
                self.write_round(time.monotonic())
            except Exception:
                logger.exception("recording %s: writer round failed", self.id)
        self.write_round(time.monotonic())

    def _finish(self) -> list[dict]:
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT)
        else:
            self.write_round(time.monotonic())
        return self.finish(time.monotonic())

    def finish(self, now: float) -> list[dict]:
        """Every track's file finished (what waits in the reordering windows written first), and
        the tracks' descriptions. In the writer thread's place: once it has ended, or without one."""
        results = []
        for track in self.tracks:
            try:
                results.append(track.finish(now))
            except Exception as exc:
                logger.exception("recording %s: finishing %s failed", self.id, track.path)
                results.append(dict(track.info, error=f"{type(exc).__name__}: {exc}"))
        return results

    async def stop(self) -> list[dict]:
        """Stop tapping, write what is queued, close every file (in a thread: the event loop
        keeps forwarding). Returns the tracks' descriptions."""
        if self.stopped_wall is not None:
            return []
        self.stopped_wall = time.time()
        if self._follow_timer is not None:
            self._follow_timer.cancel()
            self._follow_timer = None
        for track in self.tracks:
            if track.stream.recorder is track:
                track.stream.recorder = None
        self._stop.set()
        return await asyncio.wait_for(asyncio.to_thread(self._finish), STOP_TIMEOUT + 5.0)


def merge_legs(results: list[Optional[dict]]) -> Optional[dict]:
    """One recording from the ``Router.stop_recording`` results of a room's routers (legs)."""
    found = [r for r in results if r]
    if not found:
        return None
    return {"id": found[0]["id"], "started": min(r["started"] for r in found),
            "stopped": max(r["stopped"] for r in found), "tracks": [t for r in found for t in r["tracks"]]}


def manifest(recording_id: str, room_id: str, started: float, stopped: float, tracks: list[dict]) -> dict:
    return {"id": recording_id, "room": room_id, "started": utc_iso(started), "stopped": utc_iso(stopped),
            "duration": round(stopped - started, 3), "tracks": tracks}


def write_manifest(directory: str, data: dict) -> str:
    path = os.path.join(directory, "manifest.json")
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
    os.replace(temporary, path)
    return path


def add_to_room_manifest(room_directory: str, room_id: str, data: dict) -> str:
    """The room's own ``manifest.json`` (``<room_directory>/manifest.json``, what the meeting
    record exports, rooms/record.py): every recording of the room, and all their tracks with
    ``file`` relative to the room's folder. Each recording's own manifest stays in its folder."""
    path = os.path.join(room_directory, "manifest.json")
    room = {"room_id": room_id, "recordings": [], "tracks": []}
    try:
        with open(path, encoding="utf-8") as handle:
            kept = json.load(handle)
        if isinstance(kept, dict) and isinstance(kept.get("recordings"), list) and isinstance(kept.get("tracks"), list):
            room = kept
    except (OSError, ValueError):
        pass
    room["recordings"] = [r for r in room["recordings"] if not (isinstance(r, dict) and r.get("id") == data["id"])]
    room["recordings"].append({k: data[k] for k in ("id", "started", "stopped", "duration")})
    room["tracks"] = [t for t in room["tracks"] if not (isinstance(t, dict) and t.get("recording") == data["id"])]
    room["tracks"] += [dict(t, recording=data["id"], file=f"{data['id']}/{t['file']}")
                       for t in data["tracks"] if t.get("file")]
    return write_manifest(room_directory, room)


def finish_manifests(recording_directory: str, room_id: str, data: dict) -> None:
    """Both manifests of a finished recording (blocking file writes: run in a thread)."""
    write_manifest(recording_directory, data)
    add_to_room_manifest(os.path.dirname(recording_directory), room_id, data)
