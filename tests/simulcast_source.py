"""A VP8 simulcast publisher and a raw-RTP subscriber for SFU tests and benchmarks (issue 14).

The publisher behaves like Chrome publishing a camera with three ``sendEncodings`` (issue 14's
simulcast contract): three pre-encoded VP8 clips of the same moving picture at 1/4, 1/2
and full resolution (160x120 ~100 kbps, 320x240 ~300 kbps, 640x480 ~1 Mbps; tests/vp8_clip.py),
sent as three RTP streams, each with its own SSRC, sequence numbers and PictureIDs (the RTP
timestamps share one clock), every packet carrying the MID and RID header extensions; NACKed
packets are resent on each layer's own RTX SSRC with the repaired-RID extension. The publish offer
is aiortc's, munged as Chrome's looks: ``a=extmap`` for MID/RID/repaired RID, ``a=rid:q send``...,
``a=simulcast:send q;h;f``, and no ``a=ssrc`` lines in the video section (the SFU learns the
SSRCs from the RID extension). A PLI or FIR for a layer's SSRC restarts that layer's clip at its
keyframe. REMB and the other RTCP the SFU sends the publisher are recorded.

Why here (tests/) and not in bench/: the benchmarks already import from tests/ (tests.conftest,
tests.netlab...), never the reverse, and tests/ is importable as ``tests.*`` from both; so the
generator lives beside the other test peers and bench/_load.py imports it.

aiortc negotiates ICE, DTLS and SRTP; once connected, packets are SRTP-protected with the DTLS
transport's session and written straight to the nominated pair's socket (as bench/_load.py does),
paced by event-loop timers.

The subscriber (:class:`RawSubscriber`) answers the SFU's subscribe offers and takes the decrypted
RTP away from aiortc: per received stream it checks sequence numbers (gaps), RTP timestamps, VP8
PictureIDs (continuity), reassembles frames (complete or not), and optionally decodes them with
PyAV (the size of each decoded picture tells the layer). It sends REMB on its subscribe connection
(``send_remb``/``keep_sending_remb``), as a browser whose link is short would.
"""

from __future__ import annotations

import asyncio
import random
import struct
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Awaitable, Callable, Optional

import av
from aiortc import (
    MediaStreamTrack, RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.clock import current_ntp_time
from aiortc.sdp import SessionDescription

import media.ice
from media import rtp as media_rtp
from tests.media_helpers import wait_on_event
from tests.vp8_clip import (
    FPS, TS_PER_FRAME, Vp8Depacketizer, encode_vp8_clip, rtp_payload_offset, vp8_chunks,
    vp8_payload_is_keyframe, vp8_picture_id,
)

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
RID_URI = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
REPAIRED_RID_URI = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
RID_EXT_ID = 10  # the ids Chrome offers them with
REPAIRED_RID_EXT_ID = 11

RTCP_SR, RTCP_RR, RTCP_RTPFB, RTCP_PSFB = 200, 201, 205, 206
FMT_NACK, FMT_PLI, FMT_FIR, FMT_REMB = 1, 1, 4, 15
SR_INTERVAL = 1.0
HISTORY = 512  # packets kept per layer for NACKs (a power of two)
SETUP_TIMEOUT = 30.0

_HDR = struct.Struct("!BBHII")
_U32 = struct.Struct("!I")


@dataclass(frozen=True)
class Layer:
    rid: str
    width: int
    height: int
    bitrate: int


LAYERS = (Layer("q", 160, 120, 100_000), Layer("h", 320, 240, 300_000), Layer("f", 640, 480, 1_000_000))
FULL = LAYERS[-1]


@lru_cache(maxsize=8)
def encode_layers(layers: tuple[Layer, ...] = LAYERS, seconds: float = 2.0) -> tuple[tuple, ...]:
    """One clip per layer (lowest first), each a tuple of (packet payload chunks, keyframe) per
    frame; the same moving picture at every size. Encoded once per process and arguments."""
    clips = []
    for layer in layers:
        frames = encode_vp8_clip(seconds, layer.bitrate, width=layer.width, height=layer.height)
        clips.append(tuple((tuple(vp8_chunks(frame)), key) for frame, key in frames))
    return tuple(clips)


def loopback_only() -> None:
    media.ice.use_host_addresses(["127.0.0.1"])


def rtc_config() -> RTCConfiguration:
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


# ---- SDP -----------------------------------------------------------------------------------------

def simulcast_offer(sdp: str, mid: str, rids: tuple[str, ...] = ("q", "h", "f"),
                    rid_id: int = RID_EXT_ID, repaired_id: int = REPAIRED_RID_EXT_ID) -> str:
    """aiortc's offer ``sdp`` with the video section ``mid`` made a simulcast send section as
    Chrome offers it: the RID and repaired-RID extmaps (the MID one is aiortc's already), one
    ``a=rid:X send`` per layer, ``a=simulcast:send`` in the order given (lowest first), and no
    ``a=ssrc``/``a=ssrc-group`` lines."""
    lines = sdp.split("\r\n")
    out: list[str] = []
    sections: list[list[str]] = [out]
    for line in lines:
        if line.startswith("m="):
            sections.append([])
        sections[-1].append(line)
    result = list(sections[0])
    for section in sections[1:]:
        if f"a=mid:{mid}" not in section:
            result.extend(section)
            continue
        used = {int(line.split(":", 1)[1].split()[0].split("/")[0]) for line in section if line.startswith("a=extmap:")}
        if rid_id in used or repaired_id in used:
            raise ValueError(f"extension ids {rid_id}/{repaired_id} already used in {mid!r}")
        kept = [line for line in section if not line.startswith(("a=ssrc:", "a=ssrc-group:"))]
        body = [line for line in kept if line]
        at = max(i for i, line in enumerate(body) if line.startswith("a=extmap:") or line.startswith("m=")) + 1
        body[at:at] = [f"a=extmap:{rid_id} {RID_URI}", f"a=extmap:{repaired_id} {REPAIRED_RID_URI}"]
        body += [f"a=rid:{rid} send" for rid in rids] + ["a=simulcast:send " + ";".join(rids)]
        result.extend(body)
        if section[-1] == "":  # the blank after the last line of the SDP
            result.append("")
    return "\r\n".join(result)


@dataclass
class Negotiated:
    """What the answer says about the simulcast video section."""

    mid: str
    pt: int
    rtx_pt: Optional[int]
    mid_id: Optional[int]
    rid_id: Optional[int]
    repaired_id: Optional[int]
    simulcast_answered: bool  # ``a=simulcast:recv ...`` in the answer
    answer_rids: list[str]  # ``a=rid:X recv`` lines, in order


def read_answer(answer: str, mid: str) -> Negotiated:
    description = SessionDescription.parse(answer)
    section = next(m for m in description.media if m.rtp.muxId == mid)
    names = {c.mimeType.lower(): c for c in section.rtp.codecs}
    vp8 = names.get("video/vp8")
    if vp8 is None:
        raise RuntimeError("VP8 not accepted in the publish answer")
    rtx = next((c.payloadType for c in section.rtp.codecs
                if c.mimeType.lower() == "video/rtx" and c.parameters.get("apt") == vp8.payloadType), None)
    ext = {e.uri: e.id for e in section.rtp.headerExtensions}
    # aiortc's parser may drop extensions it does not know: read the text too
    text = _section_text(answer, mid)
    for line in text:
        if line.startswith("a=extmap:"):
            ident, uri = line[len("a=extmap:"):].split(" ", 1)
            ext.setdefault(uri.strip(), int(ident.split("/")[0]))
    rids = [line[len("a=rid:"):].split(" ")[0] for line in text
            if line.startswith("a=rid:") and line.split(" ")[1:2] == ["recv"]]
    return Negotiated(mid=mid, pt=vp8.payloadType, rtx_pt=rtx, mid_id=ext.get(MID_URI), rid_id=ext.get(RID_URI),
                      repaired_id=ext.get(REPAIRED_RID_URI),
                      simulcast_answered=any(line.startswith("a=simulcast:recv") for line in text), answer_rids=rids)


def _section_text(sdp: str, mid: str) -> list[str]:
    section: list[str] = []
    found: list[str] = []
    for line in sdp.split("\r\n") + ["m="]:
        if line.startswith("m="):
            if f"a=mid:{mid}" in section:
                found = section
            section = []
        section.append(line)
    return found


def extension_block(elements: list[tuple[int, bytes]]) -> bytes:
    """A one-byte-header extension block (RFC 8285) of ``elements``, padded to 32 bits."""
    return media_rtp.build_extension_block(elements)


# ---- the publisher's media -----------------------------------------------------------------------

class LayerState:
    """One simulcast layer on the wire."""

    def __init__(self, index: int, layer: Layer, clip: tuple, picture_id: int) -> None:
        self.index = index
        self.layer = layer
        self.rid = layer.rid
        self.clip = clip
        self.ssrc = random.getrandbits(32) | 1
        self.rtx_ssrc = random.getrandbits(32) | 2
        self.seq = random.randint(0, 0xFFFF)
        self.rtx_seq = random.randint(0, 0xFFFF)
        self.picture_id = picture_id & 0x7FFF
        self.pos = 0  # next frame of the clip
        self.active = True
        self.keyframe_wanted = False
        self.keyframe_requests = 0  # PLI/FIR for this layer's SSRC
        self.keyframes = 0  # keyframes sent
        self.frames = 0
        self.packets = 0
        self.octets = 0  # payload octets (for sender reports)
        self.bytes = 0  # RTP bytes before SRTP
        self.nacked = 0
        self.retransmitted = 0
        self.last_ts: Optional[int] = None
        self.history: list[Optional[bytes]] = [None] * HISTORY
        self.drop = 0  # packets still to lose (SimulcastSender.drop_next)


class SimulcastSender:
    """Sends the layers of one simulcast video section, 30 frames/s, once ``attach``ed to a
    connected DTLS transport. ``active[i]`` False: layer i is not sent (``set_active``, as the
    client does on the SFU's ``publish_layers``)."""

    def __init__(self, clips: tuple, layers: tuple[Layer, ...], negotiated: Negotiated,
                 loop: asyncio.AbstractEventLoop, ts_offsets: Optional[list[int]] = None,
                 rid_ext: bool = True) -> None:
        self.negotiated = negotiated
        self.loop = loop
        self.layers = [LayerState(i, layer, clip, random.getrandbits(15)) for i, (layer, clip) in enumerate(zip(layers, clips))]
        self.by_ssrc = {s.ssrc: s for s in self.layers}
        self.by_rtx_ssrc = {s.rtx_ssrc: s for s in self.layers}
        self.ts0 = random.getrandbits(32)
        self.ts_offsets = ts_offsets or [0] * len(self.layers)
        self.rid_ext = rid_ext  # False: no RID extension (a broken publisher; the SFU must cope)
        self.k = 0  # frame ticks so far
        self.remb: list[tuple[float, int, list[int]]] = []  # (monotonic, bitrate, ssrcs) from the SFU
        self.rtcp_received = 0
        self.send_errors = 0
        self.frame_hook: Optional[Callable[[int, float], None]] = None  # (frame tick, send time ns)
        self.dropped: list[tuple[int, int]] = []  # (layer index, seq) kept from the wire by drop_next
        self._protect = self._protect_rtcp = self._sendto = self._addr = None
        self._timer: Optional[asyncio.TimerHandle] = None
        self._sr_timer: Optional[asyncio.TimerHandle] = None
        self._start = 0.0
        self._rtcp_ssrc = random.getrandbits(32)
        self._cname = f"simulcast-{random.getrandbits(32):08x}"

    @property
    def ssrcs(self) -> list[int]:
        return [s.ssrc for s in self.layers]

    def attach(self, dtls, pair) -> None:
        self._protect = dtls._tx_srtp.protect
        self._protect_rtcp = dtls._tx_srtp.protect_rtcp
        self._sendto = pair.protocol.transport.sendto
        self._addr = pair.remote_addr

    def start(self, phase: float = 0.0) -> None:
        self._start = self.loop.time() + phase
        self._timer = self.loop.call_at(self._start, self._tick)
        self._sr_timer = self.loop.call_later(SR_INTERVAL * random.random() + 0.2, self._send_reports)

    def stop(self) -> None:
        for timer in (self._timer, self._sr_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self._sr_timer = None
        self._protect = None

    def set_active(self, active: list[bool]) -> None:
        for state, on in zip(self.layers, active):
            if on and not state.active:
                state.keyframe_wanted = True  # a resumed encoding starts with a keyframe
            state.active = bool(on)

    def request_keyframe(self, index: int) -> None:
        self.layers[index].keyframe_wanted = True

    def drop_next(self, index: int, count: int = 1) -> None:
        """Lose the next ``count`` packets of layer ``index`` on the way (they stay in the history,
        so a NACK gets them on RTX)."""
        self.layers[index].drop += count

    # sending

    def _header_ext(self, state: LayerState, rtx: bool) -> bytes:
        n = self.negotiated
        elements = []
        if n.mid_id is not None:
            elements.append((n.mid_id, n.mid.encode()))
        if self.rid_ext:
            if rtx and n.repaired_id is not None:
                elements.append((n.repaired_id, state.rid.encode()))
            elif not rtx and n.rid_id is not None:
                elements.append((n.rid_id, state.rid.encode()))
        return extension_block(elements) if elements else b""

    def _tick(self) -> None:
        if self._protect is None:
            return
        k = self.k
        sent_ns = 0
        for state in self.layers:
            if not state.active:
                continue
            sent_ns = self._send_frame(state, k) or sent_ns
        if self.frame_hook is not None:
            self.frame_hook(k, sent_ns)
        self.k = k + 1
        self._timer = self.loop.call_at(self._start + self.k / FPS, self._tick)

    def _send_frame(self, state: LayerState, k: int) -> int:
        if state.keyframe_wanted:
            state.keyframe_wanted = False
            state.pos = 0
        chunks, keyframe = state.clip[state.pos]
        state.pos = (state.pos + 1) % len(state.clip)
        state.keyframes += keyframe
        ts = (self.ts0 + self.ts_offsets[state.index] + k * TS_PER_FRAME) & 0xFFFFFFFF
        pid = state.picture_id
        ext = self._header_ext(state, rtx=False)
        b0 = 0x90 if ext else 0x80
        pt = self.negotiated.pt
        last = len(chunks) - 1
        seq = state.seq
        sent_ns = 0
        try:
            for i, chunk in enumerate(chunks):
                descriptor = bytes((0x90 if i == 0 else 0x80, 0x80, 0x80 | (pid >> 8), pid & 0xFF))
                packet = _HDR.pack(b0, (0x80 | pt) if i == last else pt, seq, ts, state.ssrc) + ext + descriptor + chunk
                state.history[seq & (HISTORY - 1)] = packet
                if i == last:
                    sent_ns = time.time_ns()
                if state.drop:
                    state.drop -= 1
                    self.dropped.append((state.index, seq))
                else:
                    self._sendto(self._protect(packet), self._addr)
                state.packets += 1
                state.octets += len(descriptor) + len(chunk)
                state.bytes += len(packet)
                seq = (seq + 1) & 0xFFFF
        except Exception:
            self.send_errors += 1
        state.seq = seq
        state.picture_id = (pid + 1) & 0x7FFF
        state.frames += 1
        state.last_ts = ts
        return sent_ns

    def _resend(self, state: LayerState, sequence_numbers: list[int]) -> None:
        n = self.negotiated
        for seq in sequence_numbers:
            state.nacked += 1
            packet = state.history[seq & (HISTORY - 1)]
            if packet is None or int.from_bytes(packet[2:4], "big") != seq or n.rtx_pt is None:
                continue
            offset = rtp_payload_offset(packet)
            ext = self._header_ext(state, rtx=True)
            header = _HDR.pack(0x90 if ext else 0x80, n.rtx_pt | (packet[1] & 0x80), state.rtx_seq,
                               int.from_bytes(packet[4:8], "big"), state.rtx_ssrc)
            rtx = header + ext + packet[2:4] + packet[offset:]
            state.rtx_seq = (state.rtx_seq + 1) & 0xFFFF
            try:
                self._sendto(self._protect(rtx), self._addr)
                state.retransmitted += 1
            except Exception:
                self.send_errors += 1

    def _send_reports(self) -> None:
        if self._protect is None:
            return
        ntp = current_ntp_time()
        elapsed = self.loop.time() - self._start
        packet = b""
        for state in self.layers:
            if state.packets:
                ts = (self.ts0 + self.ts_offsets[state.index] + int(elapsed * 90000)) & 0xFFFFFFFF
                packet += media_rtp.pack_sender_report(state.ssrc, ntp, ts, state.packets, state.octets)
        if packet:
            packet += media_rtp.pack_sdes_cnames([s.ssrc for s in self.layers if s.packets], self._cname)
            try:
                self._sendto(self._protect_rtcp(packet), self._addr)
            except Exception:
                self.send_errors += 1
        self._sr_timer = self.loop.call_later(SR_INTERVAL * (0.5 + random.random()), self._send_reports)

    # feedback from the SFU

    def handle_rtcp(self, data: bytes) -> None:
        """Decrypted RTCP from the SFU: PLI/FIR restart a layer at its keyframe, NACKs are
        answered on RTX, REMB is recorded."""
        self.rtcp_received += 1
        try:
            for pt, fmt, body in media_rtp.iter_rtcp(data):
                if pt == RTCP_PSFB and fmt == FMT_PLI and len(body) >= 8:
                    state = self.by_ssrc.get(_U32.unpack_from(body, 4)[0])
                    if state is not None:
                        state.keyframe_requests += 1
                        state.keyframe_wanted = True
                elif pt == RTCP_PSFB and fmt == FMT_FIR:
                    for offset in range(8, len(body) - 7, 8):
                        state = self.by_ssrc.get(_U32.unpack_from(body, offset)[0])
                        if state is not None:
                            state.keyframe_requests += 1
                            state.keyframe_wanted = True
                elif pt == RTCP_PSFB and fmt == FMT_REMB:
                    parsed = media_rtp.parse_remb(body)
                    if parsed is not None:
                        self.remb.append((time.monotonic(), parsed[0], parsed[1]))
                elif pt == RTCP_RTPFB and fmt == FMT_NACK and len(body) >= 8:
                    state = self.by_ssrc.get(_U32.unpack_from(body, 4)[0])
                    if state is not None:
                        self._resend(state, media_rtp.parse_nack(body, 256))
        except Exception:  # a malformed packet: ignore the rest of it
            pass

    def stats(self) -> list[dict]:
        return [{"rid": s.rid, "ssrc": s.ssrc, "rtx_ssrc": s.rtx_ssrc, "frames": s.frames, "packets": s.packets,
                 "bytes": s.bytes, "keyframes": s.keyframes, "keyframe_requests": s.keyframe_requests,
                 "nacked": s.nacked, "retransmitted": s.retransmitted, "active": s.active}
                for s in self.layers]


class _SilentTrack(MediaStreamTrack):
    """Never yields: aiortc's sender waits on it and never encodes (we send the packets)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    async def recv(self):
        await asyncio.Future()


def nominated_pair(pc):
    transceivers = pc.getTransceivers()
    if not transceivers:
        return None, None
    dtls = transceivers[0].sender.transport or transceivers[0].receiver.transport
    if dtls is None:
        return None, None
    pair = dtls.transport._connection._nominated.get(1)
    if pair is None or getattr(pair.protocol, "transport", None) is None:
        return dtls, None
    return dtls, pair


async def wait_for(predicate: Callable[[], bool], timeout: float, what: str, step: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(step)


def hook_rtcp(dtls, handler: Callable[[bytes], None]) -> None:
    """Have ``handler`` see every decrypted RTCP packet reaching ``dtls`` (aiortc's own routing
    goes on: it drops what is for SSRCs it does not know, such as our layers')."""
    original = dtls._handle_rtcp_data

    async def _handle_rtcp_data(data: bytes) -> None:
        handler(data)
        await original(data)

    dtls._handle_rtcp_data = _handle_rtcp_data


# ---- the raw subscriber ------------------------------------------------------------------------

class ReceivedStream:
    """What a subscriber got of one stream (one SSRC of its subscribe connection)."""

    def __init__(self, ssrc: int, kind: str, decode: bool) -> None:
        self.ssrc = ssrc
        self.kind = kind
        self.packets = 0
        self.bytes = 0
        self.seq_gaps = 0  # a sequence number other than the last + 1 (loss, reordering or a bad munge)
        self.seq_backwards = 0
        self.last_seq: Optional[int] = None
        self.last_ts: Optional[int] = None
        self.ts_backwards = 0
        self.frames = 0  # distinct RTP timestamps (frames begun)
        self.complete = 0  # frames reassembled without a gap
        self.keyframes = 0
        self.pid_jumps = 0  # a PictureID other than the last + 1 at a frame's first packet
        self.last_pid: Optional[int] = None
        self.depack = Vp8Depacketizer() if kind == "video" else None
        self.codec = av.CodecContext.create("vp8", "r") if decode and kind == "video" else None
        self.decoded = 0
        self.decode_errors = 0
        self.size: Optional[tuple[int, int]] = None
        self.sizes: list[tuple[float, tuple[int, int]]] = []  # (monotonic, size) at each change
        self.arrivals: list[tuple[float, int]] = []  # (monotonic, bytes) of every packet (rates)

    def push(self, data: bytes, now: float) -> None:
        seq = int.from_bytes(data[2:4], "big")
        ts = int.from_bytes(data[4:8], "big")
        marker = bool(data[1] & 0x80)
        self.packets += 1
        self.bytes += len(data)
        self.arrivals.append((now, len(data)))
        if self.last_seq is not None:
            delta = (seq - self.last_seq) & 0xFFFF
            if delta == 0 or delta >= 0x8000:
                self.seq_backwards += 1
                return
            if delta != 1:
                self.seq_gaps += 1
        self.last_seq = seq
        if self.last_ts is None or ts != self.last_ts:
            if self.last_ts is not None and ((ts - self.last_ts) & 0xFFFFFFFF) >= 0x80000000:
                self.ts_backwards += 1
            self.frames += 1
            self.last_ts = ts
        if self.depack is None:
            return
        payload = data[rtp_payload_offset(data):]
        if not payload:
            return
        if payload[0] & 0x10 and not payload[0] & 0x07:  # a frame's first packet
            pid = vp8_picture_id(payload)
            if pid is not None:
                if self.last_pid is not None and pid != (self.last_pid + 1) & 0x7FFF:
                    self.pid_jumps += 1
                self.last_pid = pid
            if vp8_payload_is_keyframe(payload):
                self.keyframes += 1
        frame = self.depack.push(seq, marker, payload)
        if frame is None:
            return
        self.complete += 1
        if self.codec is not None:
            try:
                for picture in self.codec.decode(av.Packet(frame)):
                    self.decoded += 1
                    size = (picture.width, picture.height)
                    if size != self.size:
                        self.size = size
                        self.sizes.append((now, size))
            except Exception:
                self.decode_errors += 1

    def snapshot(self) -> dict:
        return {"packets": self.packets, "bytes": self.bytes, "frames": self.frames, "complete": self.complete,
                "seq_gaps": self.seq_gaps, "pid_jumps": self.pid_jumps, "decoded": self.decoded,
                "decode_errors": self.decode_errors, "keyframes": self.keyframes, "time": time.monotonic()}

    def kbps_since(self, since: float, until: Optional[float] = None) -> float:
        until = time.monotonic() if until is None else until
        total = sum(size for t, size in self.arrivals if since <= t < until)
        return total * 8 / 1000 / max(1e-6, until - since)


PublishSender = Callable[[str, dict], Awaitable[str]]


class SimulcastClient:
    """A test participant for the glue of tests/media_helpers.py (``Joined``) and
    tests/media_pools.py (``Member``): ``publish(send)`` offers a simulcast camera (three layers;
    ``layers``/``simulcast=False`` for one layer of the full clip, as a non-simulcast publisher),
    ``handle_subscribe_offer`` answers the SFU and records the raw RTP received
    (``streams``: by SSRC; ``stream_of(participant, kind)``)."""

    def __init__(self, name: str, *, simulcast: bool = True, layers: tuple[Layer, ...] = LAYERS,
                 decode: bool = True, clip_seconds: float = 2.0) -> None:
        loopback_only()
        self.name = name
        self.layers = layers if simulcast else (layers[-1],)
        self.simulcast = simulcast
        self.decode = decode
        self.clip_seconds = clip_seconds
        self.publish_pc = RTCPeerConnection(rtc_config())
        self.subscribe_pc = RTCPeerConnection(rtc_config())
        self.offer_sdp: Optional[str] = None  # the munged offer sent
        self.answer_sdp: Optional[str] = None
        self.negotiated: Optional[Negotiated] = None
        self.sender: Optional[SimulcastSender] = None
        self.video_mid: Optional[str] = None
        # subscribing
        self.consumers: dict[str, dict] = {}  # by mid, from the latest offer
        self.revision = 0
        self.streams: dict[int, ReceivedStream] = {}  # by SSRC
        self.ssrc_of_mid: dict[str, int] = {}
        self.remb_sent = 0
        self._sub_dtls = None
        self._remb_task: Optional[asyncio.Task] = None
        self._remb_ssrc = random.getrandbits(32)
        self._changed = asyncio.Event()

    # publishing

    async def publish(self, send: PublishSender) -> None:
        video = self.publish_pc.addTransceiver(_SilentTrack("video"), direction="sendonly")
        video.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs
                                   if c.mimeType.lower() in ("video/vp8", "video/rtx")])
        offer = await self.publish_pc.createOffer()
        await self.publish_pc.setLocalDescription(offer)
        self.video_mid = video.mid
        sdp = self.publish_pc.localDescription.sdp
        if self.simulcast:
            sdp = simulcast_offer(sdp, video.mid, tuple(layer.rid for layer in self.layers))
        self.offer_sdp = sdp
        answer = await send(sdp, {video.mid: "camera"})
        self.answer_sdp = answer
        await self.publish_pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        self.negotiated = read_answer(answer, video.mid)
        clips = encode_layers(self.layers, self.clip_seconds)
        loop = asyncio.get_running_loop()
        self.sender = SimulcastSender(clips, self.layers, self.negotiated, loop, rid_ext=self.simulcast)
        if not self.simulcast:  # one layer: the SSRC aiortc announced in the offer
            self.sender.layers[0].ssrc = video.sender._ssrc
            self.sender.by_ssrc = {video.sender._ssrc: self.sender.layers[0]}

        def wired() -> bool:
            dtls, pair = nominated_pair(self.publish_pc)
            return pair is not None and dtls.state == "connected" and dtls._tx_srtp is not None

        await wait_for(wired, SETUP_TIMEOUT, f"{self.name}: publish connection")
        dtls, pair = nominated_pair(self.publish_pc)
        hook_rtcp(dtls, self.sender.handle_rtcp)
        self.sender.attach(dtls, pair)
        self.sender.start(random.random() / FPS)

    # subscribing

    async def handle_subscribe_offer(self, sdp: str, revision: int, consumers: list[dict]) -> str:
        await self.subscribe_pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        answer = await self.subscribe_pc.createAnswer()
        await self.subscribe_pc.setLocalDescription(answer)
        self.consumers = {c["mid"]: c for c in consumers}
        self.revision = revision
        for section in SessionDescription.parse(sdp).media:
            consumer = self.consumers.get(section.rtp.muxId)
            if consumer is None:
                continue
            fid = [int(g.items[0]) for g in section.ssrc_group if g.semantic == "FID"]
            ssrcs = fid or [s.ssrc for s in section.ssrc]
            if ssrcs:
                self.ssrc_of_mid[section.rtp.muxId] = ssrcs[0]
                stream = self.streams.get(ssrcs[0])
                if stream is None or stream.kind != consumer["kind"]:
                    self.streams[ssrcs[0]] = ReceivedStream(ssrcs[0], consumer["kind"], self.decode)
        if self._sub_dtls is None:
            dtls = self.subscribe_pc.getTransceivers()[0].receiver.transport
            self._sub_dtls = dtls
            dtls._handle_rtp_data = self._handle_rtp_data
        self._changed.set()
        return self.subscribe_pc.localDescription.sdp

    async def _handle_rtp_data(self, data: bytes, arrival_time_ms: int) -> None:
        """Decrypted RTP of the subscribe connection, kept from aiortc (no jitter buffer, no decoder
        thread, no NACKs or receiver reports from it)."""
        if len(data) < 12:
            return
        stream = self.streams.get(_U32.unpack_from(data, 8)[0])
        if stream is not None:
            stream.push(data, time.monotonic())
            self._changed.set()

    def stream_of(self, participant_id: str, kind: str = "video") -> Optional[ReceivedStream]:
        for mid, consumer in self.consumers.items():
            if consumer["participant_id"] == participant_id and consumer["kind"] == kind:
                ssrc = self.ssrc_of_mid.get(mid)
                if ssrc is not None:
                    return self.streams.get(ssrc)
        return None

    async def send_remb(self, bitrate: int) -> None:
        """One REMB of ``bitrate`` for every video stream received, on the subscribe connection."""
        dtls = self._sub_dtls
        ssrcs = [s.ssrc for s in self.streams.values() if s.kind == "video"]
        if dtls is None or not ssrcs or dtls.state != "connected":
            return
        await dtls._send_rtp(media_rtp.pack_remb(self._remb_ssrc, bitrate, ssrcs))
        self.remb_sent += 1

    def keep_sending_remb(self, bitrate: Optional[int], interval: float = 0.25) -> None:
        """REMB of ``bitrate`` every ``interval`` seconds from now on (None: stop)."""
        if self._remb_task is not None:
            self._remb_task.cancel()
            self._remb_task = None
        if bitrate is not None:
            self._remb_task = asyncio.ensure_future(self._remb_loop(bitrate, interval))

    async def _remb_loop(self, bitrate: int, interval: float) -> None:
        try:
            while True:
                try:
                    await self.send_remb(bitrate)
                except ConnectionError:
                    pass
                await asyncio.sleep(interval)
        except asyncio.CancelledError:
            pass

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        """Wait (bounded) until ``predicate()`` holds; re-checked on every packet or offer."""
        await wait_on_event(predicate, self._changed, timeout, recheck=0.2)

    async def close(self) -> None:
        self.keep_sending_remb(None)
        if self.sender is not None:
            self.sender.stop()
        for pc in (self.publish_pc, self.subscribe_pc):
            try:
                await asyncio.wait_for(pc.close(), 10)
            except Exception:
                pass
