"""aiortc test peers for media tests (shared with the integration tests; no Socket.IO here).

A :class:`ClientPeer` is what a browser would be: a publish RTCPeerConnection on which it offers
its tracks, and a subscribe RTCPeerConnection on which it answers the server's offers, counting
the frames it decodes per consumer. It takes a callable to send its publish offer, so the same
class works against ``media`` directly or through the signaling server.

Keep client peers few: they really encode video (cheap 320x240 VP8 at 15 fps; H.264 with
``video_codec="H264"``). Audio is Opus encoded once at start-up and replayed as packets, since
aiortc's sender computes an audio level for every frame it encodes, in pure Python; with
``audio_level=<dBov>`` the replayed packets carry that RFC 6464 level instead, with pauses.

Test hooks on the client side: ``drop_incoming_video`` (loss on the SFU -> subscriber link, before
aiortc sees the packets, so the client's receiver NACKs), ``count_keyframe_requests`` (PLI/FIR
reaching the publishing client's video sender), ``send_pli`` (a subscriber asking for a keyframe), ``send_transport_sequence_numbers`` (what a
browser does for transport-cc: numbers every packet it sends, and reads the feedback).
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
import zlib
from collections import defaultdict
from typing import Awaitable, Callable, Optional

import av
from aiortc import (
    MediaStreamTrack, RTCBundlePolicy, RTCConfiguration, RTCIceServer, RTCPeerConnection,
    RTCRtpSender, RTCSessionDescription,
)
from aiortc.rtp import RTCP_PSFB_FIR, RTCP_PSFB_PLI, RtcpPsfbPacket
from aiortc.codecs.opus import OpusEncoder
from aiortc.mediastreams import MediaStreamError

import media.ice
from media import rtp as media_rtp
from media.twcc import TWCC_URI

VIDEO_CLOCK = 90000
AUDIO_RATE = 48000
AUDIO_PTIME = 0.020


def loopback_only() -> None:
    """Make every aioice agent in this process gather 127.0.0.1 only (what ``media.SFU`` does
    with ``ice_addresses=["127.0.0.1"]``); safe to call more than once."""
    media.ice.use_host_addresses(["127.0.0.1"])


def tint_for(name: str) -> tuple[int, int]:
    """A muted colour (U, V chroma) of its own for each name."""
    digest = zlib.crc32(name.encode("utf-8"))
    return 128 + (digest & 0x3F) - 32, 128 + ((digest >> 8) & 0x3F) - 32


class SyntheticVideoTrack(MediaStreamTrack):
    """Small frames whose brightness changes, paced at ``fps``; cheap to encode. ``tint`` is the
    frames' (U, V) chroma: (128, 128) is grey; :func:`tint_for` gives each name its own colour, so
    synthetic participants are told apart on screen (and in screenshots)."""

    kind = "video"

    def __init__(self, width: int = 320, height: int = 240, fps: int = 15,
                 tint: tuple[int, int] = (128, 128)) -> None:
        super().__init__()
        self._frames = []
        for shade in (60, 90, 120, 150):
            frame = av.VideoFrame(width, height, "yuv420p")
            for index, plane in enumerate(frame.planes):
                value = shade if index == 0 else tint[index - 1]
                plane.update(bytes([value]) * (plane.line_size * plane.height))
            self._frames.append(frame)
        self._fps = fps
        self._count = 0
        self._start: Optional[float] = None

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            wait = self._start + self._count / self._fps - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        frame = self._frames[(self._count // self._fps) % len(self._frames)]
        frame.pts = self._count * VIDEO_CLOCK // self._fps
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._count += 1
        return frame


def _encode_opus_tone(seconds: float = 1.0, frequency: float = 440.0) -> list[bytes]:
    """Opus packets of a 20 ms-framed 48 kHz sine, encoded once with aiortc's encoder."""
    encoder = OpusEncoder()
    samples = int(AUDIO_RATE * AUDIO_PTIME)
    packets: list[bytes] = []
    for n in range(int(seconds / AUDIO_PTIME)):
        pcm = bytearray()
        for i in range(samples):
            value = int(6000 * math.sin(2 * math.pi * frequency * (n * samples + i) / AUDIO_RATE))
            pcm += value.to_bytes(2, "little", signed=True) * 2  # stereo
        frame = av.AudioFrame(format="s16", layout="stereo", samples=samples)
        frame.planes[0].update(bytes(pcm))
        frame.sample_rate = AUDIO_RATE
        frame.pts = n * samples
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        payloads, _ = encoder.encode(frame)
        packets.extend(payloads)
    return packets


_OPUS_TONE: list[bytes] = []


class OpusToneTrack(MediaStreamTrack):
    """20 ms Opus packets of a 48 kHz tone, paced in real time, with monotonic pts (the sender
    packs them without encoding)."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        if not _OPUS_TONE:
            _OPUS_TONE.extend(_encode_opus_tone())
        self._count = 0
        self._start: Optional[float] = None

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            wait = self._start + self._count * AUDIO_PTIME - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        packet = av.Packet(_OPUS_TONE[self._count % len(_OPUS_TONE)])
        packet.pts = self._count * int(AUDIO_RATE * AUDIO_PTIME)
        packet.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._count += 1
        return packet


PublishSender = Callable[[str, dict], Awaitable[str]]


SPEECH_PAUSE_DBOV = -90  # the pauses between "words" of a carried level


def _carry_audio_level(sender, dbov: int) -> None:
    """Make ``sender`` put an audio level in every packet, the way a voice does: ``dbov`` for
    nine 20 ms packets, then three at ``SPEECH_PAUSE_DBOV`` (a pause between words; the SFU
    tracks each microphone's noise floor and takes a level that never varies for a steady
    noise). aiortc sets the RFC 6464 extension from ``RTCEncodedFrame.audio_level`` (dBov),
    which it computes only when it encodes; the tone is replayed pre-encoded."""
    original = sender._next_encoded_frame
    count = 0

    async def _next_encoded_frame(codec):
        nonlocal count
        frame = await original(codec)
        if frame is not None:
            frame.audio_level = dbov if count % 12 < 9 else min(dbov, SPEECH_PAUSE_DBOV)
            count += 1
        return frame

    sender._next_encoded_frame = _next_encoded_frame


def _parse(sdp: str):
    from aiortc import sdp as aiortc_sdp
    return aiortc_sdp.SessionDescription.parse(sdp).media


def _remote_ssrcs(pc, mid: str) -> list[int]:
    """The main SSRC first (ssrc-group FID), then the others, of a remote media section."""
    for media in _parse(pc.remoteDescription.sdp):
        if media.rtp.muxId == mid:
            ssrcs = [int(g.items[0]) for g in media.ssrc_group if g.semantic == "FID"]
            return ssrcs + [s.ssrc for s in media.ssrc if s.ssrc not in ssrcs]
    return []


def offer_transport_cc(sdp: str, ext_id: int) -> str:
    """``sdp`` with the transport-wide sequence number extension in every media section and
    transport-cc feedback on every video codec, as Chromium offers them."""
    out = []
    for line in sdp.split("\r\n"):
        out.append(line)
        if line.startswith("a=mid:"):
            out.append(f"a=extmap:{ext_id} {TWCC_URI}")
        elif line.startswith("a=rtpmap:") and "/90000" in line:
            out.append(f"a=rtcp-fb:{line[9:].split(' ')[0]} transport-cc")
    return "\r\n".join(out)


def with_extension(data: bytes, ext_id: int, value: bytes) -> bytes:
    """An RTP packet with one more one-byte header extension element."""
    elements = list(media_rtp.extension_elements(data).items()) if data[0] & 0x10 else []
    elements.append((ext_id, value))
    csrc_end = 12 + 4 * (data[0] & 0x0F)
    start = media_rtp.header_length(data)
    return bytes([data[0] | 0x10]) + data[1:csrc_end] + media_rtp.build_extension_block(elements) + data[start:]


async def wait_on_event(predicate: Callable[[], bool], changed: asyncio.Event, timeout: float,
                        recheck: float = 0.5) -> None:
    """Wait (bounded by ``timeout``) until ``predicate()`` holds, checking it again whenever
    ``changed`` is set (and every ``recheck`` seconds anyway)."""
    async def loop() -> None:
        while not predicate():
            changed.clear()
            try:
                await asyncio.wait_for(changed.wait(), recheck)
            except asyncio.TimeoutError:
                pass
    await asyncio.wait_for(loop(), timeout)


class ClientPeer:
    """A test participant. ``publish(send)`` offers its tracks through ``send(sdp, sources)``
    (which returns the answer); ``handle_subscribe_offer`` answers the server's offers."""

    def __init__(self, name: str, *, audio: bool = True, video: bool = True,
                 ice_servers: Optional[list[dict]] = None, video_fps: int = 15,
                 video_codec: Optional[str] = None, audio_level: Optional[int] = None) -> None:
        loopback_only()
        self.name = name
        servers = [RTCIceServer(**s) for s in (ice_servers or [])]
        configuration = RTCConfiguration(iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        self.publish_pc = RTCPeerConnection(configuration)
        self.subscribe_pc = RTCPeerConnection(
            RTCConfiguration(iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self.local_tracks: list[tuple[MediaStreamTrack, str]] = []
        if audio:
            self.local_tracks.append((OpusToneTrack(), "microphone"))
        if video:
            self.local_tracks.append((SyntheticVideoTrack(fps=video_fps, tint=tint_for(name)), "camera"))
        self.video_codec = video_codec  # e.g. "H264": the only video codec offered when publishing
        self.audio_level = audio_level  # dBov (-127..0) carried by every audio packet sent
        self.keyframe_requests = 0  # PLI/FIR received by the video sender (count_keyframe_requests)
        self.twcc_id: Optional[int] = None  # send_transport_sequence_numbers
        self.publish_answer: Optional[str] = None
        self.dropped: list[tuple[int, int]] = []  # (ssrc, seq) dropped by drop_incoming_video
        self.consumers: dict[str, dict] = {}  # by mid, from the latest subscribe offer
        self.revision = 0
        self.frames: dict[str, int] = defaultdict(int)  # by mid
        self.frames_by_source: dict[tuple[str, str], int] = defaultdict(int)  # (participant, kind)
        self.tracks: dict[str, MediaStreamTrack] = {}
        self._readers: list[asyncio.Task] = []
        self._changed = asyncio.Event()
        self.subscribe_pc.on("track", self._on_track)

    # publishing

    async def create_publish_offer(self) -> tuple[str, dict]:
        """Add the local tracks (first call) and return a complete offer and its sources."""
        if not self.publish_pc.getTransceivers():
            for track, _source in self.local_tracks:
                transceiver = self.publish_pc.addTransceiver(track, direction="sendonly")
                if track.kind == "video" and self.video_codec:
                    wanted = {f"video/{self.video_codec}".lower(), "video/rtx"}
                    transceiver.setCodecPreferences(
                        [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType.lower() in wanted])
                if track.kind == "audio" and self.audio_level is not None:
                    _carry_audio_level(transceiver.sender, self.audio_level)
        offer = await self.publish_pc.createOffer()
        await self.publish_pc.setLocalDescription(offer)  # aiortc gathers before returning
        sources = {}
        for transceiver in self.publish_pc.getTransceivers():
            for track, source in self.local_tracks:
                if transceiver.sender.track is track:
                    sources[transceiver.mid] = source
        return self.publish_pc.localDescription.sdp, sources

    async def apply_publish_answer(self, sdp: str) -> None:
        await self.publish_pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        if self.twcc_id is not None:
            self._hook_transport_cc()

    async def publish(self, send: PublishSender) -> None:
        sdp, sources = await self.create_publish_offer()
        if self.twcc_id is not None:
            sdp = offer_transport_cc(sdp, self.twcc_id)
        answer = await send(sdp, sources)
        self.publish_answer = answer
        await self.apply_publish_answer(answer)

    def send_transport_sequence_numbers(self, ext_id: int = 5, drop_every: Optional[int] = None) -> None:
        """Before ``publish``: offer transport-cc (extension ``ext_id``) as a browser does, number
        every RTP packet sent on the publish connection, and keep the feedback that comes back
        (``twcc_sent``: number -> send time; ``twcc_dropped``: numbers never sent, every
        ``drop_every``-th, as if lost on the way; ``twcc_feedback``: RTCP bodies received)."""
        self.twcc_id = ext_id
        self.twcc_sent: dict[int, float] = {}
        self.twcc_dropped: list[int] = []
        self.twcc_feedback: list[bytes] = []
        self._twcc_drop_every = drop_every

    def _hook_transport_cc(self) -> None:
        dtls = self.publish_pc.getTransceivers()[0].sender.transport
        if self.twcc_id is None or getattr(dtls, "_test_twcc", False):
            return
        dtls._test_twcc = True
        send_rtp = dtls._send_rtp
        handle_rtcp = dtls._handle_rtcp_data
        counter = [0]

        async def _send_rtp(data: bytes) -> None:
            seq = counter[0]
            counter[0] = (seq + 1) & 0xFFFF
            if self._twcc_drop_every and seq % self._twcc_drop_every == self._twcc_drop_every - 1:
                self.twcc_dropped.append(seq)
                return
            self.twcc_sent[seq] = time.monotonic()
            await send_rtp(with_extension(data, self.twcc_id, seq.to_bytes(2, "big")))

        async def _handle_rtcp_data(data: bytes) -> None:
            for pt, fmt, body in media_rtp.iter_rtcp(data):
                if pt == media_rtp.RTCP_RTPFB and fmt == media_rtp.RTCP_RTPFB_TWCC:
                    self.twcc_feedback.append(body)
            await handle_rtcp(data)

        dtls._send_rtp = _send_rtp
        dtls._handle_rtcp_data = _handle_rtcp_data

    def count_keyframe_requests(self) -> None:
        """Count the PLIs/FIRs that reach this client's video sender (``keyframe_requests``)."""
        for transceiver in self.publish_pc.getTransceivers():
            sender = transceiver.sender
            if transceiver.kind != "video" or getattr(sender, "_test_counted", False):
                continue
            original = sender._handle_rtcp_packet

            async def _handle_rtcp_packet(packet, _original=original) -> None:
                if isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
                    self.keyframe_requests += 1
                await _original(packet)

            sender._handle_rtcp_packet = _handle_rtcp_packet
            sender._test_counted = True

    # subscribing

    def drop_incoming_video(self, every: int = 20, limit: Optional[int] = None) -> None:
        """Drop every ``every``-th packet of each received video stream before aiortc sees it
        (retransmissions, on their own SSRC, pass; at most ``limit`` drops): the client's
        receiver then NACKs. Dropped packets are listed in ``dropped``."""
        transceivers = self.subscribe_pc.getTransceivers()
        dtls = transceivers[0].receiver.transport
        original = dtls._handle_rtp_data
        counts: dict[int, int] = defaultdict(int)

        async def _handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
            ssrc = int.from_bytes(data[8:12], "big")
            if ssrc in video_ssrcs():
                counts[ssrc] += 1
                if counts[ssrc] % every == 0 and (limit is None or len(self.dropped) < limit):
                    self.dropped.append((ssrc, int.from_bytes(data[2:4], "big")))
                    return
            await original(data, arrival_time_ms)

        cache: dict = {"sdp": None, "ssrcs": set()}

        def video_ssrcs() -> set[int]:
            description = self.subscribe_pc.remoteDescription
            if description is not None and description.sdp is not cache["sdp"]:
                cache["sdp"] = description.sdp
                cache["ssrcs"] = {
                    int(group.items[0]) for media in _parse(description.sdp) if media.kind == "video"
                    for group in media.ssrc_group if group.semantic == "FID"
                }
            return cache["ssrcs"]

        dtls._handle_rtp_data = _handle_rtp_data

    async def send_pli(self, participant_id: str, count: int = 1) -> None:
        """Ask for a keyframe of ``participant_id``'s video, ``count`` times in a row."""
        for transceiver in self.subscribe_pc.getTransceivers():
            consumer = self.consumers.get(transceiver.mid)
            if consumer and consumer["participant_id"] == participant_id and consumer["kind"] == "video":
                ssrc = next(iter(_remote_ssrcs(self.subscribe_pc, transceiver.mid)))
                for _ in range(count):
                    await transceiver.receiver._send_rtcp_pli(ssrc)


    async def handle_subscribe_offer(self, sdp: str, revision: int, consumers: list[dict]) -> str:
        await self.subscribe_pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        answer = await self.subscribe_pc.createAnswer()
        await self.subscribe_pc.setLocalDescription(answer)
        self.consumers = {c["mid"]: c for c in consumers}
        self.revision = revision
        self._changed.set()
        return self.subscribe_pc.localDescription.sdp

    def _on_track(self, track: MediaStreamTrack) -> None:
        mid = next((t.mid for t in self.subscribe_pc.getTransceivers() if t.receiver.track is track), None)
        if mid is None:
            return
        self.tracks[mid] = track
        self._readers.append(asyncio.ensure_future(self._read(mid, track)))

    async def _read(self, mid: str, track: MediaStreamTrack) -> None:
        try:
            while True:
                await track.recv()
                self.frames[mid] += 1
                consumer = self.consumers.get(mid)
                if consumer is not None:
                    self.frames_by_source[(consumer["participant_id"], consumer["kind"])] += 1
                self._changed.set()
        except (MediaStreamError, asyncio.CancelledError):
            pass

    def received(self, participant_id: str, kind: str) -> int:
        return self.frames_by_source[(participant_id, kind)]

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        """Wait (bounded) until ``predicate()`` holds; re-checked on every frame or offer."""
        await wait_on_event(predicate, self._changed, timeout, recheck=0.5)

    async def wait_for_frames(self, participant_id: str, kind: str, count: int, timeout: float = 20.0) -> None:
        await self.wait_until(lambda: self.received(participant_id, kind) >= count, timeout)

    async def close(self) -> None:
        for task in self._readers:
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        await self.publish_pc.close()
        await self.subscribe_pc.close()


class Joined:
    """A client peer joined to a ``media.Router`` (in this process): the glue the signaling server
    would be. ``offers``: (revision, consumers) of each subscribe offer it answered."""

    def __init__(self, router, client: ClientPeer) -> None:
        self.router = router
        self.client = client
        self.peer = None
        self.offers: list[tuple[int, list[dict]]] = []
        self.answered = asyncio.Event()

    async def on_subscribe_offer(self, sdp: str, revision: int, consumers: list[dict]) -> None:
        self.offers.append((revision, consumers))
        answer = await self.client.handle_subscribe_offer(sdp, revision, consumers)
        await self.peer.subscribe_answer(answer, revision)
        self.answered.set()

    async def join(self, publish: bool = True) -> "Joined":
        self.peer = await self.router.add_peer(self.client.name, on_subscribe_offer=self.on_subscribe_offer)
        if publish:
            await self.client.publish(self.peer.publish)
        return self

    def consumers(self) -> list[dict]:
        return self.offers[-1][1] if self.offers else []
